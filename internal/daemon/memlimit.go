package daemon

import (
	"fmt"
	"math"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
)

// The daemon's soft memory limit (--memory-limit).
//
// Without a limit the Go runtime lets the heap grow to twice what was live
// at the last collection (GOGC=100) and hands freed pages back to the OS
// only slowly, so the process's resident size follows its peaks: a
// describe of 10,000 instances, or a thousand Provisions at once, leaves
// the heap sized for them long after. A soft limit makes the collector run
// earlier and return memory sooner as the heap nears it. It is soft: the
// runtime exceeds it rather than fail an allocation, and caps the CPU the
// collector may take (about half) rather than thrash, so a limit below
// what the daemon really needs costs CPU, never a crash.

// DefaultMemoryLimit is the limit set when neither --memory-limit nor
// GOMEMLIMIT says otherwise. Measured with `make bench` (README, "Scale and
// reliability"): a plugin holding 10,000 instances peaks at about 23 MB of
// live heap, so 40 MiB leaves it room without collecting all the time (a
// lower limit, 32 MiB, cut the resident size a further 7 MB but made the
// 10,000-instance describe about half again as slow). Raise it, or turn it
// off, for a plugin that holds many more instances: above the limit the
// collector may take up to half the CPU.
const DefaultMemoryLimit = 40 << 20

// EnvMemoryLimit is the Go runtime's own setting; when it is set and
// --memory-limit is not, the runtime's reading of it stands.
const EnvMemoryLimit = "GOMEMLIMIT"

// memoryLimitOff turns the limit off.
const memoryLimitOff = "off"

func addMemoryFlags(f *pflag.FlagSet, o *Options) {
	f.StringVar(&o.MemoryLimit, "memory-limit", "",
		fmt.Sprintf("soft limit of the Go runtime's memory, as GOMEMLIMIT: bytes with an optional B, KiB, MiB or GiB suffix, or %q (default %dMiB, or $%s when set)",
			memoryLimitOff, DefaultMemoryLimit>>20, EnvMemoryLimit))
}

// memoryLimit is the limit to set: ok is false when the runtime's own
// setting (GOMEMLIMIT) must stand.
func (o *Options) memoryLimit() (limit int64, ok bool, err error) {
	if o.MemoryLimit == "" {
		if _, set := o.LookupEnv(EnvMemoryLimit); set {
			return 0, false, nil
		}
		return DefaultMemoryLimit, true, nil
	}
	n, err := ParseMemoryLimit(o.MemoryLimit)
	if err != nil {
		return 0, false, fmt.Errorf("--memory-limit: %w", err)
	}
	return n, true, nil
}

// ParseMemoryLimit reads a limit in GOMEMLIMIT's syntax (a non-negative
// integer of bytes with an optional B, KiB, MiB, GiB or TiB suffix), or
// "off" for none (math.MaxInt64, the runtime's own "no limit"). A limit
// under 1 MiB is refused: it would only make the collector run all the
// time.
func ParseMemoryLimit(s string) (int64, error) {
	if s == memoryLimitOff {
		return math.MaxInt64, nil
	}
	units := []struct {
		suffix string
		shift  uint
	}{{"TiB", 40}, {"GiB", 30}, {"MiB", 20}, {"KiB", 10}, {"B", 0}}
	num, shift := s, uint(0)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			num, shift = strings.TrimSuffix(s, u.suffix), u.shift
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || num == "" || num[0] == '+' {
		return 0, fmt.Errorf("%q is not a number of bytes with an optional B, KiB, MiB, GiB or TiB suffix, nor %q", s, memoryLimitOff)
	}
	if n > math.MaxInt64>>shift {
		return 0, fmt.Errorf("%q is too large", s)
	}
	n <<= shift
	if n < 1<<20 {
		return 0, fmt.Errorf("%q is under 1MiB", s)
	}
	return n, nil
}

// applyMemoryLimit sets the runtime's soft memory limit as the options
// say and returns a function restoring the previous one (run is also
// called by tests, in one process).
func applyMemoryLimit(limit int64, ok bool) (restore func()) {
	if !ok {
		return func() {}
	}
	prev := debug.SetMemoryLimit(limit)
	return func() { debug.SetMemoryLimit(prev) }
}

// formatMemoryLimit is the limit for the start-up log line.
func formatMemoryLimit(limit int64) string {
	if limit == math.MaxInt64 {
		return memoryLimitOff
	}
	if limit%(1<<20) == 0 {
		return strconv.FormatInt(limit>>20, 10) + "MiB"
	}
	return strconv.FormatInt(limit, 10) + "B"
}
