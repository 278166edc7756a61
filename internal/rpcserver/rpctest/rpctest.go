// Package rpctest has a fake InfraKit instance plugin and helpers to serve
// one with rpcserver and call it on its socket. Tests only: it imports
// package testing.
package rpctest

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

// ShortTempDir returns a temp dir with a short path: unix socket paths are
// limited to 107 bytes and t.TempDir() embeds the test name.
func ShortTempDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "ika")
	testutil.NoErr(t, err)
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// FakePlugin is an in-memory instance.Plugin that records calls.
type FakePlugin struct {
	mu sync.Mutex
	// Log, when set before serving, gets a debug line per Provision.
	Log       *logrus.Logger
	next      int
	instances map[instance.ID]instance.Description
	destroyed []DestroyCall
	labels    map[instance.ID]map[string]string
	lastSpec  instance.Spec
	lastDesc  struct {
		tags       map[string]string
		properties bool
	}
	failWith error // returned by every call when set
	closed   bool
}

// DestroyCall is one Destroy: the instance and the reason.
type DestroyCall struct {
	ID     instance.ID
	Reason string
}

// NewFakePlugin returns a FakePlugin with no instances.
func NewFakePlugin() *FakePlugin {
	return &FakePlugin{instances: map[instance.ID]instance.Description{}, labels: map[instance.ID]map[string]string{}}
}

// Validate implements instance.Plugin.
func (f *FakePlugin) Validate(req *types.Any) error {
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

// Provision implements instance.Plugin.
func (f *FakePlugin) Provision(spec instance.Spec) (*instance.ID, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.Log != nil {
		f.Log.WithField("tags", spec.Tags).Debug("fake provision")
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

// Label implements instance.Plugin.
func (f *FakePlugin) Label(id instance.ID, labels map[string]string) error {
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

// Destroy implements instance.Plugin.
func (f *FakePlugin) Destroy(id instance.ID, ctx instance.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failWith != nil {
		return f.failWith
	}
	if _, ok := f.instances[id]; !ok {
		return fmt.Errorf("no instance %s", id)
	}
	delete(f.instances, id)
	f.destroyed = append(f.destroyed, DestroyCall{ID: id, Reason: ctx.Reason})
	return nil
}

// DescribeInstances implements instance.Plugin.
func (f *FakePlugin) DescribeInstances(tags map[string]string, properties bool) ([]instance.Description, error) {
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

// VendorInfo implements spi.Vendor.
func (f *FakePlugin) VendorInfo() *spi.VendorInfo {
	return &spi.VendorInfo{InterfaceSpec: spi.InterfaceSpec{Name: "infrakit-instance-aliyun", Version: "test"},
		URL: "https://example.com/infrakit.aliyun"}
}

// Close records that the plugin was closed.
func (f *FakePlugin) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	return nil
}

// SetFail makes every call fail with err (nil: succeed again).
func (f *FakePlugin) SetFail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failWith = err
}

// Destroys lists the Destroy calls that succeeded.
func (f *FakePlugin) Destroys() []DestroyCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]DestroyCall(nil), f.destroyed...)
}

// LastSpec is the spec of the last successful Provision.
func (f *FakePlugin) LastSpec() instance.Spec {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lastSpec
}

// LastDescribe is the last DescribeInstances call's tags and properties flag.
func (f *FakePlugin) LastDescribe() (map[string]string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lastDesc.tags, f.lastDesc.properties
}

// Closed reports whether Close was called.
func (f *FakePlugin) Closed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closed
}

// Served runs Serve in the background on a fresh dir and returns the socket
// path once it accepts calls, and a stop function that cancels and waits.
func Served(t *testing.T, p instance.Plugin, log *logrus.Logger) (dir, socket string, stop func() error) {
	t.Helper()
	return ServedIn(t, ShortTempDir(t), p, log)
}

// ServedIn is Served in a given directory.
func ServedIn(t *testing.T, dir string, p instance.Plugin, log *logrus.Logger) (_, socket string, stop func() error) {
	t.Helper()
	ready := make(chan string, 1)
	socket, stop = StartInBackground(t, "Serve", ready, func() string { return "" }, func(ctx context.Context) error {
		return rpcserver.Serve(ctx, rpcserver.Options{Name: "instance-test", Dir: dir, Logger: log, Ready: func(s string) { ready <- s }}, p)
	})
	return dir, socket, stop
}

// StartInBackground runs run (named what in failures) until its socket
// arrives on ready, and returns it with a stop that cancels run's context
// and waits for it (also called at cleanup). output is shown if run
// returns early.
func StartInBackground(t *testing.T, what string, ready <-chan string, output func() string, run func(context.Context) error) (socket string, stop func() error) {
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

// UnixHTTP is an HTTP client that talks to the unix socket.
func UnixHTTP(socket string) *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		}},
	}
}

// RawRPC posts a JSON-RPC body exactly as given and returns the status and
// raw response body.
func RawRPC(t *testing.T, socket, body string) (int, string) {
	t.Helper()
	c := UnixHTTP(socket)
	defer c.CloseIdleConnections()
	resp, err := c.Post("http://a/", "application/json", strings.NewReader(body))
	testutil.NoErr(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	testutil.NoErr(t, err)
	return resp.StatusCode, string(b)
}

// PluginFiles lists the files in dir (names only).
func PluginFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	testutil.NoErr(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}
