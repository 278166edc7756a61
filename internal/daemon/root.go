// Package daemon is the infrakit-instance-aliyun command: its flags
// (Options), credential and region resolution, logging, building the ECS
// plugin, and serving it until SIGINT/SIGTERM. The JSON-RPC server is
// internal/rpcserver, the CloudMonitor events listener
// internal/cloudmonitor, secret scrubbing internal/redact.
package daemon

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/Sirupsen/logrus"
	"github.com/denverdino/aliyungo/ecs"
	"github.com/docker/infrakit/pkg/spi/instance"
	"github.com/spf13/cobra"

	"infrakit.aliyun/internal/cloud"
	"infrakit.aliyun/internal/inventory"
	"infrakit.aliyun/internal/metrics"
	"infrakit.aliyun/internal/redact"
	"infrakit.aliyun/internal/rpcserver"
	ecsplugin "infrakit.aliyun/plugin/instance"
)

// DefaultName is the default plugin (and socket) name.
const DefaultName = "instance-aliyun"

// CommandName is the binary's name.
const CommandName = "infrakit-instance-aliyun"

// EnvPluginsDir chooses the plugin directory, as in InfraKit.
const EnvPluginsDir = rpcserver.EnvPluginsDir

// PluginParams is what the daemon hands the plugin constructor.
type PluginParams struct {
	Client *ecs.Client
	// Clients is set when the credentials are temporary (STS from a RAM
	// role): the plugin must ask it for the client before every call.
	Clients       func() (*ecs.Client, error)
	Cloud         cloud.Config
	NamespaceTags map[string]string
	Logger        *logrus.Logger
	RateLimit     float64 // ECS calls per second, 0 unlimited
	// DescribeCacheTTL is how long one DescribeInstances scan answers
	// other describes; 0 disables the cache.
	DescribeCacheTTL time.Duration
	// Metrics records the plugin's ECS calls, describes, spot notices and
	// fallbacks; nil (no --metrics-listen) records nothing, and its
	// methods may be called all the same.
	Metrics *metrics.Metrics
}

// PluginFactory builds the instance plugin.
type PluginFactory func(PluginParams) (instance.Plugin, error)

// Deps are the root command's seams; zero values mean the real thing.
type Deps struct {
	// LookupEnv defaults to os.LookupEnv.
	LookupEnv func(string) (string, bool)
	// NewPlugin defaults to the ECS plugin (plugin/instance.New).
	NewPlugin PluginFactory
	// Ready, if set, is called with the socket path once it accepts calls.
	Ready func(socketPath string)
	// ClientOptions are appended when building the ECS client.
	ClientOptions []cloud.ClientOption
	// MetricsReady, if set, is called with the metrics listener's address
	// once it accepts scrapes (with --metrics-listen).
	MetricsReady func(addr string)
}

// Options are the daemon's settings: each flag of the root command is
// bound to one field (NewRootCommand), and run reads nothing else.
type Options struct {
	Deps
	// ErrOut receives the log (the command's stderr).
	ErrOut io.Writer

	Name          string      // --name
	Cloud         cloud.Flags // --region, --endpoint, --access-key-id, ... (persistent: the subcommands read them)
	NamespaceTags []string    // --namespace-tags: repeatable, each k=v,...; joined
	LogLevel      int         // --log
	LogFormat     string      // --log-format
	RateLimit     float64     // --rate-limit
	// DescribeCacheTTL is --describe-cache-ttl; 0 disables the cache.
	DescribeCacheTTL time.Duration
	Spot             SpotOptions    // --spot-watch-interval, --events-listen, --events-allow-remote
	Metrics          MetricsOptions // --metrics-listen, --metrics-allow-remote
	MemoryLimit      string         // --memory-limit (memlimit.go); "" the default

	// The original aliyun plugin's flags (legacyflags.go).
	SessionToken string // --session-token
	PrivateIP    bool   // --private-ip

	// MetadataEndpoint is the ECS metadata service for the RAM role and
	// region: the real one only when running with the real environment.
	MetadataEndpoint string
}

// NewRootCommand returns the infrakit-instance-aliyun command tree.
func NewRootCommand(d Deps) *cobra.Command {
	realEnv := d.LookupEnv == nil // an injected environment is hermetic: no metadata service unless it sets METADATA_ENDPOINT
	if d.LookupEnv == nil {
		d.LookupEnv = os.LookupEnv
	}
	if d.NewPlugin == nil {
		d.NewPlugin = DefaultPluginFactory
	}
	opts := &Options{Deps: d}
	if realEnv {
		opts.MetadataEndpoint = cloud.DefaultMetadataHost
	}
	cmd := &cobra.Command{
		Use:           CommandName,
		Short:         "InfraKit instance plugin for Alibaba Cloud ECS",
		Long:          rootLong,
		Args:          cobra.NoArgs,
		SilenceErrors: true,
		// Runs before the subcommands too: they read the cloud flags.
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return opts.mergeLegacyFlags(cmd)
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			cmd.SilenceUsage = true
			opts.ErrOut = cmd.ErrOrStderr()
			// Whatever an error wraps, its text is printed: scrub it.
			return redact.Wrap(run(cmd.Context(), opts), opts.candidateSecrets()...)
		},
	}
	bindFlags(cmd, opts)
	cmd.CompletionOptions.DisableDefaultCmd = true
	cmd.AddCommand(newVersionCommand())
	cmd.AddCommand(newCheckCommand(opts)) // check.go
	cmd.AddCommand(inventory.Commands(func() (*ecs.Client, string, error) {
		cfg, err := cloud.ResolveEnv(opts.Cloud, opts.cloudEnv())
		if err != nil {
			return nil, "", err
		}
		client, err := cloud.NewECSClient(cfg, opts.clientOptions()...)
		return client, cfg.Region, err
	})...)
	return cmd
}

var rootLong = `Serves InfraKit's Instance SPI (` + rpcserver.InstanceSPI.Encode() + `; ` + rpcserver.LegacyInstanceSPI.Encode() + ` for InfraKit v0.5;
` + rpcserver.V03InstanceSPI.Encode() + ` for v0.3.0 to v0.4.1) for Alibaba Cloud ECS on the unix socket
<dir>/<name>, where <dir> is $INFRAKIT_PLUGINS_DIR, else $INFRAKIT_HOME/plugins, else
~/.infrakit/plugins. Stops on SIGINT or SIGTERM.

Credentials and region come from the flags, else the environment:
  ALIBABA_CLOUD_ACCESS_KEY_ID, ALIBABA_CLOUD_ACCESS_KEY_SECRET, ALIBABA_CLOUD_SECURITY_TOKEN,
  ALIBABA_CLOUD_REGION_ID, else Terraform's ALICLOUD_ACCESS_KEY, ALICLOUD_SECRET_KEY,
  ALICLOUD_SECURITY_TOKEN, ALICLOUD_REGION,
else the aliyun CLI profile (~/.aliyun/config.json; --profile or ALIBABA_CLOUD_PROFILE, else
"current"; modes AK, StsToken, RamRoleArn, ChainableRamRoleArn, EcsRamRole), else
~/.alibabacloud/credentials, else the ECS instance RAM role and region from the metadata
service. --profile, when given, ranks right after the credential flags. Temporary (STS)
credentials are refreshed before they expire. Check the result with "` + CommandName + ` check".
Prefer the environment for secrets: command lines are visible to other users.`

// bindFlags binds every flag to its Options field. The cloud flags are
// persistent: the helper subcommands (regions, images, validate --online,
// ...) reach ECS exactly as the daemon does.
func bindFlags(cmd *cobra.Command, o *Options) {
	pf := cmd.PersistentFlags()
	pf.StringVar(&o.Cloud.Region, "region", "", "region id, e.g. cn-hangzhou (env "+cloud.EnvRegionID+", "+cloud.EnvTFRegion+")")
	pf.StringVar(&o.Cloud.Endpoint, "endpoint", "", "ECS API endpoint (default https://ecs.<region>.aliyuncs.com)")
	pf.StringVar(&o.Cloud.AccessKeyID, "access-key-id", "", "access key id (env "+cloud.EnvAccessKeyID+", "+cloud.EnvTFAccessKey+")")
	pf.StringVar(&o.Cloud.AccessKeySecret, "access-key-secret", "", "access key secret (env "+cloud.EnvAccessKeySecret+", "+cloud.EnvTFSecretKey+")")
	pf.StringVar(&o.Cloud.SecurityToken, "security-token", "", "STS security token (env "+cloud.EnvSecurityToken+", "+cloud.EnvTFSecurityToken+")")
	pf.StringVar(&o.Cloud.Profile, "profile", "", "profile in ~/.aliyun/config.json or ~/.alibabacloud/credentials (env "+cloud.EnvProfile+")")
	pf.StringVar(&o.Cloud.STSEndpoint, "sts-endpoint", "", "STS endpoint for RamRoleArn profiles (env "+cloud.EnvSTSEndpoint+"; default https://sts.aliyuncs.com)")
	pf.StringVar(&o.SessionToken, "session-token", "", "the same as --security-token (the original aliyun plugin's name for it)")

	f := cmd.Flags()
	f.StringVar(&o.Name, "name", DefaultName, "plugin name: the socket's file name in the plugin directory")
	f.StringArrayVar(&o.NamespaceTags, "namespace-tags", nil, "tags k=v,... put on every instance and required when describing them (may be repeated)")
	f.IntVar(&o.LogLevel, "log", DefaultLogLevel, "log level: 0 panic, 1 fatal, 2 error, 3 warn, 4 info, 5 debug")
	f.StringVar(&o.LogFormat, "log-format", LogFormatText, "log format: text or json")
	f.Float64Var(&o.RateLimit, "rate-limit", 0, "maximum ECS API calls per second, 0 for unlimited")
	f.DurationVar(&o.DescribeCacheTTL, "describe-cache-ttl", ecsplugin.DefaultDescribeCacheTTL,
		"how long one DescribeInstances scan answers other describes (groups polling at once share it), 0 to disable")
	addSpotFlags(f, &o.Spot)       // spot.go
	addMetricsFlags(f, &o.Metrics) // metrics.go
	addMemoryFlags(f, o)           // memlimit.go
	f.BoolVar(&o.PrivateIP, "private-ip", true, "kept from the original aliyun plugin: true (its default) is what this plugin does; false is ignored, with a warning")
}

// cloudEnv is what credential resolution may consult besides the flags.
func (o *Options) cloudEnv() cloud.Env {
	return cloud.Env{Lookup: o.LookupEnv, MetadataEndpoint: o.MetadataEndpoint}
}

// clientOptions are what every ECS client the command builds gets: the
// User-Agent, then Deps.ClientOptions.
func (d Deps) clientOptions() []cloud.ClientOption {
	return append([]cloud.ClientOption{cloud.WithUserAgent(UserAgent())}, d.ClientOptions...)
}

// candidateSecrets lists every secret the flags and the environment hold,
// whichever wins, so the log redaction hook can remove them.
func (o *Options) candidateSecrets() []string {
	s := []string{o.Cloud.AccessKeySecret, o.Cloud.SecurityToken}
	for _, k := range []string{cloud.EnvAccessKeySecret, cloud.EnvSecurityToken, cloud.EnvTFSecretKey, cloud.EnvTFSecurityToken} {
		if v, ok := o.LookupEnv(k); ok {
			s = append(s, v)
		}
	}
	return s
}

// Main runs the command with the process's arguments and environment and
// returns the exit code.
func Main() int {
	cmd := NewRootCommand(Deps{})
	if err := cmd.Execute(); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", CommandName, err)
		return 1
	}
	return 0
}
