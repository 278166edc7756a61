package emulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"infrakit.aliyun/emulator/internal/state"
)

// The attacks and accidents of issue 15 against the emulator: a crash right
// after an answer or between two writes of the state file, credentials lost
// in a restart, non-finite numbers, out-of-range or duplicate indexes, bad
// control API input and oversized bodies. (A replayed SignatureNonce is
// TestNonceReuse in errors_test.go.)

// crashCopy is what a kill -9 at this instant leaves: the state file as it
// is on disk now, copied aside so the running server (which saves again at
// Close) cannot touch it. Restarting on the copy is restarting after the
// crash.
func crashCopy(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("state file after the answers: %v", err)
	}
	dst := filepath.Join(t.TempDir(), "after-crash.json")
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return dst
}

func liveIDs(srv *Server) map[string]bool {
	out := map[string]bool{}
	for _, v := range srv.Instances() {
		if !v.Released {
			out[v.InstanceId] = true
		}
	}
	return out
}

// TestAnsweredChangesSurviveCrash: every answered RunInstances (and the
// answered stop and delete after them) is in the state file the moment the
// answer arrives. Saves used to be debounced 200 ms, so a kill -9 right
// after the answers lost them.
func TestAnsweredChangesSurviveCrash(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	srv, fc := newTestServer(t, Options{StateFile: path, BootTime: -1, StopTime: -1})
	var ids []string
	for i := 0; i < 5; i++ {
		ids = append(ids, runIDs(t, api(t, srv, fc, runParams(map[string]string{"Tag.1.Key": "n", "Tag.1.Value": fmt.Sprint(i)})))...)
	}
	mustOK(t, api(t, srv, fc, map[string]string{"Action": "StopInstance", "InstanceId": ids[0]}))
	mustOK(t, api(t, srv, fc, map[string]string{"Action": "DeleteInstance", "InstanceId": ids[1], "Force": "true"}))
	after := crashCopy(t, path)

	srv2, _ := newTestServer(t, Options{StateFile: after, BootTime: -1, StopTime: -1})
	live := liveIDs(srv2)
	for _, id := range ids[2:] {
		if !live[id] {
			t.Errorf("answered RunInstances %s lost in the crash", id)
		}
	}
	if live[ids[1]] {
		t.Errorf("answered DeleteInstance %s undone by the crash", ids[1])
	}
	if got := status(t, srv2, ids[0]); got != StatusStopped {
		t.Errorf("answered StopInstance %s: status %s after the crash", ids[0], got)
	}
}

// TestConcurrentRunInstancesSurviveCrash: 500 concurrent RunInstances with
// a state file all succeed, all are on disk when the last answer arrives,
// and group commit keeps the number of file writes well below one per call.
func TestConcurrentRunInstancesSurviveCrash(t *testing.T) {
	const n = 500
	path := filepath.Join(t.TempDir(), "state.json")
	srv, fc := newTestServer(t, Options{StateFile: path, BootTime: -1})
	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var ids []string
	errs := make(chan string, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := raw{params: runParams(nil), baseURL: srv.URL()}.do(t, fc.Now())
			if r.Status != http.StatusOK {
				errs <- r.Text
				return
			}
			id := r.Body["InstanceIdSets"].(map[string]any)["InstanceIdSet"].([]any)[0].(string)
			mu.Lock()
			ids = append(ids, id)
			mu.Unlock()
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatalf("RunInstances failed: %s", e)
	}
	elapsed := time.Since(start)
	after := crashCopy(t, path)
	saves := srv.persist.Saves()
	t.Logf("%d concurrent RunInstances with a state file: %v, %d saves", n, elapsed.Round(time.Millisecond), saves)

	srv2, _ := newTestServer(t, Options{StateFile: after})
	live := liveIDs(srv2)
	for _, id := range ids {
		if !live[id] {
			t.Fatalf("answered RunInstances %s lost in the crash", id)
		}
	}
	if len(live) != n {
		t.Fatalf("%d instances after the crash, want %d", len(live), n)
	}
}

// TestGroupCommit: changes made while a save runs share the next save.
// The first save is held inside its write; 20 more commits queue behind it
// and must all be covered by one more save, not 20.
func TestGroupCommit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	srv, _ := newTestServer(t, Options{StateFile: path})
	p := srv.persist
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	p.Fail = func(step string) error {
		if step == "write" {
			once.Do(func() { close(entered); <-release })
		}
		return nil
	}
	const waiters = 20
	var wg sync.WaitGroup
	errs := make(chan error, waiters+1)
	wg.Add(1)
	go func() { defer wg.Done(); errs <- p.Commit() }()
	<-entered
	for i := 0; i < waiters; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); errs <- p.Commit() }()
	}
	for { // every waiter has counted its change and waits
		if p.Counted() == waiters+1 {
			break
		}
		runtime.Gosched()
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := p.Saves(); n != 2 {
		t.Fatalf("%d saves for 1 + %d queued commits, want 2", n, waiters)
	}
}

// TestCrashBetweenWrites: a save that dies between two writes (after the
// temp file, before the rename) leaves the last complete state file; the
// change it carried is answered InternalError (never OK), stays in memory
// and is saved by the next change; a ClientToken retry gets the same
// instance. A temp file left by a crash mid-write is removed at the next
// start, and a damaged state file stops the start instead of silently
// starting empty.
func TestCrashBetweenWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	srv, fc := newTestServer(t, Options{StateFile: path})
	first := runIDs(t, api(t, srv, fc, runParams(nil)))[0]

	crash := errors.New("crash between two writes")
	srv.persist.Fail = func(step string) error {
		if step == "rename" {
			return crash
		}
		return nil
	}
	r := api(t, srv, fc, runParams(map[string]string{"ClientToken": "tok-2"}))
	if r.Status != http.StatusInternalServerError || r.Code() != "InternalError" {
		t.Fatalf("RunInstances whose save failed: %d %s, want 500 InternalError", r.Status, r.Text)
	}
	onDisk := crashCopy(t, path)
	srv2, _ := newTestServer(t, Options{StateFile: onDisk})
	if live := liveIDs(srv2); len(live) != 1 || !live[first] {
		t.Fatalf("after a crash between two writes: %v, want only %s", live, first)
	}
	if m, _ := filepath.Glob(path + state.TmpInfix + "*"); len(m) != 0 {
		t.Fatalf("temp files left behind by the failed save: %v", m)
	}

	srv.persist.Fail = nil
	second := runIDs(t, api(t, srv, fc, runParams(map[string]string{"ClientToken": "tok-2"})))[0]
	third := runIDs(t, api(t, srv, fc, runParams(nil)))[0]
	srv3, _ := newTestServer(t, Options{StateFile: crashCopy(t, path)})
	if live := liveIDs(srv3); len(live) != 3 || !live[first] || !live[second] || !live[third] {
		t.Fatalf("after the next save: %v, want %s %s %s", live, first, second, third)
	}

	// A process killed in the middle of writing its temp file.
	dir := t.TempDir()
	p4 := filepath.Join(dir, "state.json")
	b, _ := os.ReadFile(path)
	os.WriteFile(p4, b, 0o600)
	torn := p4 + state.TmpInfix + "12345"
	os.WriteFile(torn, b[:len(b)/2], 0o600)
	srv4, _ := newTestServer(t, Options{StateFile: p4})
	if live := liveIDs(srv4); len(live) != 3 {
		t.Fatalf("with a torn temp file beside it: %d instances, want 3", len(live))
	}
	if _, err := os.Stat(torn); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("torn temp file not removed: %v", err)
	}

	// A damaged state file (truncated by something else) is an error.
	p5 := filepath.Join(dir, "damaged.json")
	os.WriteFile(p5, b[:len(b)/2], 0o600)
	if s, err := New(Options{StateFile: p5}); err == nil || !strings.Contains(err.Error(), p5) {
		if s != nil {
			s.Close()
		}
		t.Fatalf("damaged state file: err = %v, want an error naming %s", err, p5)
	}
}

// TestIssuedSTSKeysSurviveRestart: credentials AssumeRole issued keep
// working after the emulator restarts on its state file (even after a
// kill -9 right after the AssumeRole answer).
func TestIssuedSTSKeysSurviveRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	srv, fc := newTestServer(t, Options{StateFile: path})
	r := mustOK(t, assumeRole(t, srv, fc, nil))
	creds := r.Body["Credentials"].(map[string]any)
	id, secret, token := creds["AccessKeyId"].(string), creds["AccessKeySecret"].(string), creds["SecurityToken"].(string)
	after := crashCopy(t, path)
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm()&0o077 != 0 {
		t.Fatalf("state file holding STS secrets: mode %v, %v; want no access for group or others", fi.Mode(), err)
	}

	srv2, fc2 := newTestServer(t, Options{StateFile: after})
	call := func(tok string) rawResp {
		return raw{params: map[string]string{"Action": "DescribeRegions", "AccessKeyId": id, "SecurityToken": tok},
			secret: secret, baseURL: srv2.URL()}.do(t, fc2.Now())
	}
	mustOK(t, call(token))
	if got := call("forged").Code(); got != "InvalidSecurityToken.MismatchWithAccessKey" {
		t.Errorf("restored key with a forged token: %q", got)
	}
}

// TestNonFiniteNumbersRefused: NaN and infinities are refused naming the
// parameter and create nothing; before, NaN was stored and every describe
// page holding the instance answered 500, the control API answered an
// empty body and every save failed.
func TestNonFiniteNumbersRefused(t *testing.T) {
	srv, fc := newTestServer(t, Options{StateFile: filepath.Join(t.TempDir(), "state.json")})
	for _, v := range []string{"NaN", "nan", "Inf", "+Inf", "-Inf", "infinity", "1e400", "-0.5", "0x1p-2x"} {
		r := api(t, srv, fc, runParams(map[string]string{"SpotStrategy": "SpotWithPriceLimit", "SpotPriceLimit": v}))
		if r.Status != http.StatusBadRequest || r.Code() != "InvalidParameter" || !strings.Contains(r.Text, "SpotPriceLimit") {
			t.Errorf("SpotPriceLimit=%s: %d %s, want 400 InvalidParameter naming SpotPriceLimit", v, r.Status, r.Text)
		}
	}
	if n := len(srv.Instances()); n != 0 {
		t.Fatalf("%d instances created by refused requests", n)
	}
	for _, x := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if s, err := New(Options{TimeScale: x}); err == nil || !strings.Contains(err.Error(), "TimeScale") {
			if s != nil {
				s.Close()
			}
			t.Errorf("TimeScale %v: err = %v, want an error naming TimeScale", x, err)
		}
	}
	mustOK(t, api(t, srv, fc, runParams(map[string]string{"SpotStrategy": "SpotWithPriceLimit", "SpotPriceLimit": "0.5"})))
	mustOK(t, api(t, srv, fc, map[string]string{"Action": "DescribeInstances", "RegionId": DefaultRegion}))
	code, body := controlCall(t, srv, http.MethodGet, "/emulator/instances", "")
	if code != http.StatusOK || !strings.Contains(body, `"SpotPriceLimit": 0.5`) {
		t.Fatalf("control API: %d %q", code, body)
	}
}

// TestIndexesRefused: an N outside what ECS allows (Tag.1..20,
// DataDisk.1..16, ResourceId.1..50, InstanceId.1..100, TagKey.1..20), or
// not a plain number, is refused naming the parameter; it used to be
// ignored, creating an untagged instance or widening a describe filter to
// every instance. A tag key given twice is Duplicate.TagKey.
func TestIndexesRefused(t *testing.T) {
	srv, fc := newTestServer(t, Options{})
	tagged := runIDs(t, api(t, srv, fc, runParams(map[string]string{"Tag.1.Key": "team", "Tag.1.Value": "a"})))[0]
	before := len(srv.Instances())
	for _, tc := range []struct {
		name   string
		params map[string]string
		code   string
		names  string // the message names this parameter
	}{
		{"run Tag.0", runParams(map[string]string{"Tag.0.Key": "team", "Tag.0.Value": "b"}), "InvalidParameter", "Tag.0.Key"},
		{"run Tag.21", runParams(map[string]string{"Tag.21.Key": "team", "Tag.21.Value": "b"}), "InvalidTagCount", "Tag.21.Key"},
		{"run Tag.01", runParams(map[string]string{"Tag.01.Key": "team", "Tag.01.Value": "b"}), "InvalidParameter", "Tag.01.Key"},
		{"run Tag.x", runParams(map[string]string{"Tag.x.Key": "team"}), "InvalidParameter", "Tag.x.Key"},
		{"run duplicate key", runParams(map[string]string{"Tag.1.Key": "team", "Tag.1.Value": "a", "Tag.2.Key": "team", "Tag.2.Value": "b"}), "Duplicate.TagKey", "team"},
		{"run DataDisk.0", runParams(map[string]string{"DataDisk.0.Size": "40"}), "InvalidParameter", "DataDisk.0.Size"},
		{"run DataDisk.17", runParams(map[string]string{"DataDisk.17.Size": "40"}), "InvalidParameter", "DataDisk.17.Size"},
		{"run SecurityGroupIds.0", runParams(map[string]string{"SecurityGroupId": "", "SecurityGroupIds.0": DefaultSecurityGroupID}), "InvalidParameter", "SecurityGroupIds.0"},
		{"describe Tag.0", map[string]string{"Action": "DescribeInstances", "RegionId": DefaultRegion, "Tag.0.Key": "team", "Tag.0.Value": "zzz"}, "InvalidParameter", "Tag.0.Key"},
		{"describe Tag.21", map[string]string{"Action": "DescribeInstances", "RegionId": DefaultRegion, "Tag.21.Key": "team", "Tag.21.Value": "zzz"}, "InvalidTagCount", "Tag.21.Key"},
		{"tag Tag.0", map[string]string{"Action": "TagResources", "RegionId": DefaultRegion, "ResourceType": "instance", "ResourceId.1": tagged, "Tag.0.Key": "x", "Tag.0.Value": "y"}, "InvalidParameter", "Tag.0.Key"},
		{"tag duplicate key", map[string]string{"Action": "TagResources", "RegionId": DefaultRegion, "ResourceType": "instance", "ResourceId.1": tagged, "Tag.1.Key": "x", "Tag.2.Key": "x"}, "Duplicate.TagKey", "x"},
		{"tag ResourceId.51", map[string]string{"Action": "TagResources", "RegionId": DefaultRegion, "ResourceType": "instance", "ResourceId.51": tagged, "Tag.1.Key": "x"}, "InvalidParameter", "ResourceId.51"},
		{"add tags duplicate key", map[string]string{"Action": "AddTags", "RegionId": DefaultRegion, "ResourceType": "instance", "ResourceId": tagged, "Tag.1.Key": "x", "Tag.3.Key": "x"}, "Duplicate.TagKey", "x"},
		{"untag TagKey.21", map[string]string{"Action": "UntagResources", "RegionId": DefaultRegion, "ResourceType": "instance", "ResourceId.1": tagged, "TagKey.21": "team"}, "InvalidParameter", "TagKey.21"},
		{"remove tags Tag.0", map[string]string{"Action": "RemoveTags", "RegionId": DefaultRegion, "ResourceType": "instance", "ResourceId": tagged, "Tag.0.Key": "team"}, "InvalidParameter", "Tag.0.Key"},
		{"delete InstanceId.0", map[string]string{"Action": "DeleteInstances", "RegionId": DefaultRegion, "InstanceId.0": tagged, "Force": "true"}, "InvalidParameter", "InstanceId.0"},
		{"stop InstanceId.101", map[string]string{"Action": "StopInstances", "RegionId": DefaultRegion, "InstanceId.101": tagged}, "InvalidParameter", "InstanceId.101"},
	} {
		r := api(t, srv, fc, tc.params)
		if r.Status != http.StatusBadRequest || r.Code() != tc.code || !strings.Contains(r.Body["Message"].(string), tc.names) {
			t.Errorf("%s: %d %s, want 400 %s naming %s", tc.name, r.Status, r.Text, tc.code, tc.names)
		}
	}
	if n := len(srv.Instances()); n != before {
		t.Fatalf("refused requests created %d instances", n-before)
	}
	v, _ := srv.Instance(tagged)
	if len(v.Tags) != 1 || v.Tags["team"] != "a" || v.Status == StatusReleased || v.Status == StatusStopping {
		t.Fatalf("refused requests changed %s: %+v", tagged, v)
	}

	// Tag lengths are characters: 128 "é" (256 bytes) is a valid key and value.
	e := strings.Repeat("é", 128)
	id := runIDs(t, api(t, srv, fc, runParams(map[string]string{"Tag.1.Key": e, "Tag.1.Value": e})))[0]
	if v, _ := srv.Instance(id); v.Tags[e] != e {
		t.Fatalf("128-character tag: %+v", v.Tags)
	}
	if r := api(t, srv, fc, runParams(map[string]string{"Tag.1.Key": e + "é"})); r.Code() != "InvalidTagKey.Malformed" {
		t.Fatalf("129-character key: %s", r.Text)
	}
}

func controlCall(t *testing.T, srv *Server, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestControlInputsChecked: the control API refuses what cannot mean what
// its author wants, with a 400 whose JSON body names the field, and leaves
// the faults in force unchanged.
func TestControlInputsChecked(t *testing.T) {
	srv, _ := newTestServer(t, Options{})
	srv.SetFaults(Faults{ThrottleRate: 0.25})
	for _, tc := range []struct{ body, field string }{
		{`{"latency_ms":-1}`, "latency_ms"},
		{`{"latency_ms":3600001}`, "latency_ms"},
		{`{"throttle_rate":-0.1}`, "throttle_rate"},
		{`{"error_rate":1.5}`, "error_rate"},
		{`{"drop_response_rate":2}`, "drop_response_rate"},
		{`{"rate_limits":{"RunInstances":-5}}`, "rate_limits.RunInstances"},
		{`{"rate_limits":{"RunInstance":5}}`, "rate_limits"},
		{`{"conflict":{"StopInstance":1.01}}`, "conflict.StopInstance"},
		{`{"conflict":{"Nope":0.5}}`, "conflict"},
		{`{"actions":["Runinstances"]}`, "actions"},
		{`{"max_instances":-3}`, "max_instances"},
		{`{"no_stock":[{"InstanceType":"ecs.nope"}]}`, "no_stock[0].InstanceType"},
		{`{"not_on_sale":[{"ZoneId":"mars-1a"}]}`, "not_on_sale[0].ZoneId"},
		{`{"throttle_rate":NaN}`, "bad faults JSON"},
		{`{"throttle_rate":1e400}`, "bad faults JSON"},
		{`{"throttle_rate":0.1}{"throttle_rate":0.9}`, "one object"},
		{`{"thrott1e_rate":0.1}`, "bad faults JSON"},
	} {
		code, body := controlCall(t, srv, http.MethodPost, "/emulator/faults", tc.body)
		var e struct{ Error string }
		if code != http.StatusBadRequest || json.Unmarshal([]byte(body), &e) != nil || !strings.Contains(e.Error, tc.field) {
			t.Errorf("%s: %d %q, want 400 with an error naming %s", tc.body, code, body, tc.field)
		}
	}
	if f := srv.Faults(); f.ThrottleRate != 0.25 || f.LatencyMS != 0 || len(f.RateLimits) != 0 {
		t.Fatalf("refused inputs changed the faults: %+v", f)
	}
	for _, tc := range []struct{ method, path string }{
		{http.MethodPost, "/emulator/advance?d=-5s"},
		{http.MethodPost, "/emulator/advance?d=NaN"},
		{http.MethodPost, "/emulator/advance?d=2000000h"},
		{http.MethodGet, "/emulator/instances/i-nope"},
		{http.MethodDelete, "/emulator/instances/i-nope"},
		{http.MethodPost, "/emulator/instances/i-nope/preempt"},
		{http.MethodPut, "/emulator/stats"},
	} {
		code, body := controlCall(t, srv, tc.method, tc.path, "")
		var e struct{ Error string }
		if code < 400 || json.Unmarshal([]byte(body), &e) != nil || e.Error == "" {
			t.Errorf("%s %s: %d %q, want an error status with a JSON error body", tc.method, tc.path, code, body)
		}
	}
	big := `{"throttle_rate":0.1,"actions":["` + strings.Repeat("A", maxControlBody) + `"]}`
	if code, body := controlCall(t, srv, http.MethodPost, "/emulator/faults", big); code != http.StatusBadRequest || !strings.Contains(body, "too large") {
		t.Errorf("oversized faults body: %d %.200q", code, body)
	}
	code, body := controlCall(t, srv, http.MethodPost, "/emulator/faults", `{"rate_limits":{"RunInstances":0},"latency_ms":5}`)
	if code != http.StatusOK || srv.Faults().LatencyMS != 5 {
		t.Fatalf("valid faults refused: %d %s", code, body)
	}
}

// TestControlAnswerNeverEmpty: an answer that cannot be encoded (NaN was
// the way in) is a 500 with a JSON error, not a 200 with an empty body.
func TestControlAnswerNeverEmpty(t *testing.T) {
	rec := httptest.NewRecorder()
	controlJSON(rec, http.StatusOK, map[string]float64{"SpotPriceLimit": math.NaN()})
	var e struct{ Error string }
	if rec.Code != http.StatusInternalServerError || json.Unmarshal(rec.Body.Bytes(), &e) != nil || !strings.Contains(e.Error, "NaN") {
		t.Fatalf("unencodable answer: %d %q", rec.Code, rec.Body.String())
	}
}

// TestOversizedBodyRefused: an ECS API body over the limit gets a clear
// 400 naming the limit, not a read of the whole body.
func TestOversizedBodyRefused(t *testing.T) {
	srv, fc := newTestServer(t, Options{})
	// The Format in the unread body cannot choose the answer's format: Accept does.
	r := raw{method: http.MethodPost, params: runParams(map[string]string{"Description": strings.Repeat("x", maxBody)}), baseURL: srv.URL(),
		accept: "application/json"}.do(t, fc.Now())
	if r.Status != http.StatusBadRequest || r.Code() != "InvalidParameter" || !strings.Contains(r.Text, fmt.Sprint(maxBody)) {
		t.Fatalf("oversized body: %d %.300s", r.Status, r.Text)
	}
	if n := len(srv.Instances()); n != 0 {
		t.Fatalf("oversized body created %d instances", n)
	}
}
