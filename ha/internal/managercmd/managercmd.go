// Package managercmd runs InfraKit's manager (pkg/manager) as a standalone
// process: the "group" plugin that elects a leader, keeps the committed group
// specs in a store and, on becoming leader, re-commits them to the stateless
// group plugin beside it ("group-stateless").
//
// The wiring is done here rather than through pkg/run/v0/manager because
// upstream's configEtcdBackends returns early when it is given its options
// (`if managerConfig != nil { return nil }`), so with the etcd backend the
// leader detector is never set and pkg/manager panics when it starts. The
// pieces wired here are InfraKit's own: pkg/leader/etcd/v3 and
// pkg/store/etcd/v3 (or pkg/leader/file and pkg/store/file), pkg/manager and
// pkg/rpc/mux.
package managercmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	log "github.com/Sirupsen/logrus"
	"github.com/coreos/etcd/clientv3"
	"github.com/coreos/etcd/clientv3/namespace"
	"github.com/docker/infrakit/pkg/cli"
	discovery_local "github.com/docker/infrakit/pkg/discovery/local"
	"github.com/docker/infrakit/pkg/leader"
	etcd_leader "github.com/docker/infrakit/pkg/leader/etcd/v3"
	file_leader "github.com/docker/infrakit/pkg/leader/file"
	logutil "github.com/docker/infrakit/pkg/log"
	"github.com/docker/infrakit/pkg/manager"
	"github.com/docker/infrakit/pkg/plugin"
	"github.com/docker/infrakit/pkg/rpc/mux"
	rpc_server "github.com/docker/infrakit/pkg/rpc/server"
	"github.com/docker/infrakit/pkg/run"
	run_local "github.com/docker/infrakit/pkg/run/local"
	"github.com/docker/infrakit/pkg/run/scope"
	etcd_store "github.com/docker/infrakit/pkg/store/etcd/v3"
	file_store "github.com/docker/infrakit/pkg/store/file"
	"github.com/docker/infrakit/pkg/types"
	etcd_util "github.com/docker/infrakit/pkg/util/etcd/v3"
	"github.com/spf13/pflag"

	"infrakit.aliyun/internal/infrakitplugins"
)

// Environment variables read for the flags' defaults (flags win).
const (
	EnvBackend        = "INFRAKIT_MANAGER_BACKEND"
	EnvEtcdEndpoints  = "INFRAKIT_ETCD_ENDPOINTS"
	EnvStorePrefix    = "INFRAKIT_STORE_PREFIX"
	EnvGroupPlugin    = "INFRAKIT_MANAGER_GROUP"
	EnvMetadataPlugin = "INFRAKIT_MANAGER_METADATA"
	EnvMuxListen      = "INFRAKIT_MUX_LISTEN"
	EnvAdvertise      = "INFRAKIT_ADVERTISE"
	EnvLeaderFile     = "INFRAKIT_LEADER_FILE"
	EnvStoreDir       = "INFRAKIT_STORE_DIR"
	EnvID             = "INFRAKIT_ID"
)

// Config is the manager's command line.
type Config struct {
	Name            string
	ID              string
	Backend         string
	GroupPlugin     string
	MetadataPlugin  string
	Endpoints       []string
	StorePrefix     string
	PollInterval    time.Duration
	RequestTimeout  time.Duration
	DialTimeout     time.Duration
	CommitRetries   int
	CommitRetryWait time.Duration
	MuxListen       string
	MuxAdvertise    string
	LeaderFile      string
	StoreDir        string
}

func getenv(key, def string) string {
	if v, ok := os.LookupEnv(key); ok && v != "" {
		return v
	}
	return def
}

// Flags registers the command line on fs with defaults from the environment.
func (c *Config) Flags(fs *pflag.FlagSet) {
	host, _ := os.Hostname()
	fs.StringVar(&c.Name, "name", "group", "plugin name the manager listens as (its socket in the plugins directory)")
	fs.StringVar(&c.ID, "id", getenv(EnvID, host), "this node's name, in logs and (file backend) the leader file; env "+EnvID)
	fs.StringVar(&c.Backend, "backend", getenv(EnvBackend, "etcd"), "leadership and spec store: etcd or file; env "+EnvBackend)
	fs.StringVar(&c.GroupPlugin, "group-plugin", getenv(EnvGroupPlugin, "group-stateless"), "the stateless group plugin the leader commits to; env "+EnvGroupPlugin)
	fs.StringVar(&c.MetadataPlugin, "metadata-plugin", getenv(EnvMetadataPlugin, "vars"), "the updatable metadata plugin; env "+EnvMetadataPlugin)
	fs.StringSliceVar(&c.Endpoints, "etcd-endpoints", splitList(getenv(EnvEtcdEndpoints, "127.0.0.1:2379")),
		"etcd client endpoints, comma separated; the FIRST must be this node's own member (this manager leads while that member leads etcd); env "+EnvEtcdEndpoints)
	fs.StringVar(&c.StorePrefix, "store-prefix", getenv(EnvStorePrefix, "infrakit/"), "etcd key prefix for everything the manager stores (specs, vars, leader location); env "+EnvStorePrefix)
	fs.DurationVar(&c.PollInterval, "poll-interval", 5*time.Second, "how often leadership is checked")
	fs.DurationVar(&c.RequestTimeout, "request-timeout", time.Second, "timeout of each etcd request")
	fs.DurationVar(&c.DialTimeout, "dial-timeout", 5*time.Second, "timeout of the first connection to etcd")
	fs.IntVar(&c.CommitRetries, "commit-retries", 10, "how often a new leader retries committing the stored specs")
	fs.DurationVar(&c.CommitRetryWait, "commit-retry-interval", 2*time.Second, "wait between those retries")
	fs.StringVar(&c.MuxListen, "mux-listen", getenv(EnvMuxListen, ":24864"), "TCP listener that forwards remote CLI calls to the leader (empty: none); env "+EnvMuxListen)
	fs.StringVar(&c.MuxAdvertise, "mux-advertise", getenv(EnvAdvertise, ""), "host:port other nodes reach this mux at (default localhost:<mux port>); env "+EnvAdvertise)
	fs.StringVar(&c.LeaderFile, "leader-file", getenv(EnvLeaderFile, ""), "file backend: file holding the leader's --id (default $INFRAKIT_HOME/leader); env "+EnvLeaderFile)
	fs.StringVar(&c.StoreDir, "store-dir", getenv(EnvStoreDir, ""), "file backend: directory of the stored specs (default $INFRAKIT_HOME/configs); env "+EnvStoreDir)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Validate checks the command line; each error names the flag and the rule.
func (c *Config) Validate() error {
	if c.Name == "" || strings.ContainsAny(c.Name, "/.") {
		return fmt.Errorf("--name %q: must be a plain plugin name (no '/' or '.')", c.Name)
	}
	if c.GroupPlugin == "" || c.GroupPlugin == c.Name {
		return fmt.Errorf("--group-plugin %q: must be set and differ from --name %q", c.GroupPlugin, c.Name)
	}
	if c.ID == "" {
		return errors.New("--id: must not be empty")
	}
	switch c.Backend {
	case "etcd":
		if len(c.Endpoints) == 0 {
			return errors.New("--etcd-endpoints: at least one endpoint is required")
		}
		for _, e := range c.Endpoints {
			if _, _, err := splitHostPort(e); err != nil {
				return fmt.Errorf("--etcd-endpoints %q: %w", e, err)
			}
		}
		if c.StorePrefix == "" || strings.Contains(c.StorePrefix, "..") {
			return fmt.Errorf("--store-prefix %q: must be non-empty and contain no '..'", c.StorePrefix)
		}
	case "file":
	default:
		return fmt.Errorf("--backend %q: must be etcd or file", c.Backend)
	}
	if c.PollInterval <= 0 || c.RequestTimeout <= 0 || c.DialTimeout <= 0 || c.CommitRetryWait <= 0 {
		return errors.New("--poll-interval, --request-timeout, --dial-timeout, --commit-retry-interval: must be positive")
	}
	if c.CommitRetries < 1 {
		return fmt.Errorf("--commit-retries %d: must be at least 1", c.CommitRetries)
	}
	if c.MuxListen != "" {
		if _, port, err := splitHostPort(c.MuxListen); err != nil || port == "" {
			return fmt.Errorf("--mux-listen %q: must be [host]:port", c.MuxListen)
		}
	}
	return nil
}

// splitHostPort accepts host:port and http(s)://host:port.
func splitHostPort(s string) (string, string, error) {
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		if err != nil {
			return "", "", err
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			return "", "", fmt.Errorf("scheme must be http or https")
		}
		s = u.Host
	}
	i := strings.LastIndex(s, ":")
	if i < 0 {
		return "", "", errors.New("must be host:port")
	}
	port := s[i+1:]
	if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
		return "", "", errors.New("port must be 1-65535")
	}
	return s[:i], port, nil
}

// Main parses args, runs the manager until SIGINT/SIGTERM and returns the
// exit code.
func Main(args []string, stderr io.Writer) int {
	fs := pflag.NewFlagSet("infrakit-manager", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	var c Config
	c.Flags(fs)
	logOptions := logutil.ProdDefaults
	fs.AddFlagSet(cli.Flags(&logOptions))
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: infrakit-manager [flags]\n\nRuns InfraKit's manager as the %q plugin in %s: one of several managers, the\nleader (elected through etcd, or named in a leader file) commits the stored group specs to its\nstateless group plugin.\n\nFlags:\n%s",
			"group", discovery_local.Dir(), fs.FlagUsages())
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "infrakit-manager: unexpected arguments %v\n", fs.Args())
		return 2
	}
	if err := c.Validate(); err != nil {
		fmt.Fprintf(stderr, "infrakit-manager: %v\n", err)
		return 2
	}
	logutil.Configure(&logOptions)
	kind := infrakitplugins.Kind{Program: "infrakit-manager", DefaultName: c.Name, Run: c.Run}
	if err := infrakitplugins.Serve(kind, plugin.Name(c.Name), "", nil); err != nil {
		fmt.Fprintf(stderr, "infrakit-manager: %v\n", err)
		return 1
	}
	return 0
}

// backends are the leader detector and the stores of one backend.
type backends struct {
	leader   leader.Detector
	location leader.Store
	specs    manager.Options
	close    func()
}

func (c *Config) etcdBackends() (*backends, error) {
	client, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints, DialTimeout: c.DialTimeout})
	if err != nil {
		return nil, fmt.Errorf("connect etcd %v: %w", c.Endpoints, err)
	}
	// Everything the manager writes (specs, vars, the leader's location) goes
	// under the prefix, so several InfraKit installations can share one etcd.
	// Status (the leadership check) is not a key and is not affected.
	client.KV = namespace.NewKV(client.KV, c.StorePrefix)
	client.Watcher = namespace.NewWatcher(client.Watcher, c.StorePrefix)
	client.Lease = namespace.NewLease(client.Lease, c.StorePrefix)
	wrapped := &etcd_util.Client{Client: client, Options: etcd_util.Options{
		Config:         clientv3.Config{Endpoints: c.Endpoints},
		RequestTimeout: c.RequestTimeout,
	}}
	specs, err := etcd_store.NewSnapshot(wrapped, "specs")
	if err != nil {
		client.Close()
		return nil, fmt.Errorf("open spec store: %w", err)
	}
	vars, err := etcd_store.NewSnapshot(wrapped, c.MetadataPlugin+".vars")
	if err != nil {
		client.Close()
		return nil, fmt.Errorf("open vars store: %w", err)
	}
	return &backends{
		leader:   leader.NewPoller(c.PollInterval, c.amILeader(wrapped)),
		location: etcd_leader.NewStore(wrapped),
		specs:    manager.Options{SpecStore: specs, MetadataStore: vars},
		close:    func() { client.Close() },
	}, nil
}

// amILeader is InfraKit's etcd leadership check (this manager leads while
// the member at its first endpoint leads etcd) bounded by --request-timeout:
// etcd_leader.NewDetector calls it with context.Background(), and a Status
// call to a member that lost its peers can then block the poller, and with
// it every leadership receiver, for good.
func (c *Config) amILeader(client *etcd_util.Client) leader.CheckLeaderFunc {
	return func() (bool, error) {
		ctx, cancel := context.WithTimeout(context.Background(), c.RequestTimeout)
		defer cancel()
		return etcd_leader.AmILeader(ctx, client)
	}
}

func (c *Config) fileBackends() (*backends, error) {
	// the defaults of upstream's pkg/run/v0/manager file backend
	home := run_local.InfrakitHome()
	leaderFile, storeDir := c.LeaderFile, c.StoreDir
	if leaderFile == "" {
		leaderFile = filepath.Join(home, "leader")
	}
	if storeDir == "" {
		storeDir = filepath.Join(home, "configs")
	}
	if err := os.MkdirAll(storeDir, 0o755); err != nil {
		return nil, fmt.Errorf("create store dir %s: %w", storeDir, err)
	}
	det, err := file_leader.NewDetector(c.PollInterval, leaderFile, c.ID)
	if err != nil {
		return nil, fmt.Errorf("watch leader file %s: %w", leaderFile, err)
	}
	specs, err := file_store.NewSnapshot(storeDir, "global.config")
	if err != nil {
		return nil, fmt.Errorf("open spec store %s: %w", storeDir, err)
	}
	vars, err := file_store.NewSnapshot(storeDir, c.MetadataPlugin+".vars")
	if err != nil {
		return nil, fmt.Errorf("open vars store %s: %w", storeDir, err)
	}
	return &backends{
		leader:   det,
		location: file_leader.NewStore(leaderFile + ".loc"),
		specs:    manager.Options{SpecStore: specs, MetadataStore: vars},
		close:    func() {},
	}, nil
}

// Run is the manager's plugin run function (infrakit's inproc signature).
func (c *Config) Run(sc scope.Scope, name plugin.Name, _ *types.Any) (plugin.Transport, map[run.PluginCode]interface{}, func(), error) {
	b, err := c.backends()
	if err != nil {
		return plugin.Transport{}, nil, nil, err
	}
	opts := manager.Options{
		Name:                           name,
		Group:                          plugin.Name(c.GroupPlugin),
		Metadata:                       plugin.Name(c.MetadataPlugin),
		Leader:                         b.leader,
		LeaderStore:                    b.location,
		SpecStore:                      b.specs.SpecStore,
		MetadataStore:                  b.specs.MetadataStore,
		LeaderCommitSpecsRetries:       c.CommitRetries,
		LeaderCommitSpecsRetryInterval: types.FromDuration(c.CommitRetryWait),
	}
	logger := log.WithFields(log.Fields{"node": c.ID, "backend": c.Backend})
	mgr := manager.NewManager(sc, opts)
	if _, err := mgr.Start(); err != nil {
		b.close()
		return plugin.Transport{}, nil, nil, fmt.Errorf("start manager: %w", err)
	}
	// Only after Start: leader.Poller.Start does not poll when it already
	// has a receiver.
	logLeadership(b.leader.Receive(), logger)
	muxServer, err := c.startMux(sc, b, logger)
	if err != nil {
		mgr.Stop()
		b.close()
		return plugin.Transport{}, nil, nil, err
	}
	logger.WithFields(log.Fields{"name": name, "group": c.GroupPlugin, "endpoints": c.Endpoints, "prefix": c.StorePrefix}).Info("manager running")

	impls := map[run.PluginCode]interface{}{
		run.Manager:           mgr,
		run.Controller:        mgr.Controllers,
		run.Group:             mgr.Groups,
		run.MetadataUpdatable: mgr.Metadata,
	}
	onStop := func() {
		if muxServer != nil {
			muxServer.Stop()
		}
		mgr.Stop()
		b.close()
	}
	return plugin.Transport{Name: name}, impls, onStop, nil
}

// backends opens the --backend's leader detector and stores.
func (c *Config) backends() (*backends, error) {
	if c.Backend == "file" {
		return c.fileBackends()
	}
	return c.etcdBackends()
}

// logLeadership logs each leadership change. It drains changes to the end:
// a receiver must always be drained, the poller blocks on it otherwise.
func logLeadership(changes <-chan leader.Leadership, logger *log.Entry) {
	go func() {
		last := leader.Unknown
		for l := range changes {
			if l.Status != last {
				logger.WithFields(log.Fields{"leader": l.Status == leader.Leader, "status": l.Status}).Info("leadership")
				last = l.Status
			}
		}
	}()
}

// startMux starts the --mux-listen listener that forwards remote CLI calls
// to the leader (nil, nil without --mux-listen).
func (c *Config) startMux(sc scope.Scope, b *backends, logger *log.Entry) (rpc_server.Stoppable, error) {
	if c.MuxListen == "" {
		return nil, nil
	}
	_, port, _ := splitHostPort(c.MuxListen)
	advertise := c.MuxAdvertise
	if advertise == "" {
		advertise = "localhost:" + port
	}
	// pkg/rpc/mux refuses to start over <port>.pid; after a crash
	// (SIGKILL) that file is stale: remove it when its process is gone.
	if err := removeStalePID(filepath.Join(discovery_local.Dir(), port+".pid")); err != nil {
		return nil, err
	}
	muxServer, err := mux.NewServer(c.MuxListen, advertise, sc.Plugins,
		mux.Options{Leadership: b.leader.Receive(), Registry: muxRegistry{b.location}})
	if err != nil {
		return nil, fmt.Errorf("start mux %s: %w", c.MuxListen, err)
	}
	logger.WithFields(log.Fields{"listen": c.MuxListen, "advertise": advertise}).Info("mux listening")
	return muxServer, nil
}

// errNoLocation is muxRegistry's answer while no leader location is known.
var errNoLocation = errors.New("get leader location: none stored or etcd unreachable")

// muxRegistry works around pkg/rpc/mux's location updater, which calls
// f.String() on the location GetLocation returned even when that is nil
// (etcd_leader.Store returns nil while etcd elects a new leader, or before
// any leader stored one) and so crashes a non-leader manager right when the
// leader dies. A nil location becomes an empty URL with an error, which the
// updater ignores (it forwards only when err is nil).
type muxRegistry struct{ leader.Store }

func (r muxRegistry) GetLocation() (*url.URL, error) {
	u, err := r.Store.GetLocation()
	if u == nil {
		if err == nil {
			err = errNoLocation
		}
		return &url.URL{}, err
	}
	return u, err
}

// removeStalePID removes path when the process it names is gone.
func removeStalePID(path string) error {
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read mux pid file %s: %w", path, err)
	}
	if pid, perr := strconv.Atoi(strings.TrimSpace(string(raw))); perr == nil && pid > 0 && pid != os.Getpid() {
		if kerr := syscall.Kill(pid, 0); kerr == nil || errors.Is(kerr, syscall.EPERM) {
			return fmt.Errorf("mux pid file %s: process %d is running; stop it or use another --mux-listen port", path, pid)
		}
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove stale mux pid file %s: %w", path, err)
	}
	return nil
}
