package emulator

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	goecs "github.com/denverdino/aliyungo/ecs"
)

func TestStateMachine(t *testing.T) {
	srv, fc := newTestServer(t, Options{BootTime: 30 * time.Second, StopTime: 10 * time.Second})
	id := runIDs(t, api(t, srv, fc, runParams(nil)))[0]
	steps := []struct {
		advance time.Duration
		want    string
	}{{0, StatusPending}, {9 * time.Second, StatusPending}, {time.Second, StatusStarting}, {19 * time.Second, StatusStarting}, {time.Second, StatusRunning}}
	for _, s := range steps {
		srv.Advance(s.advance)
		if got := status(t, srv, id); got != s.want {
			t.Fatalf("after +%v: %s, want %s", s.advance, got, s.want)
		}
	}
	mustOK(t, api(t, srv, fc, map[string]string{"Action": "RebootInstance", "InstanceId": id}))
	if got := status(t, srv, id); got != StatusStopping {
		t.Fatalf("reboot: %s", got)
	}
	srv.Advance(10 * time.Second)
	if got := status(t, srv, id); got != StatusStarting {
		t.Fatalf("reboot mid: %s", got)
	}
	srv.Advance(20 * time.Second)
	if got := status(t, srv, id); got != StatusRunning {
		t.Fatalf("reboot end: %s", got)
	}
	// CreateInstance ends Stopped; StartInstances (batch) starts it.
	cid := mustOK(t, api(t, srv, fc, runParams(map[string]string{"Action": "CreateInstance"}))).Body["InstanceId"].(string)
	if got := status(t, srv, cid); got != StatusPending {
		t.Fatalf("create: %s", got)
	}
	srv.Advance(10 * time.Second)
	if got := status(t, srv, cid); got != StatusStopped {
		t.Fatalf("created: %s", got)
	}
	r := mustOK(t, api(t, srv, fc, map[string]string{"Action": "StartInstances", "RegionId": DefaultRegion, "InstanceId.1": cid}))
	resp := r.Body["InstanceResponses"].(map[string]any)["InstanceResponse"].([]any)[0].(map[string]any)
	if resp["Code"] != "200" || resp["PreviousStatus"] != StatusStopped || resp["CurrentStatus"] != StatusStarting {
		t.Fatalf("StartInstances: %v", resp)
	}
	// StopInstances with SuccessFirst reports per instance.
	srv.Advance(20 * time.Second)
	r = mustOK(t, api(t, srv, fc, map[string]string{"Action": "StopInstances", "RegionId": DefaultRegion, "InstanceId.1": cid,
		"InstanceId.2": "i-nope", "BatchOptimization": "SuccessFirst"}))
	rs := r.Body["InstanceResponses"].(map[string]any)["InstanceResponse"].([]any)
	if rs[0].(map[string]any)["Code"] != "200" || rs[1].(map[string]any)["Code"] != "InvalidInstanceId.NotFound" {
		t.Fatalf("StopInstances: %v", rs)
	}
}

func TestTimeScale(t *testing.T) {
	srv, fc := newTestServer(t, Options{TimeScale: 60, BootTime: time.Minute})
	id := runIDs(t, api(t, srv, fc, runParams(nil)))[0]
	fc.Add(999 * time.Millisecond) // 59.94 emulated seconds
	if got := status(t, srv, id); got != StatusStarting {
		t.Fatalf("before: %s", got)
	}
	fc.Add(time.Millisecond)
	if got := status(t, srv, id); got != StatusRunning {
		t.Fatalf("after 1 real second at x60: %s", got)
	}
}

func TestDeleteWithInstance(t *testing.T) {
	srv, fc := newTestServer(t, Options{})
	id := runIDs(t, api(t, srv, fc, runParams(map[string]string{
		"DataDisk.1.Size": "50", "DataDisk.1.DeleteWithInstance": "false",
		"DataDisk.2.Size": "60", "DataDisk.2.Category": "cloud_essd",
	})))[0]
	v, _ := srv.Instance(id)
	if len(v.DataDiskIds) != 2 || v.SystemDiskId == "" {
		t.Fatalf("disks: %+v", v)
	}
	srv.Advance(time.Minute)
	// An extra disk attached later defaults to DeleteWithInstance=false; flip it with ModifyDiskAttribute.
	extra := mustOK(t, api(t, srv, fc, map[string]string{"Action": "CreateDisk", "RegionId": DefaultRegion, "ZoneId": "cn-hangzhou-h", "Size": "20"})).Body["DiskId"].(string)
	mustOK(t, api(t, srv, fc, map[string]string{"Action": "AttachDisk", "InstanceId": id, "DiskId": extra}))
	mustOK(t, api(t, srv, fc, map[string]string{"Action": "ModifyDiskAttribute", "DiskId": extra, "DeleteWithInstance": "true"}))
	d := mustOK(t, api(t, srv, fc, map[string]string{"Action": "DescribeDisks", "RegionId": DefaultRegion, "InstanceId": id}))
	if n := len(d.Body["Disks"].(map[string]any)["Disk"].([]any)); n != 4 {
		t.Fatalf("DescribeDisks by instance: %d", n)
	}
	mustOK(t, api(t, srv, fc, map[string]string{"Action": "DeleteInstance", "InstanceId": id, "Force": "true"}))
	byID := map[string]DiskView{}
	for _, d := range srv.Disks() {
		byID[d.DiskId] = d
	}
	if d := byID[v.SystemDiskId]; !d.Deleted {
		t.Errorf("system disk kept: %+v", d)
	}
	if d := byID[v.DataDiskIds[0]]; d.Deleted || d.Status != "Available" || d.InstanceId != "" {
		t.Errorf("DeleteWithInstance=false disk: %+v", d)
	}
	if d := byID[v.DataDiskIds[1]]; !d.Deleted {
		t.Errorf("DeleteWithInstance=true disk kept: %+v", d)
	}
	if d := byID[extra]; !d.Deleted {
		t.Errorf("attached disk with DeleteWithInstance=true kept: %+v", d)
	}
	// The kept disk can be deleted now.
	mustOK(t, api(t, srv, fc, map[string]string{"Action": "DeleteDisk", "DiskId": v.DataDiskIds[0]}))
}

// InstanceView.DataDiskIds lists the disks attached now: a detached disk
// leaves the list, and a re-attached one comes back.
func TestInstanceViewDataDisksFollowDetach(t *testing.T) {
	srv, fc := newTestServer(t, Options{})
	id := runIDs(t, api(t, srv, fc, runParams(map[string]string{"DataDisk.1.Size": "50"})))[0]
	srv.Advance(time.Minute)
	v, _ := srv.Instance(id)
	if len(v.DataDiskIds) != 1 {
		t.Fatalf("data disks at start: %v", v.DataDiskIds)
	}
	disk := v.DataDiskIds[0]
	mustOK(t, api(t, srv, fc, map[string]string{"Action": "DetachDisk", "InstanceId": id, "DiskId": disk}))
	if v, _ := srv.Instance(id); len(v.DataDiskIds) != 0 {
		t.Fatalf("data disks after detach: %v, want none", v.DataDiskIds)
	}
	mustOK(t, api(t, srv, fc, map[string]string{"Action": "AttachDisk", "InstanceId": id, "DiskId": disk}))
	if v, _ := srv.Instance(id); len(v.DataDiskIds) != 1 || v.DataDiskIds[0] != disk {
		t.Fatalf("data disks after re-attach: %v, want [%s]", v.DataDiskIds, disk)
	}
}

func TestPreemptTimeline(t *testing.T) {
	srv, fc := newTestServer(t, Options{})
	id := runIDs(t, api(t, srv, fc, runParams(map[string]string{"SpotStrategy": "SpotWithPriceLimit", "SpotPriceLimit": "0.5"})))[0]
	srv.Advance(time.Minute)
	resp, err := http.Post(srv.URL()+"/emulator/instances/"+id+"/preempt", "", nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("preempt: %v %v", resp, err)
	}
	resp.Body.Close()
	r := mustOK(t, api(t, srv, fc, map[string]string{"Action": "DescribeInstances", "RegionId": DefaultRegion, "InstanceIds": `["` + id + `"]`}))
	in := r.Body["Instances"].(map[string]any)["Instance"].([]any)[0].(map[string]any)
	locks := in["OperationLocks"].(map[string]any)["LockReason"].([]any)
	if len(locks) != 1 || locks[0].(map[string]any)["LockReason"] != "Recycling" || in["SpotStrategy"] != "SpotWithPriceLimit" || in["SpotPriceLimit"] != 0.5 {
		t.Fatalf("after preempt: %v %v", locks, in)
	}
	if err := srv.Preempt(id); err == nil {
		t.Fatal("second preempt accepted")
	}
	srv.Advance(DefaultPreemptNotice - time.Second)
	if got := status(t, srv, id); got != StatusRunning {
		t.Fatalf("before notice ends: %s", got)
	}
	srv.Advance(time.Second)
	v, _ := srv.Instance(id)
	if !v.Released || v.ReleaseReason != ReleasePreempted {
		t.Fatalf("after notice: %+v", v)
	}
	if !v.CreationTime.Before(v.PreemptedAt) || v.ReleasedAt.Sub(v.PreemptedAt) != DefaultPreemptNotice {
		t.Fatalf("timeline: created %v preempted %v released %v", v.CreationTime, v.PreemptedAt, v.ReleasedAt)
	}
	got := api(t, srv, fc, map[string]string{"Action": "DescribeInstanceAttribute", "InstanceId": id})
	if got.Status != 404 || got.Code() != "InvalidInstanceId.NotFound" {
		t.Fatalf("released instance: %d %s", got.Status, got.Code())
	}
}

func TestKill(t *testing.T) {
	srv, fc := newTestServer(t, Options{})
	ids := runIDs(t, api(t, srv, fc, runParams(map[string]string{"Amount": "2", "Tag.1.Key": "g", "Tag.1.Value": "x"})))
	req, _ := http.NewRequest(http.MethodDelete, srv.URL()+"/emulator/instances/"+ids[0], nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("kill: %v %v", resp, err)
	}
	resp.Body.Close()
	r := mustOK(t, api(t, srv, fc, map[string]string{"Action": "DescribeInstances", "RegionId": DefaultRegion, "Tag.1.Key": "g", "Tag.1.Value": "x"}))
	if r.Body["TotalCount"].(float64) != 1 {
		t.Fatalf("after kill: %s", r.Text)
	}
	resp, err = http.Get(srv.URL() + "/emulator/instances")
	if err != nil {
		t.Fatal(err)
	}
	var views []InstanceView
	json.NewDecoder(resp.Body).Decode(&views)
	resp.Body.Close()
	if len(views) != 2 || !views[0].Released || views[0].ReleaseReason != ReleaseKilled || views[1].Released {
		t.Fatalf("views: %+v", views)
	}
	if err := srv.Kill(ids[0]); err == nil {
		t.Fatal("killing a released instance succeeded")
	}
	if s := srv.Stats(); s.Instances[StatusReleased] != 1 || s.Instances[StatusPending] != 1 {
		t.Fatalf("stats: %+v", s)
	}
}

func TestFaults(t *testing.T) {
	srv, fc := newTestServer(t, Options{Seed: 7})
	// A dropped response still applies the action.
	srv.SetFaults(Faults{DropResponseRate: 1, Actions: []string{"RunInstances"}})
	p := runParams(map[string]string{"ClientToken": "drop-1"})
	r := raw{params: p, baseURL: srv.URL()}
	v := map[string]string{}
	for k, x := range p {
		v[k] = x
	}
	func() {
		defer func() { recover() }()
		r.do(&fatalCatcher{T: t}, fc.Now())
		t.Error("dropped response answered")
	}()
	if n := len(srv.Instances()); n != 1 {
		t.Fatalf("dropped RunInstances created %d instances", n)
	}
	// The retry with the same ClientToken gets the same instance.
	srv.SetFaults(Faults{})
	ids := runIDs(t, api(t, srv, fc, p))
	if len(srv.Instances()) != 1 || ids[0] != srv.Instances()[0].InstanceId {
		t.Fatal("retry after drop created a second instance")
	}
	// Errors are 500 InternalError or 503 ServiceUnavailable.
	srv.SetFaults(Faults{ErrorRate: 1})
	seen := map[string]int{}
	for i := 0; i < 20; i++ {
		g := api(t, srv, fc, map[string]string{"Action": "DescribeRegions"})
		seen[fmt.Sprint(g.Status, " ", g.Code())]++
	}
	if len(seen) != 2 || seen["500 InternalError"] == 0 || seen["503 ServiceUnavailable"] == 0 {
		t.Fatalf("error faults: %v", seen)
	}
	// Rate limit: 2/s burst 2, refilled on the injected clock.
	srv.SetFaults(Faults{RateLimits: map[string]float64{"DescribeRegions": 2}})
	for i := 0; i < 2; i++ {
		mustOK(t, api(t, srv, fc, map[string]string{"Action": "DescribeRegions"}))
	}
	if g := api(t, srv, fc, map[string]string{"Action": "DescribeRegions"}); g.Status != 400 || g.Code() != "Throttling" {
		t.Fatalf("rate limit: %d %s", g.Status, g.Code())
	}
	mustOK(t, api(t, srv, fc, map[string]string{"Action": "DescribeZones", "RegionId": DefaultRegion})) // other actions unaffected
	fc.Add(500 * time.Millisecond)
	mustOK(t, api(t, srv, fc, map[string]string{"Action": "DescribeRegions"}))
	// Quota.
	srv.SetFaults(Faults{MaxInstances: 2})
	if g := api(t, srv, fc, runParams(map[string]string{"Amount": "2"})); g.Status != 403 || g.Code() != "QuotaExceed.ElasticQuota" {
		t.Fatalf("quota: %d %s", g.Status, g.Code())
	}
	if ids := runIDs(t, api(t, srv, fc, runParams(map[string]string{"Amount": "3", "MinAmount": "1"}))); len(ids) != 1 {
		t.Fatalf("MinAmount partial fulfilment: %v", ids)
	}
	// Faults over HTTP, and no_stock in DescribeAvailableResource.
	body := `{"throttle_rate":0,"latency_ms":1,"no_stock":[{"InstanceType":"ecs.g6.large","ZoneId":"cn-hangzhou-h"}],"rate_limits":{"RunInstances":50}}`
	resp, err := http.Post(srv.URL()+"/emulator/faults", "application/json", strings.NewReader(body))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("POST faults: %v %v", resp, err)
	}
	resp.Body.Close()
	if f := srv.Faults(); f.LatencyMS != 1 || f.RateLimits["RunInstances"] != 50 || len(f.NoStock) != 1 {
		t.Fatalf("faults: %+v", f)
	}
	ar := mustOK(t, api(t, srv, fc, map[string]string{"Action": "DescribeAvailableResource", "RegionId": DefaultRegion,
		"DestinationResource": "InstanceType", "ZoneId": "cn-hangzhou-h"}))
	if !strings.Contains(ar.Text, `{"Value":"ecs.g6.large","Status":"SoldOut","StatusCategory":"WithoutStock"}`) ||
		!strings.Contains(ar.Text, `{"Value":"ecs.c6.large","Status":"Available","StatusCategory":"WithStock"}`) {
		t.Fatalf("DescribeAvailableResource: %s", ar.Text)
	}
	st := srv.Stats()
	if st.Faults["dropped"] != 1 || st.Faults["errors"] != 20 || st.Faults["rate_limited"] != 1 {
		t.Fatalf("fault stats: %+v", st.Faults)
	}
}

// fatalCatcher turns t.Fatal into a panic so a test can expect a failing call.
type fatalCatcher struct{ *testing.T }

func (f *fatalCatcher) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }
func (f *fatalCatcher) Fatal(args ...any)                 { panic(fmt.Sprint(args...)) }

func TestPagingNextToken250(t *testing.T) {
	srv, fc := newTestServer(t, Options{})
	var want []string
	for _, n := range []string{"100", "100", "50"} {
		want = append(want, runIDs(t, api(t, srv, fc, runParams(map[string]string{"Amount": n, "Tag.1.Key": "pool", "Tag.1.Value": "p1"})))...)
	}
	runIDs(t, api(t, srv, fc, runParams(map[string]string{"Amount": "7"}))) // untagged noise
	var got []string
	next, pages := "", 0
	for {
		q := map[string]string{"Action": "DescribeInstances", "RegionId": DefaultRegion, "Tag.1.Key": "pool", "Tag.1.Value": "p1", "MaxResults": "100"}
		if next != "" {
			q["NextToken"] = next
		}
		r := mustOK(t, api(t, srv, fc, q))
		for _, x := range r.Body["Instances"].(map[string]any)["Instance"].([]any) {
			got = append(got, x.(map[string]any)["InstanceId"].(string))
		}
		pages++
		next = r.Body["NextToken"].(string)
		if next == "" {
			break
		}
	}
	if pages != 3 || strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("pages %d, %d ids", pages, len(got))
	}
	// PageNumber/PageSize over all 257.
	r := mustOK(t, api(t, srv, fc, map[string]string{"Action": "DescribeInstances", "RegionId": DefaultRegion, "PageNumber": "3", "PageSize": "100"}))
	if r.Body["TotalCount"].(float64) != 257 || len(r.Body["Instances"].(map[string]any)["Instance"].([]any)) != 57 {
		t.Fatalf("page 3: total %v", r.Body["TotalCount"])
	}
	// Key-only tag filter and Status filter.
	r = mustOK(t, api(t, srv, fc, map[string]string{"Action": "DescribeInstances", "RegionId": DefaultRegion, "Tag.1.Key": "pool", "Status": "Pending", "PageSize": "1"}))
	if r.Body["TotalCount"].(float64) != 250 {
		t.Fatalf("key-only filter: %v", r.Body["TotalCount"])
	}
	// Private IPs are unique.
	ips := map[string]bool{}
	for _, v := range srv.Instances() {
		if ips[v.PrivateIpAddress] {
			t.Fatalf("duplicate IP %s", v.PrivateIpAddress)
		}
		ips[v.PrivateIpAddress] = true
	}
}

func TestStateFileRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	srv, fc := newTestServer(t, Options{StateFile: path})
	ids := runIDs(t, api(t, srv, fc, runParams(map[string]string{"Amount": "3", "Tag.1.Key": "g", "Tag.1.Value": "a",
		"ClientToken": "persist-1", "UserData": "IyEvYmluL3NoCmVjaG8gaGk=", "DataDisk.1.Size": "30", "DataDisk.1.DeleteWithInstance": "false"})))
	srv.Advance(time.Minute)
	mustOK(t, api(t, srv, fc, map[string]string{"Action": "StopInstance", "InstanceId": ids[1]}))
	mustOK(t, api(t, srv, fc, map[string]string{"Action": "DeleteInstance", "InstanceId": ids[2], "Force": "true"}))
	if err := srv.Preempt(ids[0]); err != nil {
		t.Fatal(err)
	}
	before := srv.Instances()
	disksBefore := srv.Disks()
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}

	srv2, fc2 := newTestServer(t, Options{StateFile: path})
	after := srv2.Instances()
	bj, _ := json.Marshal(before)
	aj, _ := json.Marshal(after)
	if string(bj) != string(aj) {
		t.Fatalf("instances differ after reload:\n%s\n%s", bj, aj)
	}
	if len(srv2.Disks()) != len(disksBefore) {
		t.Fatal("disks lost")
	}
	if v, _ := srv2.Instance(ids[0]); v.UserData != "#!/bin/sh\necho hi" {
		t.Fatalf("UserData: %q", v.UserData)
	}
	// Tag index, IP pool, tokens and scheduled releases were rebuilt.
	r := mustOK(t, api(t, srv2, fc2, map[string]string{"Action": "DescribeInstances", "RegionId": DefaultRegion, "Tag.1.Key": "g", "Tag.1.Value": "a"}))
	if r.Body["TotalCount"].(float64) != 2 {
		t.Fatalf("tag filter after reload: %s", r.Text)
	}
	again := runIDs(t, api(t, srv2, fc2, runParams(map[string]string{"Amount": "3", "Tag.1.Key": "g", "Tag.1.Value": "a",
		"ClientToken": "persist-1", "UserData": "IyEvYmluL3NoCmVjaG8gaGk=", "DataDisk.1.Size": "30", "DataDisk.1.DeleteWithInstance": "false"})))
	if strings.Join(again, ",") != strings.Join(ids, ",") {
		t.Fatal("ClientToken not persisted")
	}
	fresh := runIDs(t, api(t, srv2, fc2, runParams(nil)))[0]
	fv, _ := srv2.Instance(fresh)
	for _, v := range after {
		if !v.Released && v.PrivateIpAddress == fv.PrivateIpAddress {
			t.Fatalf("IP %s reused", fv.PrivateIpAddress)
		}
	}
	srv2.Advance(DefaultPreemptNotice)
	if v, _ := srv2.Instance(ids[0]); !v.Released || v.ReleaseReason != ReleasePreempted {
		t.Fatalf("scheduled release lost: %+v", v)
	}
}

func TestConcurrentRunInstances(t *testing.T) {
	srv, fc := newTestServer(t, Options{})
	const n = 500
	var wg sync.WaitGroup
	var mu sync.Mutex
	ids := map[string]bool{}
	errs := make(chan string, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			vsw := []string{DefaultVSwitchH, DefaultVSwitchI, DefaultVSwitchJ, DefaultVSwitchK}[i%4]
			r := raw{params: runParams(map[string]string{"VSwitchId": vsw, "Tag.1.Key": "n", "Tag.1.Value": fmt.Sprint(i)}), baseURL: srv.URL()}.do(t, fc.Now())
			if r.Status != 200 {
				errs <- r.Text
				return
			}
			id := r.Body["InstanceIdSets"].(map[string]any)["InstanceIdSet"].([]any)[0].(string)
			mu.Lock()
			ids[id] = true
			mu.Unlock()
		}(i)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
	if len(ids) != n || srv.Stats().Instances[StatusPending] != n {
		t.Fatalf("%d unique ids", len(ids))
	}
}

// seed10k starts 10,000 instances in 100 batches of 100, each batch tagged
// batch=<n>.
func seed10k(t testing.TB, srv *Server, fc *fakeClock) {
	vsws := []string{DefaultVSwitchH, DefaultVSwitchI, DefaultVSwitchJ, DefaultVSwitchK}
	for i := 0; i < 100; i++ {
		extra := map[string]string{"Amount": "100", "VSwitchId": vsws[i%4], "Tag.1.Key": "batch", "Tag.1.Value": fmt.Sprint(i)}
		runIDs(t, api(t, srv, fc, runParams(extra)))
	}
}

var batch42 = map[string]string{"Action": "DescribeInstances", "RegionId": DefaultRegion, "Tag.1.Key": "batch", "Tag.1.Value": "42", "PageSize": "100"}

// TestDescribe10k checks that a tag filter over 10k instances finds exactly
// its batch. (Its speed is BenchmarkDescribe10kTagFilter's business.)
func TestDescribe10k(t *testing.T) {
	srv, fc := newTestServer(t, Options{})
	seed10k(t, srv, fc)
	r := mustOK(t, api(t, srv, fc, batch42))
	if r.Body["TotalCount"].(float64) != 100 {
		t.Fatalf("total %v", r.Body["TotalCount"])
	}
	for _, in := range r.Body["Instances"].(map[string]any)["Instance"].([]any) {
		tags := in.(map[string]any)["Tags"].(map[string]any)["Tag"].([]any)
		if tag := tags[0].(map[string]any); tag["TagKey"] != "batch" || tag["TagValue"] != "42" {
			t.Fatalf("instance outside the filter: %v", tag)
		}
	}
}

// BenchmarkDescribe10kTagFilter: a tag-filtered DescribeInstances over 10k
// instances uses the tag index instead of walking them all.
func BenchmarkDescribe10kTagFilter(b *testing.B) {
	srv, fc := newTestServer(b, Options{})
	seed10k(b, srv, fc)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		api(b, srv, fc, batch42)
	}
}

// TestCatalogWithAliyungo decodes every catalogue answer with aliyungo's
// typed responses (their ISO6801Time and int fields are strict).
func TestCatalogWithAliyungo(t *testing.T) {
	srv, fc := newTestServer(t, Options{})
	c := newGoClient(srv).(goClient).c
	zones, err := c.DescribeZones(DefaultRegion)
	if err != nil || len(zones) != 4 || zones[0].ZoneId != "cn-hangzhou-h" {
		t.Fatalf("zones %v %v", zones, err)
	}
	types, err := c.DescribeInstanceTypes()
	if err != nil || len(types) < 6 {
		t.Fatalf("types %v", err)
	}
	for _, x := range types {
		if x.InstanceTypeId == "ecs.g6.large" && (x.CpuCoreCount != 2 || x.MemorySize != 8) {
			t.Fatalf("g6.large: %+v", x)
		}
	}
	imgs, _, err := c.DescribeImages(&goecs.DescribeImagesArgs{RegionId: DefaultRegion, ImageOwnerAlias: "system"})
	if err != nil || len(imgs) == 0 {
		t.Fatalf("images %v", err)
	}
	vs, _, err := c.DescribeVSwitches(&goecs.DescribeVSwitchesArgs{VpcId: DefaultVpcID})
	if err != nil || len(vs) != 4 || vs[0].AvailableIpAddressCount != 4092 {
		t.Fatalf("vswitches %+v %v", vs, err)
	}
	sgs, _, err := c.DescribeSecurityGroups(&goecs.DescribeSecurityGroupsArgs{RegionId: DefaultRegion})
	if err != nil || len(sgs) != 1 || sgs[0].SecurityGroupId != DefaultSecurityGroupID {
		t.Fatalf("sgs %v", err)
	}
	kps, _, err := c.DescribeKeyPairs(&goecs.DescribeKeyPairsArgs{RegionId: DefaultRegion})
	if err != nil || len(kps) != 2 {
		t.Fatalf("key pairs %v", err)
	}
	id := runIDs(t, api(t, srv, fc, runParams(map[string]string{"KeyPairName": DefaultKeyPairName, "InternetMaxBandwidthOut": "5", "RamRoleName": "worker"})))[0]
	srv.Advance(time.Minute)
	attr, err := c.DescribeInstanceAttribute(id)
	if err != nil || attr.Status != "Running" || attr.Cpu != 2 || attr.Memory != 8192 || len(attr.PublicIpAddress.IpAddress) != 1 || attr.KeyPairName != DefaultKeyPairName {
		t.Fatalf("attribute %+v %v", attr, err)
	}
	if err := c.AddTags(&goecs.AddTagsArgs{ResourceId: id, ResourceType: goecs.TagResourceInstance, RegionId: DefaultRegion, Tag: map[string]string{"a": "1"}}); err != nil {
		t.Fatal(err)
	}
	tags, _, err := c.DescribeTags(&goecs.DescribeTagsArgs{RegionId: DefaultRegion, ResourceType: goecs.TagResourceInstance})
	if err != nil || len(tags) != 1 || tags[0].TagKey != "a" {
		t.Fatalf("tags %v %v", tags, err)
	}
	if err := c.RemoveTags(&goecs.RemoveTagsArgs{ResourceId: id, ResourceType: goecs.TagResourceInstance, RegionId: DefaultRegion, Tag: map[string]string{"a": ""}}); err != nil {
		t.Fatal(err)
	}
	disks, _, err := c.DescribeDisks(&goecs.DescribeDisksArgs{RegionId: DefaultRegion, InstanceId: id})
	if err != nil || len(disks) != 1 || disks[0].Type != "system" {
		t.Fatalf("disks %v %v", disks, err)
	}
	img, err := c.CreateImage(&goecs.CreateImageArgs{RegionId: DefaultRegion, InstanceId: id, ImageName: "my-image"})
	if err != nil {
		t.Fatal(err)
	}
	snap := mustOK(t, api(t, srv, fc, map[string]string{"Action": "CreateSnapshot", "DiskId": disks[0].DiskId})).Body["SnapshotId"].(string)
	lt := mustOK(t, api(t, srv, fc, map[string]string{"Action": "ListTagResources", "RegionId": DefaultRegion, "ResourceType": "instance", "ResourceId.1": id}))
	if n := len(lt.Body["TagResources"].(map[string]any)["TagResource"].([]any)); n != 0 {
		t.Fatalf("ListTagResources after remove: %d", n)
	}
	if g := api(t, srv, fc, runParams(map[string]string{"ImageId": img})); g.Status != 404 {
		t.Fatalf("ran from a Creating image: %s", g.Text)
	}
	srv.Advance(ImageCreateTime)
	if imgs := srv.Images(); imgs[len(imgs)-1].Status != "Available" || snap == "" {
		t.Fatalf("image: %+v", imgs[len(imgs)-1])
	}
	runIDs(t, api(t, srv, fc, runParams(map[string]string{"ImageId": img})))
	if err := c.DeleteImage(DefaultRegion, img); err == nil {
		t.Fatal("deleted an image in use without Force")
	}
	if err := c.DeleteImageWithForce(DefaultRegion, img, true); err != nil {
		t.Fatal(err)
	}
}

func TestControlHTTP(t *testing.T) {
	srv, fc := newTestServer(t, Options{})
	runIDs(t, api(t, srv, fc, runParams(nil)))
	get := func(path string) (int, string) {
		resp, err := http.Post(srv.URL()+path, "", nil)
		if strings.HasPrefix(path, "GET ") {
			resp, err = http.Get(srv.URL() + strings.TrimPrefix(path, "GET "))
		}
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/emulator/advance?d=30s"); code != 200 || !strings.Contains(body, "now") {
		t.Fatalf("advance: %d %s", code, body)
	}
	code, body := get("GET /emulator/stats")
	var st Stats
	if err := json.Unmarshal([]byte(body), &st); code != 200 || err != nil || st.Calls["RunInstances"] != 1 || st.Instances["Running"] != 1 {
		t.Fatalf("stats: %d %s", code, body)
	}
	if code, _ := get("/emulator/advance?d=bogus"); code != 400 {
		t.Fatalf("bad advance: %d", code)
	}
	if code, _ := get("/emulator/instances/i-nope/preempt"); code != 404 {
		t.Fatalf("preempt unknown: %d", code)
	}
	if code, _ := get("GET /emulator/nothing"); code != 404 {
		t.Fatalf("unknown endpoint: %d", code)
	}
	for _, p := range []string{"GET /emulator/disks", "GET /emulator/images", "GET /emulator/faults", "GET /emulator/time"} {
		if code, body := get(p); code != 200 {
			t.Fatalf("%s: %d %s", p, code, body)
		}
	}
}

func TestListenRefusesRemote(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "192.0.2.1:0", "example.com:80"} {
		if _, err := New(Options{Listen: addr}); err == nil {
			t.Errorf("%s accepted without AllowRemote", addr)
		}
	}
	srv, err := New(Options{Listen: "localhost:0"})
	if err != nil {
		t.Fatal(err)
	}
	srv.Close()
}

// TestDeleteInstanceDryRunChangesNothing: DeleteInstance DryRun=true answers
// DryRunOperation and must not release the IP, delete disks or count the
// instance as gone.
func TestDeleteInstanceDryRunChangesNothing(t *testing.T) {
	srv, fc := newTestServer(t, Options{})
	id := runIDs(t, api(t, srv, fc, runParams(nil)))[0]
	before, _ := srv.Instance(id)
	r := api(t, srv, fc, map[string]string{"Action": "DeleteInstance", "InstanceId": id, "Force": "true", "DryRun": "true"})
	if r.Code() != "DryRunOperation" {
		t.Fatalf("dry run: %s", r.Text)
	}
	for _, d := range srv.Disks() {
		if d.Deleted {
			t.Fatalf("dry run deleted disk %s", d.DiskId)
		}
	}
	if srv.st.Live != 1 {
		t.Fatalf("live = %d after a dry run", srv.st.Live)
	}
	// The address is still taken: a new instance asking for it is refused.
	r = api(t, srv, fc, runParams(map[string]string{"PrivateIpAddress": before.PrivateIpAddress}))
	if r.Code() != "InvalidPrivateIpAddress.Duplicated" {
		t.Fatalf("IP of a live instance handed out again: %s", r.Text)
	}
}
