package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/Sirupsen/logrus"

	"infrakit.aliyun/internal/cloud"
	"infrakit.aliyun/internal/redact"
	"infrakit.aliyun/internal/rpcserver"
)

// run is the daemon: settle the options, build the plugin, start the spot
// watcher and events listener, and serve until ctx ends or a signal comes.
func run(ctx context.Context, opts *Options) error {
	s, err := opts.settle()
	if err != nil {
		return err
	}
	defer applyMemoryLimit(s.memLimit, s.setMemLimit)()
	s.logStart(opts)

	// Fail fast, before the plugin is built; Serve checks again.
	if err := rpcserver.CheckNotRunning(s.dir, opts.Name); err != nil {
		return err
	}
	// Metrics first: a bad --metrics-listen fails before the plugin is
	// built, and the plugin records from its first call (metrics.go).
	m, stopMetrics, err := startMetrics(opts, s.log)
	if err != nil {
		return err
	}
	defer stopMetrics()
	p, closePlugin, err := newPlugin(opts, s, m) // plugin.go
	if err != nil {
		return err
	}
	defer closePlugin()
	// Spot reclaim watcher and CloudMonitor listener (spot.go).
	stopSpot, err := startSpot(opts.Spot, p, s.log, m)
	if err != nil {
		return err
	}
	defer stopSpot()

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		// After the first signal, restore the default handling: a second
		// SIGINT/SIGTERM during a slow shutdown kills the process at once.
		<-ctx.Done()
		stop()
	}()
	err = rpcserver.Serve(ctx, rpcserver.Options{Name: opts.Name, Dir: s.dir, Logger: s.log, Ready: opts.Ready, Secrets: s.secrets,
		Observe: m.SPICall}, p)
	if err != nil {
		return err
	}
	s.log.Info("Stopped")
	return nil
}

// settled is what run works with once the options are checked.
type settled struct {
	log     *logrus.Logger
	cfg     cloud.Config // credentials, region and endpoint resolved
	tags    map[string]string
	dir     string   // the plugin directory
	secrets []string // scrubbed from logs and RPC errors
	// memLimit is the soft memory limit to set, when setMemLimit
	// (memlimit.go).
	memLimit    int64
	setMemLimit bool
}

// settle checks the options (in the order their errors are reported),
// builds the logger and resolves credentials, region and plugin directory.
func (o *Options) settle() (*settled, error) {
	s := &settled{secrets: o.candidateSecrets()}
	var err error
	if s.log, err = NewLogger(o.ErrOut, o.LogLevel, o.LogFormat, s.secrets); err != nil {
		return nil, err
	}
	if err := rpcserver.ValidateName(o.Name); err != nil {
		return nil, fmt.Errorf("--name: %w", err)
	}
	if s.cfg, err = cloud.ResolveEnv(o.Cloud, o.cloudEnv()); err != nil {
		return nil, err
	}
	// Secrets read from profile files or the metadata service: scrubbed from
	// the log and, with the others, from errors sent back over RPC.
	s.log.Hooks.Add(redact.NewHook(s.cfg.Secrets()...))
	s.secrets = append(s.secrets, s.cfg.Secrets()...)
	RouteInfraKitLogs(s.log) // InfraKit's own lines: same format, same redaction
	if s.tags, err = ParseNamespaceTags(strings.Join(o.NamespaceTags, ",")); err != nil {
		return nil, err
	}
	if o.RateLimit < 0 {
		return nil, errors.New("--rate-limit must be 0 (unlimited) or a positive number of calls per second")
	}
	if o.DescribeCacheTTL < 0 {
		return nil, errors.New("--describe-cache-ttl must be 0 (no cache) or a positive duration")
	}
	if s.memLimit, s.setMemLimit, err = o.memoryLimit(); err != nil {
		return nil, err
	}
	if s.dir, err = rpcserver.PluginsDir(o.LookupEnv); err != nil {
		return nil, err
	}
	return s, nil
}

// logStart logs, once, what the daemon runs with (never a secret).
func (s *settled) logStart(o *Options) {
	s.log.WithFields(logrus.Fields{
		"version":            Version,
		"revision":           Revision,
		"name":               o.Name,
		"dir":                s.dir,
		"region":             s.cfg.Region,
		"region_source":      s.cfg.RegionSource,
		"endpoint":           redact.URL(s.cfg.Endpoint),
		"endpoint_source":    s.cfg.EndpointSource,
		"credential_source":  s.cfg.Source,
		"security_token_set": s.cfg.SecurityToken != "",
		"credentials_expire": s.cfg.Temporary(),
		"namespace_tags":     FormatTags(s.tags),
		"rate_limit":         o.RateLimit,
		"describe_cache_ttl": o.DescribeCacheTTL.String(),
		"metrics_listen":     o.Metrics.Listen,
		"memory_limit":       formatMemoryLimit(debug.SetMemoryLimit(-1)),
	}).Info("Starting " + CommandName)
	o.logLegacyFlags(s.log)
}
