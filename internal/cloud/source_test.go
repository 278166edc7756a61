package cloud

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/denverdino/aliyungo/common"
	"github.com/denverdino/aliyungo/ecs"
)

func TestRefreshTime(t *testing.T) {
	got := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct{ life, want time.Duration }{
		{time.Hour, 48 * time.Minute},              // 80% comes first
		{15 * time.Minute, 10 * time.Minute},       // 5 minutes before expiry comes first
		{6 * time.Hour, 288 * time.Minute},         // 80%
		{4 * time.Minute, 2 * time.Minute},         // short-lived: half way
		{20 * time.Minute, 15 * time.Minute},       // 16m (80%) vs 15m (margin)
		{25 * time.Minute, 20 * time.Minute},       // equal
		{-time.Minute, -30 * time.Second},          // already expired: due at once
		{0, 0},                                     // zero lifetime: due at once
		{2 * time.Hour, 96 * time.Minute},          // 80%
		{10 * time.Minute, 5 * time.Minute},        // margin
		{5*time.Minute + time.Second, time.Second}, // margin, just over the short-lived threshold
	} {
		if at := refreshTime(got, got.Add(tc.life)); at.Sub(got) != tc.want {
			t.Errorf("lifetime %v: refresh after %v, want %v", tc.life, at.Sub(got), tc.want)
		}
	}
	if !refreshTime(got, time.Time{}).IsZero() {
		t.Error("permanent credentials get a refresh time")
	}
}

func describeOK(t *testing.T, c *ecs.Client, when string) {
	t.Helper()
	if _, err := c.DescribeRegions(); err != nil {
		t.Fatalf("%s: %v", when, err)
	}
}

// The instance RAM role (1 h credentials from the metadata fake) is used
// for 4 emulated hours, one call a minute: no call may fail, the
// credentials must be replaced before they expire, and the replaced ones
// must really have expired at the emulator by then.
func TestClientSourceRotatesRAMRoleWithoutFailedCalls(t *testing.T) {
	f := newFixture(t, true)
	cfg, err := f.resolve(Flags{Region: "cn-hangzhou"})
	noErr(t, err)
	if !cfg.Temporary() {
		t.Fatal("RAM role credentials not temporary")
	}
	equal(t, RefreshECSRAMRole, cfg.RefreshKind())
	var refreshes refreshLog
	src, err := NewClientSource(cfg, f.clock.Now, nil, refreshes.option())
	noErr(t, err)
	equal(t, 48*time.Minute, src.RefreshAt().Sub(f.clock.Now()))

	first, err := src.Client()
	noErr(t, err)
	var prev *ecs.Client = first
	keys := map[string]bool{cfg.AccessKeyID: true}
	for minute := 1; minute <= 240; minute++ {
		f.clock.Add(time.Minute)
		c, err := src.Client()
		if err != nil {
			t.Fatalf("minute %d: %v", minute, err)
		}
		describeOK(t, c, "minute "+itoa(minute))
		if c != prev {
			if minute < 48 {
				t.Fatalf("replaced after %d minutes, before 80%% of the lifetime", minute)
			}
			// The client it replaced still works now (refreshed early).
			describeOK(t, prev, "old client right after refresh")
			prev = c
		}
		if minute == 61 {
			// The first credentials have expired at the emulator by now.
			_, err := first.DescribeRegions()
			var ce *common.Error
			if !errors.As(err, &ce) || ce.Code != "InvalidSecurityToken.Expired" {
				t.Fatalf("first credentials after 61 min: %v", err)
			}
		}
		keys[src.Config().AccessKeyID] = true
		if exp := src.Config().Expiration; !f.clock.Now().Before(exp) {
			t.Fatalf("minute %d: using credentials that expired at %v", minute, exp)
		}
	}
	if n := src.Refreshes(); n < 4 || n > 6 {
		t.Errorf("%d refreshes in 4 h of 1 h credentials", n)
	}
	if len(keys) != src.Refreshes()+1 {
		t.Errorf("%d distinct keys for %d refreshes", len(keys), src.Refreshes())
	}
	if got := f.md.CredentialFetches(); got != src.Refreshes()+1 {
		t.Errorf("metadata fetched %d times for %d refreshes", got, src.Refreshes())
	}
	equal(t, map[string]int{"ecs_ram_role ok": src.Refreshes()}, refreshes.counts(), "observed refreshes")
}

func TestClientSourceRefreshesRamRoleArnProfile(t *testing.T) {
	f := newFixture(t, false)
	writeFile(t, f.home+"/.aliyun/config.json", cliConfigJSON)
	cfg, err := f.resolve(Flags{Profile: "role"})
	noErr(t, err)
	equal(t, RefreshAssumeRole, cfg.RefreshKind())
	var refreshes refreshLog
	src, err := NewClientSource(cfg, f.clock.Now, nil, refreshes.option())
	noErr(t, err)
	c1, _ := src.Client()
	f.clock.Add(11 * time.Minute) // 900 s credentials: refreshed 5 min before expiry
	c2, err := src.Client()
	noErr(t, err)
	if c2 == c1 || src.Refreshes() != 1 {
		t.Fatalf("no AssumeRole refresh (refreshes %d)", src.Refreshes())
	}
	equal(t, map[string]int{"assume_role ok": 1}, refreshes.counts(), "observed refreshes")
	describeOK(t, c2, "after AssumeRole refresh")
	f.clock.Add(5 * time.Minute)
	if _, err := c1.DescribeRegions(); err == nil {
		t.Error("first AssumeRole credentials still accepted after expiry")
	}
	describeOK(t, c2, "second credentials")
}

// A synthetic temporary Config whose refresh is scripted.
func scripted(t *testing.T, f *fixture, refresh func() (Credentials, error)) Config {
	t.Helper()
	id, c := f.emu.IssueSTSCredential(time.Hour)
	return Config{AccessKeyID: id, AccessKeySecret: c.AccessKeySecret, SecurityToken: c.SecurityToken, Region: "cn-hangzhou",
		Endpoint: f.emu.URL(), Source: "scripted", Expiration: c.Expiration, refresh: refresh}
}

func TestClientSourceRefreshFailures(t *testing.T) {
	f := newFixture(t, false)
	calls := 0
	fail := true
	var cfg Config
	refresh := func() (Credentials, error) {
		calls++
		if fail {
			return Credentials{}, errors.New("metadata service answered 500")
		}
		id, c := f.emu.IssueSTSCredential(time.Hour)
		return Credentials{AccessKeyID: id, AccessKeySecret: c.AccessKeySecret, SecurityToken: c.SecurityToken, Expiration: c.Expiration,
			refresh: cfg.refresh}, nil
	}
	cfg = scripted(t, f, refresh)
	var refreshes refreshLog
	src, err := NewClientSource(cfg, f.clock.Now, nil, refreshes.option())
	noErr(t, err)
	c1, _ := src.Client()

	f.clock.Add(47 * time.Minute)
	src.Client()
	equal(t, 0, calls, "refresh before 80% of the lifetime")

	f.clock.Add(2 * time.Minute) // due, but the source fails: keep the valid client
	c, err := src.Client()
	noErr(t, err)
	if c != c1 || calls != 1 {
		t.Fatalf("failed refresh: same client %v, calls %d", c == c1, calls)
	}
	f.clock.Add(RefreshRetry - time.Second)
	src.Client()
	equal(t, 1, calls, "retried before RefreshRetry")
	f.clock.Add(time.Second)
	src.Client()
	equal(t, 2, calls, "not retried after RefreshRetry")

	f.clock.Add(11 * time.Minute) // now expired, the source still fails
	_, err = src.Client()
	if err == nil || !strings.Contains(err.Error(), "expired") || !strings.Contains(err.Error(), "scripted") {
		t.Fatalf("expired and not refreshable: %v", err)
	}
	fail = false
	c, err = src.Client()
	noErr(t, err)
	describeOK(t, c, "after recovery")
	// Every attempt is observed, failed ones as errors; the scripted
	// source is of no known kind.
	equal(t, map[string]int{"other error": 3, "other ok": 1}, refreshes.counts(), "observed refreshes")
}

func TestClientSourceRejectsNonRenewingRefresh(t *testing.T) {
	f := newFixture(t, false)
	var cfg Config
	calls := 0
	cfg = scripted(t, f, func() (Credentials, error) {
		calls++
		// The same set again (a metadata service that has not rotated yet).
		return Credentials{AccessKeyID: cfg.AccessKeyID, AccessKeySecret: cfg.AccessKeySecret, SecurityToken: cfg.SecurityToken,
			Expiration: cfg.Expiration, refresh: cfg.refresh}, nil
	})
	src, err := NewClientSource(cfg, f.clock.Now, nil)
	noErr(t, err)
	c1, _ := src.Client()
	f.clock.Add(50 * time.Minute)
	c, err := src.Client()
	noErr(t, err)
	if c != c1 || src.Refreshes() != 0 || calls != 1 {
		t.Fatalf("non-renewing refresh accepted: refreshes %d calls %d", src.Refreshes(), calls)
	}
	f.clock.Add(10 * time.Second)
	src.Client()
	equal(t, 1, calls, "hammered the source")
}

func TestClientSourceStaticNeverRefreshes(t *testing.T) {
	f := newFixture(t, false)
	cfg, err := f.resolve(Flags{AccessKeyID: "AKIDflags0001", AccessKeySecret: "flag-secret", Region: "cn-hangzhou"})
	noErr(t, err)
	equal(t, "", cfg.RefreshKind())
	var refreshes refreshLog
	src, err := NewClientSource(cfg, f.clock.Now, nil, refreshes.option())
	noErr(t, err)
	c1, _ := src.Client()
	f.clock.Add(1000 * time.Hour)
	c2, err := src.Client()
	noErr(t, err)
	if c1 != c2 || cfg.Temporary() || !src.RefreshAt().IsZero() {
		t.Error("static credentials treated as temporary")
	}
	describeOK(t, c2, "static")
	equal(t, map[string]int{}, refreshes.counts(), "observed refreshes")
}

// refreshLog records what WithRefreshObserver is told.
type refreshLog struct {
	mu  sync.Mutex
	got map[string]int // "kind ok" or "kind error" -> count
}

func (r *refreshLog) option() ClientOption {
	return WithRefreshObserver(func(source string, err error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.got == nil {
			r.got = map[string]int{}
		}
		outcome := "ok"
		if err != nil {
			outcome = "error"
		}
		r.got[source+" "+outcome]++
	})
}

func (r *refreshLog) counts() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for k, v := range r.got {
		out[k] = v
	}
	return out
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for n >= 10 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	i--
	b[i] = byte('0' + n)
	return string(b[i:])
}
