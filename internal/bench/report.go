package bench

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"time"
)

// Pages is the number of DescribeInstances pages (100 instances each, the
// ECS maximum PageSize) a scan of n instances needs; an empty scan still
// costs one call.
func Pages(n int) int {
	if n <= 100 {
		return 1
	}
	return (n + 99) / 100
}

// Floor is the time a describe of n instances cannot go below: the ECS
// round trips it cannot avoid. Each call returns at most one page of 100;
// with partitions > 1 concurrent partitions (each scanning its own share of
// the pages) the floor is ceil(pages/partitions) round trips. partitions < 1
// counts as 1 (sequential).
func Floor(n int, rtt time.Duration, partitions int) time.Duration {
	partitions = max(partitions, 1)
	p := Pages(n)
	return time.Duration((p+partitions-1)/partitions) * rtt
}

// FloorLegend says in words which floor the tables use.
func FloorLegend(partitions int) string {
	if partitions <= 1 {
		return "floor = the ECS round trips a describe cannot avoid: one page of 100 instances per DescribeInstances call, " +
			"called one after another: ceil(N/100) × the measured raw ECS round trip (p50). Ratio = measured / floor."
	}
	return fmt.Sprintf("floor = the ECS round trips a describe cannot avoid: one page of 100 instances per DescribeInstances call, "+
		"with %d concurrent partitions: ceil(ceil(N/100)/%d) × the measured raw ECS round trip (p50); the sequential floor "+
		"ceil(N/100) × RTT is printed beside it. Ratio = measured / floor.", partitions, partitions)
}

// Ratio is measured/floor (0 when the floor is 0).
func Ratio(measured, floor time.Duration) float64 {
	if floor <= 0 {
		return 0
	}
	return float64(measured) / float64(floor)
}

// Project extrapolates the time for want items at the pace of done items
// in took (0 when nothing was done).
func Project(took time.Duration, done, want int) time.Duration {
	if done <= 0 {
		return 0
	}
	return time.Duration(float64(took) * float64(want) / float64(done))
}

// Verdict is one target's judgement.
type Verdict struct {
	Target   string  // what is aimed at, in words
	Measured string  // the figure, formatted
	Met      bool    // within the limit
	Over     float64 // how far over the limit, as a fraction of it (0 when met)
	Skipped  string  // non-empty: not measured in this run, and why
}

// Judge compares value with an upper limit (value <= limit is met). A limit
// of 0 or less cannot be met by a positive value; Over is then reported as
// +Inf.
func Judge(target string, value, limit float64, measured string) Verdict {
	v := Verdict{Target: target, Measured: measured, Met: value <= limit}
	if !v.Met {
		if limit > 0 {
			v.Over = (value - limit) / limit
		} else {
			v.Over = math.Inf(1)
		}
	}
	return v
}

// Skip records a target this run did not measure.
func Skip(target, why string) Verdict { return Verdict{Target: target, Skipped: why} }

// String is the summary line: "met" or "not met (by X%)".
func (v Verdict) String() string {
	switch {
	case v.Skipped != "":
		return fmt.Sprintf("- %s: not measured (%s)", v.Target, v.Skipped)
	case v.Met:
		return fmt.Sprintf("- %s: %s: met", v.Target, v.Measured)
	case math.IsInf(v.Over, 1):
		return fmt.Sprintf("- %s: %s: not met", v.Target, v.Measured)
	}
	return fmt.Sprintf("- %s: %s: not met (by %.0f%%)", v.Target, v.Measured, 100*v.Over)
}

// Table is a markdown table.
type Table struct {
	Header []string
	Right  []bool // right-align column i
	Rows   [][]string
}

// Write prints t as markdown; a row shorter than the header is padded with
// "-".
func (t Table) Write(w io.Writer) {
	fmt.Fprintln(w, "| "+strings.Join(t.Header, " | ")+" |")
	sep := make([]string, len(t.Header))
	for i := range sep {
		sep[i] = "---"
		if i < len(t.Right) && t.Right[i] {
			sep[i] = "---:"
		}
	}
	fmt.Fprintln(w, "|"+strings.Join(sep, "|")+"|")
	for _, r := range t.Rows {
		cells := make([]string, len(t.Header))
		for i := range cells {
			cells[i] = "-"
			if i < len(r) && r[i] != "" {
				cells[i] = r[i]
			}
		}
		fmt.Fprintln(w, "| "+strings.Join(cells, " | ")+" |")
	}
}

// ms formats a duration for a table cell.
func ms(d time.Duration) string {
	switch {
	case d >= 10*time.Second:
		return fmt.Sprintf("%.1f s", d.Seconds())
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	case d >= 100*time.Millisecond:
		return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}

// withFloor formats "measured (floor F, R×)".
func withFloor(measured, floor time.Duration) string {
	if measured <= 0 {
		return "-"
	}
	return fmt.Sprintf("%s (floor %s, %.1f×)", ms(measured), ms(floor), Ratio(measured, floor))
}

// mb formats KiB as MB.
func mb(kib int) string {
	if kib <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f MB", float64(kib)/1024)
}

// byAction formats call counts as "RunInstances 1000, DescribeInstances 120",
// largest first, then by name.
func byAction(calls map[string]int) string {
	type kv struct {
		k string
		v int
	}
	var s []kv
	for k, v := range calls {
		if v > 0 {
			s = append(s, kv{k, v})
		}
	}
	if len(s) == 0 {
		return "none"
	}
	sort.Slice(s, func(i, j int) bool {
		if s[i].v != s[j].v {
			return s[i].v > s[j].v
		}
		return s[i].k < s[j].k
	})
	parts := make([]string, len(s))
	for i, e := range s {
		parts[i] = fmt.Sprintf("%s %d", e.k, e.v)
	}
	return strings.Join(parts, ", ")
}

// provisionActions create instances; destroyActions remove them. Neither
// counts as an "other" call in the Provision-cost target.
var (
	provisionActions = map[string]bool{"RunInstances": true}
	destroyActions   = map[string]bool{"DeleteInstance": true, "DeleteInstances": true}
)

// Split counts RunInstances, destroy calls and all other calls in a
// by-action delta.
func Split(calls map[string]int) (run, destroy, other int) {
	for k, v := range calls {
		switch {
		case provisionActions[k]:
			run += v
		case destroyActions[k]:
			destroy += v
		default:
			other += v
		}
	}
	return run, destroy, other
}

// Delta is after-before per action (actions absent before count from 0).
func Delta(before, after map[string]int) map[string]int {
	d := map[string]int{}
	for k, v := range after {
		if x := v - before[k]; x != 0 {
			d[k] = x
		}
	}
	return d
}
