package bench

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestPagesAndFloor(t *testing.T) {
	rtt := 5 * time.Millisecond
	for _, c := range []struct {
		n, partitions int
		pages         int
		floor         time.Duration
	}{
		{0, 1, 1, rtt},       // an empty scan still asks once
		{1, 1, 1, rtt},       //
		{100, 1, 1, rtt},     // exactly one page
		{101, 1, 2, 2 * rtt}, // one more instance, one more page
		{10000, 1, 100, 500 * time.Millisecond},
		{10000, 4, 100, 125 * time.Millisecond}, // 100 pages over 4 partitions: 25 rounds
		{10000, 3, 100, 170 * time.Millisecond}, // ceil(100/3) = 34 rounds
		{10000, 0, 100, 500 * time.Millisecond}, // 0 partitions counts as sequential
		{250, 8, 3, rtt},                        // more partitions than pages: one round
	} {
		if got := Pages(c.n); got != c.pages {
			t.Errorf("Pages(%d) = %d, want %d", c.n, got, c.pages)
		}
		if got := Floor(c.n, rtt, c.partitions); got != c.floor {
			t.Errorf("Floor(%d, %v, %d) = %v, want %v", c.n, rtt, c.partitions, got, c.floor)
		}
	}
	if r := Ratio(750*time.Millisecond, 500*time.Millisecond); r != 1.5 {
		t.Errorf("Ratio = %v, want 1.5", r)
	}
	if r := Ratio(time.Second, 0); r != 0 {
		t.Errorf("Ratio with no floor = %v, want 0", r)
	}
	if !strings.Contains(FloorLegend(1), "ceil(N/100) ×") || strings.Contains(FloorLegend(1), "partitions") {
		t.Errorf("sequential legend: %q", FloorLegend(1))
	}
	if !strings.Contains(FloorLegend(4), "4 concurrent partitions") {
		t.Errorf("partitioned legend: %q", FloorLegend(4))
	}
}

func TestJudge(t *testing.T) {
	for _, c := range []struct {
		value, limit float64
		want         string
	}{
		{1.4, 1.5, "- d: x: met"},
		{1.5, 1.5, "- d: x: met"}, // the limit itself is within it
		{3, 1.5, "- d: x: not met (by 100%)"},
		{55, 40, "- d: x: not met (by 38%)"},
		{1, 0, "- d: x: not met"}, // no allowance at all: no percentage
		{0, 0, "- d: x: met"},
	} {
		if got := Judge("d", c.value, c.limit, "x").String(); got != c.want {
			t.Errorf("Judge(%v, %v) = %q, want %q", c.value, c.limit, got, c.want)
		}
	}
	if got := Skip("d", "why").String(); got != "- d: not measured (why)" {
		t.Errorf("Skip = %q", got)
	}
	if got := Project(30*time.Second, 250, 1000); got != 2*time.Minute {
		t.Errorf("Project = %v, want 2m", got)
	}
	if got := Project(time.Second, 0, 10); got != 0 {
		t.Errorf("Project with nothing done = %v, want 0", got)
	}
}

func TestCallAccounting(t *testing.T) {
	before := map[string]int{"RunInstances": 10, "DescribeInstances": 5, "DescribeDisks": 1}
	after := map[string]int{"RunInstances": 30, "DescribeInstances": 9, "DescribeDisks": 1, "DeleteInstance": 3, "TagResources": 2}
	d := Delta(before, after)
	if len(d) != 4 || d["RunInstances"] != 20 || d["DescribeInstances"] != 4 || d["DeleteInstance"] != 3 || d["TagResources"] != 2 {
		t.Fatalf("Delta = %v", d)
	}
	run, destroy, other := Split(d)
	if run != 20 || destroy != 3 || other != 6 {
		t.Errorf("Split = %d, %d, %d; want 20, 3, 6", run, destroy, other)
	}
	if got := byAction(d); got != "RunInstances 20, DescribeInstances 4, DeleteInstance 3, TagResources 2" {
		t.Errorf("byAction = %q", got)
	}
	if got := byAction(nil); got != "none" {
		t.Errorf("byAction(nil) = %q", got)
	}
	// A poll's budget is two scans of the group; a batch counts as one poll.
	if b := otherBudget(Phase{N: 1000, Polls: 0}); b != 20 {
		t.Errorf("batch budget = %v, want 20", b)
	}
	if b := otherBudget(Phase{N: 1000, Polls: 10}); b != 200 {
		t.Errorf("10-poll budget = %v, want 200", b)
	}
}

func TestTableAndFormats(t *testing.T) {
	var b bytes.Buffer
	Table{Header: []string{"N", "describe", "note"}, Right: []bool{true, true},
		Rows: [][]string{{"10", withFloor(7*time.Millisecond, 5*time.Millisecond), "x"}, {"100"}}}.Write(&b)
	want := "| N | describe | note |\n" +
		"|---:|---:|---|\n" +
		"| 10 | 7.0 ms (floor 5.0 ms, 1.4×) | x |\n" +
		"| 100 | - | - |\n"
	if b.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), want)
	}
	for d, want := range map[time.Duration]string{
		1500 * time.Microsecond: "1.5 ms", 250 * time.Millisecond: "250 ms",
		2500 * time.Millisecond: "2.50 s", 95 * time.Second: "95.0 s",
	} {
		if got := ms(d); got != want {
			t.Errorf("ms(%v) = %q, want %q", d, got, want)
		}
	}
	if got := mb(40 * 1024); got != "40.0 MB" {
		t.Errorf("mb = %q", got)
	}
	if got := mb(0); got != "-" {
		t.Errorf("mb(0) = %q", got)
	}
	if got := withFloor(0, time.Millisecond); got != "-" {
		t.Errorf("withFloor(0) = %q", got)
	}
}

// Summary judges each #14 target from the rows and phases, and says which
// were not measured.
func TestSummary(t *testing.T) {
	o := Options{Latency: 5 * time.Millisecond, SlowLatency: 50 * time.Millisecond, FloorPartitions: 1}
	rows := []Row{
		{N: 1000, RSSBurstKiB: 70 * 1024},
		{N: 10000, RoundTripP50: 5 * time.Millisecond, DescribeP50: 700 * time.Millisecond, CachedP50: 30 * time.Millisecond,
			RSSSteadyKiB: 50 * 1024, SlowP50: 2 * time.Second, SlowRTT: 50 * time.Millisecond},
	}
	sc := &ScaleResult{Phases: []Phase{
		{Name: "20 Provisions one at a time", N: 1000, Done: 20, Want: 20, Calls: map[string]int{"RunInstances": 20, "DescribeInstances": 220}},
		{Name: "rolling update of 1000", N: 1000, Done: 250, Want: 1000, Took: 30 * time.Second, Polls: 150,
			Calls: map[string]int{"RunInstances": 250, "DeleteInstance": 250, "DescribeInstances": 2000}},
	}}
	var b strings.Builder
	for _, v := range Summary(o, rows, sc) {
		b.WriteString(v.String() + "\n")
	}
	got := b.String()
	for _, want := range []string{
		"describe at N=10000, 5ms/call, within 1.5× floor: 700 ms = 1.4× floor 500 ms: met",
		"describe at N=10000, 50ms/call, at most ~1 s: 2.00 s (floor 5.00 s): not met (by 100%)",
		"cached describe at N=10000 under 60 ms: 30.0 ms: met",
		"steady under 40 MB: 50.0 MB: not met (by 25%)",
		"0→1000 burst under 60 MB: 70.0 MB: not met (by 17%)",
		"20 Provisions one at a time (group of 1000, 3 zones): other ECS calls at most 2×ceil(N/100) per poll: 220 other calls for 20 created/replaced (11.0 each), 20 RunInstances (0 throttled), budget 20: not met (by 1000%)",
		"rolling update of 1000 (group of 1000, 3 zones): other ECS calls at most 2×ceil(N/100) per poll: 2000 other calls for 250 created/replaced (8.0 each), 250 RunInstances (0 throttled), budget 3000: met",
		"rolling update of 1000 to the end: not measured (cut short by --rolling-cap after 250 of 1000 in 30.0 s; at that pace all 1000 take about 120.0 s)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("summary lacks %q:\n%s", want, got)
		}
	}
	if got := Summary(o, nil, nil); len(got) != 3 || got[0].Skipped == "" || got[2].Skipped == "" {
		t.Errorf("empty run summary = %v", got)
	}
}
