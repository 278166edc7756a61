package infrakitcli

import (
	"context"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/infrakit/pkg/spi/instance"
	"github.com/docker/infrakit/pkg/types"
	"github.com/spf13/pflag"

	"infrakit.aliyun/internal/rpcserver"
	"infrakit.aliyun/internal/testutil"
)

func TestRewriteV04Args(t *testing.T) {
	none := func(string) bool { return false }
	cases := []struct {
		in   []string
		want []string
	}{
		{[]string{"instance", "--name", "instance-aliyun", "describe"}, []string{"instance-aliyun", "describe"}},
		{[]string{"instance", "--name=instance-aliyun", "describe", "--tags", "a=b", "-q"}, []string{"instance-aliyun", "describe", "--tags", "a=b", "-q"}},
		{[]string{"--log", "5", "instance", "--name", "x", "destroy", "i-1"}, []string{"--log", "5", "x", "destroy", "i-1"}},
		{[]string{"instance", "describe", "--name", "x"}, []string{"x", "describe"}}, // a persistent flag in v0.4
		{[]string{"instance", "--name", "x", "provision", "spec.json"}, []string{"x", "provision", "spec.json"}},
		{[]string{"group", "--name", "group", "commit", "g.json"}, []string{"group", "commit", "g.json"}},
		{[]string{"group", "commit", "g.json"}, []string{"group", "commit", "g.json"}},     // no --name: unchanged
		{[]string{"instance-aliyun", "describe"}, []string{"instance-aliyun", "describe"}}, // today's form
		{[]string{"plugin", "ls"}, []string{"plugin", "ls"}},
	}
	for _, c := range cases {
		got, err := rewriteV04Args(c.in, positionals(rootFlags(), c.in), none)
		noErr(t, err)
		testutil.Equal(t, c.want, got, c.in)
	}
	for in, want := range map[string]string{
		"instance describe":           `no plugin named "instance" runs`,
		"instance --name":             "a plugin name is required",
		"instance --name= describe":   "a plugin name is required",
		"instance --name -q describe": "a plugin name is required",
	} {
		args := strings.Fields(in)
		_, err := rewriteV04Args(args, positionals(rootFlags(), args), none)
		if err == nil {
			t.Errorf("%q accepted", in)
			continue
		}
		testutil.Contains(t, err.Error(), want)
	}
	// A plugin really named "instance" keeps its own command.
	got, err := rewriteV04Args([]string{"instance", "describe"}, []int{0}, func(n string) bool { return n == "instance" })
	noErr(t, err)
	testutil.Equal(t, []string{"instance", "describe"}, got)
}

var noErr = testutil.NoErr

// rootFlags stands for the CLI's persistent flags: --log takes a value.
func rootFlags() *pflag.FlagSet {
	fs := pflag.NewFlagSet("root", pflag.ContinueOnError)
	fs.Int("log", 4, "")
	return fs
}

// memPlugin is a small in-memory instance plugin for the CLI test.
type memPlugin struct {
	mu        sync.Mutex
	instances map[instance.ID]instance.Description
}

func (m *memPlugin) Validate(*types.Any) error { return nil }
func (m *memPlugin) Provision(s instance.Spec) (*instance.ID, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	id := instance.ID("i-bp1cli000000000000" + string(rune('0'+len(m.instances))))
	m.instances[id] = instance.Description{ID: id, Tags: s.Tags, LogicalID: s.LogicalID}
	return &id, nil
}
func (m *memPlugin) Label(instance.ID, map[string]string) error { return nil }
func (m *memPlugin) Destroy(id instance.ID, _ instance.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.instances, id)
	return nil
}
func (m *memPlugin) DescribeInstances(tags map[string]string, _ bool) ([]instance.Description, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []instance.Description
	for _, d := range m.instances {
		ok := true
		for k, v := range tags {
			ok = ok && d.Tags[k] == v
		}
		if ok {
			out = append(out, d)
		}
	}
	return out, nil
}

// The v0.4 form and today's forms, run through the real CLI against a
// plugin served by the daemon on a unix socket.
func TestV04InstanceFormAgainstAServedPlugin(t *testing.T) {
	dir, err := os.MkdirTemp("", "ikc")
	noErr(t, err)
	defer os.RemoveAll(dir)
	t.Setenv("INFRAKIT_PLUGINS_DIR", dir)

	lid := instance.LogicalID("172.16.15.11")
	p := &memPlugin{instances: map[instance.ID]instance.Description{
		"i-bp1cli0000000000001": {ID: "i-bp1cli0000000000001", Tags: map[string]string{"infrakit.group": "cattle", "tier": "web"}},
		"i-bp1cli0000000000002": {ID: "i-bp1cli0000000000002", LogicalID: &lid, Tags: map[string]string{"infrakit.group": "pets"}},
	}}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- rpcserver.Serve(ctx, rpcserver.Options{Name: "instance-aliyun", Dir: dir, Ready: func(s string) { ready <- s }}, p)
	}()
	defer func() {
		cancel()
		<-done
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("serve: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("socket did not appear")
	}

	// InfraKit's commands print to os.Stdout itself: capture it.
	cli := func(args ...string) (string, string, int) {
		t.Helper()
		r, w, err := os.Pipe()
		noErr(t, err)
		saved := os.Stdout
		os.Stdout = w
		var out, errOut testutil.SyncBuffer
		copied := make(chan struct{})
		go func() { _, _ = io.Copy(&out, r); close(copied) }()
		rc := run(args, &out, &errOut)
		os.Stdout = saved
		w.Close()
		<-copied
		r.Close()
		return out.String(), errOut.String(), rc
	}
	for _, args := range [][]string{
		{"instance", "--name", "instance-aliyun", "describe"}, // InfraKit v0.4
		{"instance-aliyun", "describe"},                       // v0.5 and the tutorials
		{"local", "instance-aliyun", "describe"},              // master
	} {
		out, errOut, rc := cli(args...)
		testutil.Equal(t, 0, rc, args, errOut)
		testutil.Contains(t, out, "ID")
		testutil.Contains(t, out, "LOGICAL")
		testutil.Contains(t, out, "TAGS")
		testutil.Contains(t, out, "i-bp1cli0000000000001")
		testutil.Contains(t, out, "i-bp1cli0000000000002")
		testutil.Contains(t, out, "172.16.15.11")
	}

	out, errOut, rc := cli("instance", "--name", "instance-aliyun", "describe", "--tags", "tier=web", "-q")
	testutil.Equal(t, 0, rc, errOut)
	testutil.Contains(t, out, "i-bp1cli0000000000001")
	testutil.NotContains(t, out, "i-bp1cli0000000000002")
	testutil.NotContains(t, out, "LOGICAL")

	_, errOut, rc = cli("instance", "--name", "instance-aliyun", "destroy", "i-bp1cli0000000000001")
	testutil.Equal(t, 0, rc, errOut)
	out, _, _ = cli("instance", "--name", "instance-aliyun", "describe")
	testutil.NotContains(t, out, "i-bp1cli0000000000001")

	_, errOut, rc = cli("instance", "describe")
	testutil.Equal(t, 1, rc)
	testutil.Contains(t, errOut, "--name instance-aliyun")
}
