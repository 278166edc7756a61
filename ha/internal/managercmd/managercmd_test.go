package managercmd

import (
	"bytes"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/infrakit/pkg/discovery"
	"github.com/docker/infrakit/pkg/leader"
	"github.com/docker/infrakit/pkg/rpc/mux"
	"github.com/spf13/pflag"
)

func parse(t *testing.T, args ...string) (*Config, error) {
	t.Helper()
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	var c Config
	c.Flags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return &c, c.Validate()
}

func TestValidateNamesFlagAndRule(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--backend", "zookeeper"}, "--backend \"zookeeper\": must be etcd or file"},
		{[]string{"--etcd-endpoints", "127.0.0.1"}, "--etcd-endpoints \"127.0.0.1\": must be host:port"},
		{[]string{"--etcd-endpoints", "127.0.0.1:99999"}, "port must be 1-65535"},
		{[]string{"--etcd-endpoints", "ftp://127.0.0.1:2379"}, "scheme must be http or https"},
		{[]string{"--store-prefix", "a/../b"}, "--store-prefix \"a/../b\": must be non-empty and contain no '..'"},
		{[]string{"--name", "../group"}, "--name \"../group\": must be a plain plugin name"},
		{[]string{"--group-plugin", "group"}, "--group-plugin \"group\": must be set and differ from --name"},
		{[]string{"--mux-listen", "localhost"}, "--mux-listen \"localhost\": must be [host]:port"},
		{[]string{"--poll-interval", "0s"}, "must be positive"},
		{[]string{"--commit-retries", "0"}, "--commit-retries 0: must be at least 1"},
		{[]string{"--id", ""}, "--id: must not be empty"},
	} {
		_, err := parse(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one containing %q", tc.args, err, tc.want)
		}
	}
	c, err := parse(t, "--etcd-endpoints", "http://127.0.0.1:2379,127.0.0.2:2379", "--mux-listen", ":24864")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Endpoints) != 2 || c.Endpoints[0] != "http://127.0.0.1:2379" {
		t.Fatalf("endpoints %v", c.Endpoints)
	}
}

func TestEnvironmentGivesDefaults(t *testing.T) {
	t.Setenv(EnvEtcdEndpoints, "10.0.0.1:2379, 10.0.0.2:2379")
	t.Setenv(EnvStorePrefix, "prod/")
	t.Setenv(EnvGroupPlugin, "group-x")
	t.Setenv(EnvMuxListen, ":25000")
	c, err := parse(t)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.Endpoints, ",") != "10.0.0.1:2379,10.0.0.2:2379" || c.StorePrefix != "prod/" ||
		c.GroupPlugin != "group-x" || c.MuxListen != ":25000" {
		t.Fatalf("config from env: %+v", c)
	}
	// a flag wins over the environment
	c, _ = parse(t, "--store-prefix", "dev/")
	if c.StorePrefix != "dev/" {
		t.Fatalf("store prefix %q, want the flag's", c.StorePrefix)
	}
}

func TestMainRejectsBadInputBeforeStarting(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("INFRAKIT_PLUGINS_DIR", dir)
	var stderr bytes.Buffer
	if code := Main([]string{"--backend", "nope"}, &stderr); code != 2 {
		t.Fatalf("exit %d, want 2; stderr %s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "--backend \"nope\"") {
		t.Fatalf("stderr %q", stderr.String())
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("bad input created %v", ents)
	}
}

// locations is a leader.Store whose GetLocation answers from a list: the
// etcd store answers nil while etcd elects a leader.
type locations struct {
	mu   sync.Mutex
	seq  []*url.URL
	seen int
}

func (l *locations) UpdateLocation(*url.URL) error { return nil }

func (l *locations) GetLocation() (*url.URL, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seen++
	if len(l.seq) == 0 {
		return nil, nil
	}
	u := l.seq[0]
	l.seq = l.seq[1:]
	return u, nil
}

func (l *locations) calls() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seen
}

// TestMuxSurvivesUnknownLeaderLocation drives InfraKit's real mux location
// updater through "the leader is at X" then "no leader known": without
// muxRegistry the updater dereferences the nil location and the process
// dies (this test binary with it).
func TestMuxSurvivesUnknownLeaderLocation(t *testing.T) {
	t.Setenv("INFRAKIT_PLUGINS_DIR", t.TempDir())
	other, _ := url.Parse("http://10.0.0.9:24864")
	store := &locations{seq: []*url.URL{other}}
	events := make(chan leader.Leadership)
	srv, err := mux.NewServer("127.0.0.1:0", "localhost:1", func() discovery.Plugins { return nil },
		mux.Options{Leadership: events, Registry: muxRegistry{store}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	for range 4 {
		events <- leader.Leadership{Status: leader.NotLeader}
	}
	deadline := time.Now().Add(10 * time.Second)
	for store.calls() < 4 {
		if time.Now().After(deadline) {
			t.Fatalf("mux asked for the location %d times, want 4", store.calls())
		}
		time.Sleep(10 * time.Millisecond)
	}
	u, err := muxRegistry{store}.GetLocation()
	if u == nil || u.String() != "" || err == nil {
		t.Fatalf("unknown location: got %v, %v; want an empty URL and an error", u, err)
	}
}

func TestRemoveStalePID(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "24864.pid")
	// a process that has exited: its pid is free
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(strconv.Itoa(cmd.Process.Pid)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := removeStalePID(path); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("stale pid file still there: %v", err)
	}
	// a live process (this one's parent): refused, file kept
	if err := os.WriteFile(path, []byte(strconv.Itoa(os.Getppid())), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := removeStalePID(path); err == nil || !strings.Contains(err.Error(), "is running") {
		t.Fatalf("live pid: error %v, want 'is running'", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("live pid file removed: %v", err)
	}
	if err := removeStalePID(filepath.Join(dir, "none.pid")); err != nil {
		t.Fatalf("missing file: %v", err)
	}
}
