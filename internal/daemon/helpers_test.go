package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Sirupsen/logrus"
	"github.com/docker/infrakit/pkg/spi"
	"github.com/docker/infrakit/pkg/spi/instance"
	"github.com/docker/infrakit/pkg/types"

	"infrakit.aliyun/internal/rpcserver"
	"infrakit.aliyun/internal/testutil"
)

// The standard-library assertions shared with the other packages' tests.
var (
	noErr       = testutil.NoErr
	equal       = testutil.Equal
	contains    = testutil.Contains
	notContains = testutil.NotContains
)

// shortTempDir returns a temp dir with a short path: unix socket paths are
// limited to 107 bytes and t.TempDir() embeds the test name.
func shortTempDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "ika")
	noErr(t, err)
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// fakePlugin is an in-memory instance.Plugin that records calls.
type fakePlugin struct {
	mu        sync.Mutex
	log       *logrus.Logger
	next      int
	instances map[instance.ID]instance.Description
	destroyed []destroyCall
	labels    map[instance.ID]map[string]string
	lastSpec  instance.Spec
	lastDesc  struct {
		tags       map[string]string
		properties bool
	}
	failWith error // returned by every call when set
	closed   bool
}

type destroyCall struct {
	ID     instance.ID
	Reason string
}

func newFakePlugin() *fakePlugin {
	return &fakePlugin{instances: map[instance.ID]instance.Description{}, labels: map[instance.ID]map[string]string{}}
}

func (f *fakePlugin) Validate(req *types.Any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failWith != nil {
		return f.failWith
	}
	var v map[string]interface{}
	if err := req.Decode(&v); err != nil {
		return fmt.Errorf("bad properties: %v", err)
	}
	if _, ok := v["InstanceType"]; !ok {
		return errors.New("InstanceType is required")
	}
	return nil
}

func (f *fakePlugin) Provision(spec instance.Spec) (*instance.ID, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.log != nil {
		f.log.WithField("tags", spec.Tags).Debug("fake provision")
	}
	if f.failWith != nil {
		return nil, f.failWith
	}
	f.next++
	id := instance.ID(fmt.Sprintf("i-fake%03d", f.next))
	f.lastSpec = spec
	f.instances[id] = instance.Description{ID: id, LogicalID: spec.LogicalID, Tags: spec.Tags, Properties: spec.Properties}
	return &id, nil
}

func (f *fakePlugin) Label(id instance.ID, labels map[string]string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failWith != nil {
		return f.failWith
	}
	d, ok := f.instances[id]
	if !ok {
		return fmt.Errorf("no instance %s", id)
	}
	tags := map[string]string{}
	for k, v := range d.Tags {
		tags[k] = v
	}
	for k, v := range labels {
		tags[k] = v
	}
	d.Tags = tags
	f.instances[id] = d
	f.labels[id] = labels
	return nil
}

func (f *fakePlugin) Destroy(id instance.ID, ctx instance.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failWith != nil {
		return f.failWith
	}
	if _, ok := f.instances[id]; !ok {
		return fmt.Errorf("no instance %s", id)
	}
	delete(f.instances, id)
	f.destroyed = append(f.destroyed, destroyCall{ID: id, Reason: ctx.Reason})
	return nil
}

func (f *fakePlugin) DescribeInstances(tags map[string]string, properties bool) ([]instance.Description, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastDesc.tags, f.lastDesc.properties = tags, properties
	if f.failWith != nil {
		return nil, f.failWith
	}
	out := []instance.Description{}
	for _, d := range f.instances {
		match := true
		for k, v := range tags {
			if d.Tags[k] != v {
				match = false
			}
		}
		if !match {
			continue
		}
		if !properties {
			d.Properties = nil
		}
		out = append(out, d)
	}
	return out, nil
}

func (f *fakePlugin) VendorInfo() *spi.VendorInfo {
	return &spi.VendorInfo{InterfaceSpec: spi.InterfaceSpec{Name: "infrakit-instance-aliyun", Version: "test"},
		URL: "https://example.com/infrakit.aliyun"}
}

func (f *fakePlugin) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	return nil
}

func (f *fakePlugin) setFail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failWith = err
}

func (f *fakePlugin) destroys() []destroyCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]destroyCall(nil), f.destroyed...)
}

// served runs Serve in the background on a fresh dir and returns the socket
// path once it accepts calls, and a stop function that cancels and waits.
func served(t *testing.T, p instance.Plugin, log *logrus.Logger) (dir, socket string, stop func() error) {
	t.Helper()
	return servedIn(t, shortTempDir(t), p, log)
}

// servedIn is served in a given directory.
func servedIn(t *testing.T, dir string, p instance.Plugin, log *logrus.Logger) (_, socket string, stop func() error) {
	t.Helper()
	ready := make(chan string, 1)
	socket, stop = startInBackground(t, "Serve", ready, func() string { return "" }, func(ctx context.Context) error {
		return rpcserver.Serve(ctx, rpcserver.Options{Name: "instance-test", Dir: dir, Logger: log, Ready: func(s string) { ready <- s }}, p)
	})
	return dir, socket, stop
}

// startInBackground runs run (named what in failures) until its socket
// arrives on ready, and returns it with a stop that cancels run's context
// and waits for it (also called at cleanup). output is shown if run
// returns early.
func startInBackground(t *testing.T, what string, ready <-chan string, output func() string, run func(context.Context) error) (socket string, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	select {
	case socket = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("%s returned early: %v\n%s", what, err, output())
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("socket did not appear")
	}
	var once sync.Once
	var runErr error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(15 * time.Second):
				runErr = fmt.Errorf("%s did not return after cancel", what)
			}
		})
		return runErr
	}
	t.Cleanup(func() { _ = stop() })
	return socket, stop
}

// unixHTTP is an HTTP client that talks to the unix socket.
func unixHTTP(socket string) *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		}},
	}
}

// rawRPC posts a JSON-RPC body exactly as given and returns the status and
// raw response body.
func rawRPC(t *testing.T, socket, body string) (int, string) {
	t.Helper()
	c := unixHTTP(socket)
	defer c.CloseIdleConnections()
	resp, err := c.Post("http://a/", "application/json", strings.NewReader(body))
	noErr(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	noErr(t, err)
	return resp.StatusCode, string(b)
}

// pluginFiles lists the files in dir (names only).
func pluginFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	noErr(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// testLogger logs at the InfraKit level into a buffer.
func testLogger(t *testing.T, level int) (*logrus.Logger, *testutil.SyncBuffer) {
	t.Helper()
	out := &testutil.SyncBuffer{}
	l, err := NewLogger(out, level, LogFormatText, nil)
	noErr(t, err)
	return l, out
}
