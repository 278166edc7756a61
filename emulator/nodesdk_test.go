package emulator

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// nodeStep is one line printed by testdata/nodesdk/conformance.js.
type nodeStep struct {
	Step      string
	OK        bool
	Code      string
	Status    int
	Recommend string
	Message   string
	Regions   []string
	IDs       []string
	Statuses  []string
	ID        string
	Rules     []string
	Left      *int
}

// TestConformanceNodeSDK drives the emulator with the official Node SDK
// @alicloud/ecs20140526 in its default settings (ACS3, JSON). `make
// node-sdk` installs it into build/nodesdk from the committed lockfile; the
// test runs that target itself when it is missing, so it never skips.
func TestConformanceNodeSDK(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	modules := filepath.Join(root, "build", "nodesdk", "node_modules")
	if _, err := os.Stat(filepath.Join(modules, ".installed")); err != nil {
		out, err := exec.Command("make", "-C", root, "node-sdk").CombinedOutput()
		if err != nil {
			t.Fatalf("make node-sdk: %v\n%s", err, out)
		}
	}
	srv, _ := newTestServer(t, Options{BootTime: -1})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", filepath.Join("testdata", "nodesdk", "conformance.js"),
		srv.Addr(), DefaultAccessKeyID, DefaultAccessKeySecret, DefaultRegion, DefaultImageID, DefaultVSwitchH,
		DefaultSecurityGroupID, DefaultInstanceType, DefaultVpcID)
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s\n%s", err, out, stderr.String())
	}
	steps := map[string]nodeStep{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var s nodeStep
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		steps[s.Step] = s
	}
	ok := func(name string) nodeStep {
		t.Helper()
		s, found := steps[name]
		if !found || !s.OK {
			t.Fatalf("step %q: %+v\n%s", name, s, out)
		}
		return s
	}
	if s := ok("regions"); !slices.Contains(s.Regions, DefaultRegion) {
		t.Errorf("regions %v", s.Regions)
	}
	run := ok("run")
	if len(run.IDs) != 2 {
		t.Fatalf("run: %+v", run)
	}
	if s := ok("list by tag"); !slices.Equal(s.IDs, run.IDs) || !slices.Equal(s.Statuses, []string{StatusRunning, StatusRunning}) {
		t.Errorf("list by tag: %+v, want %v Running", s, run.IDs)
	}
	if s := ok("authorize"); !slices.Equal(s.Rules, []string{"TCP 443/443 192.168.0.0/16 Accept"}) {
		t.Errorf("rules %v", s.Rules)
	}
	for _, e := range []struct {
		step, code string
		status     int
	}{{"stop unknown", "InvalidInstanceId.NotFound", 404}, {"wrong secret", "SignatureDoesNotMatch", 400}} {
		s := steps[e.step]
		if s.OK || s.Code != e.code || s.Status != e.status ||
			!strings.HasPrefix(s.Recommend, "https://api.aliyun.com/troubleshoot?q="+e.code+"&product=Ecs&requestId=") {
			t.Errorf("%s: want %d %s, got %+v", e.step, e.status, e.code, s)
		}
	}
	if s := ok("delete"); s.Left == nil || *s.Left != 0 {
		t.Errorf("after delete: %+v", s)
	}
	if n := srv.Stats().Calls["RunInstances"]; n != 1 {
		t.Errorf("RunInstances calls %d", n)
	}
}
