package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	rpc_manager "github.com/docker/infrakit/pkg/rpc/manager"

	"infrakit.aliyun/emulator"
	"infrakit.aliyun/emulator/emuctl"
	"infrakit.aliyun/internal/e2e/harness"
)

// Pace: the manager checks leadership every managerPoll, the group plugin
// polls the ECS plugin every groupPoll; waits give up after waitTimeout.
const (
	managerPoll = "300ms"
	groupPoll   = "1s"
	pollEvery   = 100 * time.Millisecond
	waitTimeout = 90 * time.Second
	namespace   = "ha"
)

// node is one machine of the cluster: its own INFRAKIT_HOME and plugins
// directory, etcd member, mux port and five processes.
type node struct {
	name                  string
	env                   *harness.Env
	client, peer, muxPort int
	etcd, manager, group  *harness.Process
	vanilla, plugin       *harness.Process
	dataDir               string
	alive                 bool
	etcdArgs, managerArgs []string
	groupArgs, pluginArgs []string
}

func (n *node) clientURL() string { return "http://127.0.0.1:" + strconv.Itoa(n.client) }

// cluster is three nodes over one ECS emulator.
type cluster struct {
	t     *testing.T
	ctx   context.Context
	emu   *emuctl.Client
	emuP  *harness.Process
	nodes []*node
}

// freePorts returns n TCP ports that were free a moment ago.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ls []net.Listener
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

// newCluster starts the emulator and three full nodes, and waits until one
// manager leads.
func newCluster(t *testing.T) *cluster {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	c := &cluster{t: t, ctx: ctx}
	emuEnv := harness.New(t, harness.Default)
	c.emuP = emuEnv.Start(Emulator, Emulator, []string{"--listen", "127.0.0.1:0",
		"--boot-time", "30s", "--time-scale", "30", "--seed", "13"})
	m, err := c.emuP.WaitForOutput(emuctl.ListenLine, harness.StartTimeout)
	if err != nil {
		t.Fatalf("%v\n%s", err, c.emuP.Output())
	}
	c.emu = emuctl.New(m[1])

	ports := freePorts(t, 9)
	var initial []string
	for i := range 3 {
		n := &node{name: fmt.Sprintf("n%d", i+1), client: ports[3*i], peer: ports[3*i+1], muxPort: ports[3*i+2]}
		n.env = harness.New(t, harness.Default, "INFRAKIT_GROUP_POLL_INTERVAL="+groupPoll,
			// a few provisions at a time, so a scale-up takes several polls
			"INFRAKIT_GROUP_MAX_PARALLEL_NUM=2")
		n.dataDir = n.env.Path("etcd")
		c.nodes = append(c.nodes, n)
		initial = append(initial, fmt.Sprintf("%s=http://127.0.0.1:%d", n.name, n.peer))
	}
	for i, n := range c.nodes {
		peerURL := fmt.Sprintf("http://127.0.0.1:%d", n.peer)
		n.etcdArgs = []string{"--name", n.name, "--data-dir", n.dataDir,
			"--listen-client-urls", n.clientURL(), "--advertise-client-urls", n.clientURL(),
			"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
			"--initial-cluster", strings.Join(initial, ","), "--initial-cluster-state", "new",
			"--initial-cluster-token", "infrakit-ha-e2e", "--log-level", "warn"}
		// this node's member first: InfraKit's manager leads while the
		// member at its first endpoint leads etcd
		endpoints := []string{n.clientURL()}
		for j, o := range c.nodes {
			if j != i {
				endpoints = append(endpoints, o.clientURL())
			}
		}
		n.managerArgs = []string{"--id", n.name, "--etcd-endpoints", strings.Join(endpoints, ","),
			"--store-prefix", "infrakit-e2e/", "--poll-interval", managerPoll, "--commit-retry-interval", "500ms",
			"--mux-listen", fmt.Sprintf("127.0.0.1:%d", n.muxPort), "--log", "4"}
		n.groupArgs = []string{"--name", "group-stateless", "--log", "4"}
		n.pluginArgs = []string{"--endpoint", c.emu.URL, "--region", emulator.DefaultRegion,
			"--access-key-id", emulator.DefaultAccessKeyID, "--access-key-secret", emulator.DefaultAccessKeySecret,
			"--namespace-tags", "e2e=" + namespace, "--spot-watch-interval", "300ms", "--log", "4"}
	}
	for _, n := range c.nodes {
		n.etcd = n.env.Start(n.name+"/etcd", Etcd, n.etcdArgs)
	}
	for _, n := range c.nodes {
		c.waitEtcd(n)
	}
	for _, n := range c.nodes {
		n.plugin = n.env.StartPlugin("instance-aliyun", Plugin, n.pluginArgs...)
		n.vanilla = n.env.StartPlugin("flavor-vanilla", harness.Vanilla)
		c.startControl(n)
	}
	c.waitLeader(nil)
	return c
}

// startControl starts a node's group plugin and manager (again, after a
// kill: etcd comes back with its data dir and rejoins).
func (c *cluster) startControl(n *node) {
	c.t.Helper()
	n.group = n.env.StartPlugin("group-stateless", harness.Group, n.groupArgs...)
	n.manager = n.env.StartPlugin("group", Manager, n.managerArgs...)
	n.alive = true
}

// killNode SIGKILLs a node's etcd member, manager and group plugin (its
// flavor and ECS plugins keep running, as they would on a node whose
// InfraKit control plane crashed).
func (c *cluster) killNode(n *node) {
	c.t.Helper()
	n.etcd.Kill()
	n.manager.Kill()
	n.group.Kill()
	n.alive = false
}

// restartNode brings a killed node back: etcd rejoins from its data dir.
func (c *cluster) restartNode(n *node) {
	c.t.Helper()
	n.etcd = n.env.Start(n.name+"/etcd", Etcd, n.etcdArgs)
	c.waitEtcd(n)
	c.startControl(n)
}

// waitEtcd waits until the member answers /health with health true (it
// does once the cluster has a leader and the member has caught up).
func (c *cluster) waitEtcd(n *node) {
	c.t.Helper()
	healthy := func() bool {
		resp, err := http.Get(n.clientURL() + "/health")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var h struct{ Health string }
		return resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&h) == nil && h.Health == "true"
	}
	if !harness.EventuallyEvery(harness.StartTimeout, pollEvery, healthy) {
		c.t.Fatalf("%s: etcd not healthy within %v\n%s", n.name, harness.StartTimeout, n.etcd.Output())
	}
}

// isLeader asks a node's manager over its socket.
func isLeader(n *node) (bool, error) {
	cl, err := rpc_manager.NewClient(n.env.SocketPath("group"))
	if err != nil {
		return false, err
	}
	return cl.IsLeader()
}

// leaders is the live nodes whose manager says it leads, and the last
// error asking one.
func (c *cluster) leaders() ([]*node, error) {
	var out []*node
	var last error
	for _, n := range c.nodes {
		if !n.alive {
			continue
		}
		ok, err := isLeader(n)
		if err != nil {
			last = fmt.Errorf("%s: %w", n.name, err)
		} else if ok {
			out = append(out, n)
		}
	}
	return out, last
}

// waitLeader waits until exactly one live manager, not old, leads and
// returns it.
func (c *cluster) waitLeader(old *node) *node {
	c.t.Helper()
	var got []*node
	var err error
	if !harness.EventuallyEvery(waitTimeout, pollEvery, func() bool {
		got, err = c.leaders()
		return len(got) == 1 && got[0] != old
	}) {
		c.t.Fatalf("no single new leader within %v: %d leading (last error: %v)", waitTimeout, len(got), err)
	}
	return got[0]
}

// cli runs the infrakit CLI on a node.
func (c *cluster) cli(n *node, args ...string) string {
	c.t.Helper()
	return n.env.MustCLI(args...)
}

// spec is one of the main module's example specs with edits applied.
func (c *cluster) spec(n *node, example, file string, edits ...string) string {
	c.t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "example", example))
	if err != nil {
		c.t.Fatal(err)
	}
	s := string(b)
	for i := 0; i+1 < len(edits); i += 2 {
		if !strings.Contains(s, edits[i]) {
			c.t.Fatalf("%s lacks %q", example, edits[i])
		}
		s = strings.Replace(s, edits[i], edits[i+1], 1)
	}
	return n.env.WriteFile(file, s)
}

// live is the emulator's live instances in the test's namespace.
func (c *cluster) live() []emulator.InstanceView {
	c.t.Helper()
	v, err := c.emu.Live(c.ctx, map[string]string{"e2e": namespace})
	if err != nil {
		c.t.Fatalf("emulator: %v", err)
	}
	return v
}

// all is every instance the emulator knows, released ones included.
func (c *cluster) all() []emulator.InstanceView {
	c.t.Helper()
	v, err := c.emu.Instances(c.ctx)
	if err != nil {
		c.t.Fatalf("emulator: %v", err)
	}
	return v
}

// wait polls cond until it holds or fails the test with detail().
func (c *cluster) wait(what string, cond func() bool, detail func() string) {
	c.t.Helper()
	if harness.EventuallyEvery(waitTimeout, pollEvery, cond) {
		return
	}
	c.t.Fatalf("timed out after %v waiting for %s\n%s", waitTimeout, what, detail())
}

func dump(v []emulator.InstanceView) string {
	var b strings.Builder
	for _, i := range v {
		fmt.Fprintf(&b, "%s %s released=%v group=%q hash=%q\n", i.InstanceId, i.Status, i.Released,
			i.Tags["infrakit.group"], i.Tags["infrakit.config.hash"])
	}
	return b.String()
}

// setLatency sets the emulator's added latency per ECS API answer.
func (c *cluster) setLatency(ms int) {
	c.t.Helper()
	if err := c.emu.SetFaults(c.ctx, emulator.Faults{LatencyMS: ms}); err != nil {
		c.t.Fatalf("emulator: %v", err)
	}
}
