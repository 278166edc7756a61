package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Sirupsen/logrus"
	"github.com/denverdino/aliyungo/ecs"
	logutil "github.com/docker/infrakit/pkg/log"
	"github.com/docker/infrakit/pkg/plugin"
	rpcinstance "github.com/docker/infrakit/pkg/rpc/instance"
	"github.com/docker/infrakit/pkg/spi/instance"
	"github.com/docker/infrakit/pkg/types"

	"infrakit.aliyun/emulator"
	"infrakit.aliyun/internal/cloudmonitor"
	"infrakit.aliyun/internal/httplimit"
	"infrakit.aliyun/internal/rpcserver"
)

// Issue #15, attacked from the daemon side: slow clients and many
// connections on both listeners, huge and batch JSON-RPC bodies, planted
// symlinks, long socket paths, and log hygiene of InfraKit's own lines.
// Timeouts are injected and short (hundreds of milliseconds), no sleeps.

// halfSent opens a connection and sends headers promising a body it never
// finishes.
func halfSent(t *testing.T, network, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial(network, addr)
	noErr(t, err)
	t.Cleanup(func() { c.Close() })
	_, err = fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"jsonrpc\":")
	noErr(t, err)
	return c
}

// answer reads what the server sends until it closes the connection (or
// the safety deadline passes, which fails the test).
func answer(t *testing.T, c net.Conn) string {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(c)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("the server kept the connection open: %q", b)
	}
	return string(b)
}

// request sends a whole request on a fresh connection and returns the answer.
func request(t *testing.T, network, addr, body string) string {
	t.Helper()
	c, err := net.Dial(network, addr)
	noErr(t, err)
	defer c.Close()
	_, err = fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	noErr(t, err)
	return answer(t, c)
}

func servedWithLimits(t *testing.T, limits httplimit.Limits, log *logrus.Logger) (dir, socket string) {
	t.Helper()
	dir = shortTempDir(t)
	ready := make(chan string, 1)
	socket, _ = startInBackground(t, "Serve", ready, func() string { return "" }, func(ctx context.Context) error {
		return rpcserver.Serve(ctx, rpcserver.Options{Name: "instance-test", Dir: dir, Logger: log, Limits: limits, Ready: func(s string) { ready <- s }}, newFakePlugin())
	})
	return dir, socket
}

const validateBody = `{"jsonrpc":"2.0","method":"Instance.Validate","params":{"Type":"","Properties":{}},"id":7}`

func TestAdversarialSlowClientsCannotStarveTheSPISocket(t *testing.T) {
	log, _ := testLogger(t, 4)
	_, socket := servedWithLimits(t, httplimit.Limits{ReadHeaderTimeout: time.Second, ReadTimeout: time.Second, IdleTimeout: time.Second,
		MaxConns: 2, QueueWait: 20 * time.Millisecond}, log)

	// Two half-sent bodies hold both slots...
	slow := []net.Conn{halfSent(t, "unix", socket), halfSent(t, "unix", socket)}
	// ...so the next connections are answered at once, with the limit named,
	// and hold nothing.
	refused := 0
	for i := 0; i < 10; i++ {
		got := request(t, "unix", socket, validateBody)
		if strings.Contains(got, "503 Service Unavailable") {
			contains(t, got, "too many connections: the plugin socket serves at most 2 at once")
			refused++
		}
	}
	if refused == 0 {
		t.Fatal("no connection over the cap was refused")
	}
	// The read timeout ends the half-sent bodies with a clear answer.
	for _, c := range slow {
		got := answer(t, c)
		contains(t, got, "400 Bad Request")
		contains(t, got, "invalid request: reading the body")
	}
	// And the socket serves again.
	got := request(t, "unix", socket, validateBody)
	contains(t, got, "200 OK")
	contains(t, got, `"id":7`)
}

func TestAdversarialHugeAndBatchBodies(t *testing.T) {
	log, _ := testLogger(t, 4)
	_, socket, _ := served(t, newFakePlugin(), log)
	huge := `{"jsonrpc":"2.0","method":"Instance.Validate","params":{"Type":"","Properties":"` + strings.Repeat("x", rpcserver.MaxRequestBytes) + `"},"id":1}`
	cases := map[string]string{
		"over the limit": huge,
		"batch":          `[` + validateBody + `,` + validateBody + `]`,
		"spaced batch":   " \n [" + validateBody + "]",
	}
	want := map[string]string{
		"over the limit": "invalid request: body over 4194304 bytes (4 MiB), the plugin's limit",
		"batch":          "invalid request: batch not supported",
		"spaced batch":   "invalid request: batch not supported",
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			status, got := rawRPC(t, socket, body)
			equal(t, http.StatusBadRequest, status)
			var env struct {
				Error struct {
					Code    int
					Message string
				}
				ID *json.RawMessage `json:"id"`
			}
			noErr(t, json.Unmarshal([]byte(got), &env))
			equal(t, -32600, env.Error.Code)
			contains(t, env.Error.Message, want[name])
			notContains(t, got, "EOF")
		})
	}
}

// checkingMarker takes every push, as the plugin does for a known spot
// instance.
type checkingMarker struct{}

func (checkingMarker) MarkInterrupting(string, string) (string, error) { return "checking", nil }

func TestAdversarialSlowClientsOnTheEventsListener(t *testing.T) {
	log, _ := testLogger(t, 4)
	l, err := cloudmonitor.Listen("127.0.0.1:0", false)
	noErr(t, err)
	m := checkingMarker{}
	stop := cloudmonitor.Serve(l, cloudmonitor.NewHandler(m, log), httplimit.Limits{ReadHeaderTimeout: 300 * time.Millisecond, ReadTimeout: 300 * time.Millisecond,
		IdleTimeout: 300 * time.Millisecond, MaxConns: 3}, log)
	defer stop()
	addr := l.Addr().String()

	slow := []net.Conn{halfSent(t, "tcp", addr), halfSent(t, "tcp", addr), halfSent(t, "tcp", addr)}
	// A flood while the slots are held: every one answered 503 at once.
	var wg sync.WaitGroup
	answers := make([]string, 30)
	for i := range answers {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			answers[i] = request(t, "tcp", addr, `{}`)
		}(i)
	}
	wg.Wait()
	refused := 0
	for _, a := range answers {
		if strings.Contains(a, "503 Service Unavailable") {
			contains(t, a, "too many connections: the events listener serves at most 3 at once")
			refused++
		}
	}
	if refused == 0 {
		t.Fatal("the flood over the cap was not refused")
	}
	for _, c := range slow {
		contains(t, answer(t, c), "read event body")
	}
	event := `{"product":"ECS","name":"` + cloudmonitor.InterruptionEventName + `","content":{"instanceId":"i-1","action":"delete"}}`
	contains(t, request(t, "tcp", addr, event), "202 Accepted")
}

func TestAdversarialPlantedSymlinksAreNotFollowed(t *testing.T) {
	base := shortTempDir(t)
	dir := filepath.Join(base, "p")
	noErr(t, os.MkdirAll(dir, 0o700))
	victim := filepath.Join(base, "victim")
	noErr(t, os.WriteFile(victim, []byte("precious"), 0o600))
	noErr(t, os.Symlink(victim, rpcserver.PidPath(dir, "instance-test")))
	noErr(t, os.Chmod(dir, 0o777)) // others can write: warned about
	log, buf := testLogger(t, 4)
	_, _, stop := servedIn(t, dir, newFakePlugin(), log)

	b, err := os.ReadFile(victim)
	noErr(t, err)
	equal(t, "precious", string(b), "the symlink's target")
	fi, err := os.Lstat(rpcserver.PidPath(dir, "instance-test"))
	noErr(t, err)
	equal(t, true, fi.Mode().IsRegular(), "the pid file replaced the symlink")
	b, err = os.ReadFile(rpcserver.PidPath(dir, "instance-test"))
	noErr(t, err)
	equal(t, strconv.Itoa(os.Getpid()), string(b))
	contains(t, buf.String(), "The plugin directory is writable by other users")
	contains(t, buf.String(), "mode=0777")
	noErr(t, stop())
	_, err = os.Lstat(rpcserver.PidPath(dir, "instance-test"))
	equal(t, true, os.IsNotExist(err), "pid file removed at exit")

	// A private dir is not warned about.
	log2, buf2 := testLogger(t, 4)
	_, _, stop2 := servedIn(t, filepath.Join(base, "private"), newFakePlugin(), log2)
	noErr(t, stop2())
	notContains(t, buf2.String(), "writable by other users")
}

func TestAdversarialSocketPathLengths(t *testing.T) {
	base := shortTempDir(t)
	for _, n := range []int{102, 104, 105, rpcserver.MaxSocketPath} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			pad := n - len(base) - len("/") - len("/instance-test")
			dir := filepath.Join(base, strings.Repeat("d", pad))
			equal(t, n, len(rpcserver.SocketPath(dir, "instance-test")))
			log, _ := testLogger(t, 4)
			_, socket, stop := servedIn(t, dir, newFakePlugin(), log)
			status, _ := rawRPC(t, socket, validateBody)
			equal(t, http.StatusOK, status)
			noErr(t, stop())
		})
	}
	long := filepath.Join(base, strings.Repeat("d", rpcserver.MaxSocketPath))
	err := rpcserver.CheckNotRunning(long, "instance-test")
	contains(t, fmt.Sprint(err), "bytes, over the 107 bytes a unix socket path can have; choose a shorter INFRAKIT_PLUGINS_DIR or --name")
	notContains(t, fmt.Sprint(err), "invalid argument")
}

func TestAdversarialInfraKitLogsHonourFormatAndRedaction(t *testing.T) {
	var buf bytes.Buffer
	l, err := NewLogger(&buf, 5, LogFormatJSON, []string{"very-secret-value"})
	noErr(t, err)
	prev := logutil.Root().GetHandler()
	t.Cleanup(func() { logutil.Root().SetHandler(prev) })
	RouteInfraKitLogs(l)
	lg := logutil.New("module", "rpc/test")
	lg.Info("hello from infrakit", "key", "very-secret-value", "signature", "abc123")
	lg.Debug("Client SEND", "payload", "UserData=init-marker", "V", logutil.V(1100))
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	equal(t, 1, len(lines), "verbose traces (whole payloads) are dropped")
	var entry map[string]interface{}
	noErr(t, json.Unmarshal([]byte(lines[0]), &entry))
	equal(t, "hello from infrakit", entry["msg"])
	equal(t, "infrakit", entry["component"])
	equal(t, "rpc/test", entry["module"])
	equal(t, "REDACTED", entry["key"])
	equal(t, "REDACTED", entry["signature"])
	notContains(t, buf.String(), "init-marker")
}

func TestAdversarialNamespaceTagsCountCharacters(t *testing.T) {
	e := strings.Repeat("é", 128)
	tags, err := ParseNamespaceTags(e + "=" + e)
	noErr(t, err)
	equal(t, e, tags[e])
	_, err = ParseNamespaceTags("k=" + e + "é")
	contains(t, fmt.Sprint(err), "value is 129 characters, at most 128")
}

// Through the real daemon and InfraKit's RPC client, against the emulator:
// instances created outside the namespace survive Destroy and Label, and a
// member's namespace and group tags survive Label.
func TestAdversarialForeignIDsThroughTheDaemon(t *testing.T) {
	srv, socket, stop, _ := startDaemonOnEmulator(t)
	defer stop()
	outside := ecs.NewECSClientWithEndpointAndSecurityToken(srv.URL(), hygieneKeyID, hygieneSecret, hygieneToken, emulator.DefaultRegion)
	run := func(tags map[string]string) string {
		v := url.Values{}
		for k, val := range goodRunInstances() {
			v.Set(k, fmt.Sprint(val))
		}
		v.Set("RegionId", emulator.DefaultRegion)
		v.Set("Amount", "1")
		i := 1
		for k, val := range tags {
			v.Set(fmt.Sprintf("Tag.%d.Key", i), k)
			v.Set(fmt.Sprintf("Tag.%d.Value", i), val)
			i++
		}
		var resp struct {
			InstanceIdSets struct{ InstanceIdSet []string }
		}
		noErr(t, outside.Invoke("RunInstances", v, &resp))
		return resp.InstanceIdSets.InstanceIdSet[0]
	}
	database := run(map[string]string{"role": "database"})
	otherCluster := run(map[string]string{"cluster": "b", "infrakit.group": "web"})

	c, err := rpcinstance.NewClient(plugin.Name(DefaultName), socket)
	noErr(t, err)
	for _, id := range []string{database, otherCluster} {
		err := c.Destroy(instance.ID(id), instance.Termination)
		contains(t, fmt.Sprint(err), "instance "+id+" is not managed by this plugin")
		err = c.Label(instance.ID(id), map[string]string{"cluster": "rel"})
		contains(t, fmt.Sprint(err), "is not managed by this plugin")
	}
	contains(t, fmt.Sprint(c.Destroy("", instance.Termination)), "the instance ID is empty")

	member, err := c.Provision(instance.Spec{Properties: types.AnyValueMust(map[string]interface{}{"RunInstances": goodRunInstances()}),
		Tags: map[string]string{"infrakit.group": "web", "infrakit.config.hash": "h1"}})
	noErr(t, err)
	contains(t, fmt.Sprint(c.Label(*member, map[string]string{"cluster": "b"})), `Labels["cluster"]: namespace tag`)
	contains(t, fmt.Sprint(c.Label(*member, map[string]string{"infrakit.group": "db"})), `Labels["infrakit.group"]: InfraKit tag`)
	noErr(t, c.Label(*member, map[string]string{"infrakit.group": "web", "infrakit.config.hash": "h2"}))

	for _, id := range []string{database, otherCluster} {
		v, ok := srv.Instance(id)
		equal(t, true, ok && !v.Released && v.Status != emulator.StatusReleased, "foreign instance "+id+" still live")
	}
	v, _ := srv.Instance(string(*member))
	equal(t, "rel", v.Tags["cluster"])
	equal(t, "web", v.Tags["infrakit.group"])
	equal(t, "h2", v.Tags["infrakit.config.hash"])
	noErr(t, c.Destroy(*member, instance.Termination))
}
