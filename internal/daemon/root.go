// Package daemon is the infrakit-instance-aliyun command: flags, credential
// and region resolution, logging, and serving InfraKit's Instance SPI (the
// handshakes of InfraKit v0.3.0 to master) on a unix socket until
// SIGINT/SIGTERM.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/Sirupsen/logrus"
	"github.com/denverdino/aliyungo/ecs"
	"github.com/docker/infrakit/pkg/spi/instance"
	"github.com/spf13/cobra"

	"infrakit.aliyun/internal/cloud"
	"infrakit.aliyun/internal/inventory"
	ecsplugin "infrakit.aliyun/plugin/instance"
)

// DefaultName is the default plugin (and socket) name.
const DefaultName = "instance-aliyun"

// CommandName is the binary's name.
const CommandName = "infrakit-instance-aliyun"

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
}

type options struct {
	name          string
	cloud         cloud.Flags
	namespaceTags []string // repeatable, each k=v,...; joined
	// The original aliyun plugin's flags (legacyflags.go).
	sessionToken string
	privateIP    bool
	logLevel     int
	logFormat    string
	rateLimit    float64
	describeTTL  time.Duration
	spot         spotOptions // events_listener.go
	// metadataEndpoint is the ECS metadata service for the RAM role and
	// region: the real one only when running with the real environment.
	metadataEndpoint string
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
	o := &options{}
	if realEnv {
		o.metadataEndpoint = cloud.DefaultMetadataHost
	}
	cmd := &cobra.Command{
		Use:   CommandName,
		Short: "InfraKit instance plugin for Alibaba Cloud ECS",
		Long: `Serves InfraKit's Instance SPI (` + InstanceSPI.Encode() + `; ` + LegacyInstanceSPI.Encode() + ` for InfraKit v0.5;
` + V03InstanceSPI.Encode() + ` for v0.3.0 to v0.4.1) for Alibaba Cloud ECS on the unix socket
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
Prefer the environment for secrets: command lines are visible to other users.`,
		Args:          cobra.NoArgs,
		SilenceErrors: true,
		// Runs before the subcommands too: they read the cloud flags.
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return o.mergeLegacyFlags(cmd)
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			cmd.SilenceUsage = true
			if err := run(cmd.Context(), cmd, o, d); err != nil {
				// Whatever an error wraps, its text is printed: scrub it.
				msg := err.Error()
				if clean := redactText(msg, candidateSecrets(o.cloud, d.LookupEnv)); clean != msg {
					return &redactedError{msg: clean, err: err}
				}
				return err
			}
			return nil
		},
	}
	// The cloud flags are persistent: the helper subcommands (regions, images,
	// validate --online, ...) reach ECS exactly as the daemon does.
	pf := cmd.PersistentFlags()
	pf.StringVar(&o.cloud.Region, "region", "", "region id, e.g. cn-hangzhou (env "+cloud.EnvRegionID+", "+cloud.EnvTFRegion+")")
	pf.StringVar(&o.cloud.Endpoint, "endpoint", "", "ECS API endpoint (default https://ecs.<region>.aliyuncs.com)")
	pf.StringVar(&o.cloud.AccessKeyID, "access-key-id", "", "access key id (env "+cloud.EnvAccessKeyID+", "+cloud.EnvTFAccessKey+")")
	pf.StringVar(&o.cloud.AccessKeySecret, "access-key-secret", "", "access key secret (env "+cloud.EnvAccessKeySecret+", "+cloud.EnvTFSecretKey+")")
	pf.StringVar(&o.cloud.SecurityToken, "security-token", "", "STS security token (env "+cloud.EnvSecurityToken+", "+cloud.EnvTFSecurityToken+")")
	pf.StringVar(&o.cloud.Profile, "profile", "", "profile in ~/.aliyun/config.json or ~/.alibabacloud/credentials (env "+cloud.EnvProfile+")")
	pf.StringVar(&o.cloud.STSEndpoint, "sts-endpoint", "", "STS endpoint for RamRoleArn profiles (env "+cloud.EnvSTSEndpoint+"; default https://sts.aliyuncs.com)")
	pf.StringVar(&o.sessionToken, "session-token", "", "the same as --security-token (the original aliyun plugin's name for it)")

	f := cmd.Flags()
	f.StringVar(&o.name, "name", DefaultName, "plugin name: the socket's file name in the plugin directory")
	f.StringArrayVar(&o.namespaceTags, "namespace-tags", nil, "tags k=v,... put on every instance and required when describing them (may be repeated)")
	f.IntVar(&o.logLevel, "log", DefaultLogLevel, "log level: 0 panic, 1 fatal, 2 error, 3 warn, 4 info, 5 debug")
	f.StringVar(&o.logFormat, "log-format", LogFormatText, "log format: text or json")
	f.Float64Var(&o.rateLimit, "rate-limit", 0, "maximum ECS API calls per second, 0 for unlimited")
	f.DurationVar(&o.describeTTL, "describe-cache-ttl", ecsplugin.DefaultDescribeCacheTTL,
		"how long one DescribeInstances scan answers other describes (groups polling at once share it), 0 to disable")
	addSpotFlags(f, &o.spot) // events_listener.go
	f.BoolVar(&o.privateIP, "private-ip", true, "kept from the original aliyun plugin: true (its default) is what this plugin does; false is ignored, with a warning")

	cmd.CompletionOptions.DisableDefaultCmd = true
	cmd.AddCommand(newVersionCommand())
	cmd.AddCommand(newCheckCommand(o, d)) // check.go
	cmd.AddCommand(inventory.Commands(func() (*ecs.Client, string, error) {
		cfg, err := cloud.ResolveEnv(o.cloud, o.cloudEnv(d))
		if err != nil {
			return nil, "", err
		}
		client, err := cloud.NewECSClient(cfg, d.clientOptions()...)
		return client, cfg.Region, err
	})...)
	return cmd
}

func run(ctx context.Context, cmd *cobra.Command, o *options, d Deps) error {
	secrets := candidateSecrets(o.cloud, d.LookupEnv)
	log, err := NewLogger(cmd.ErrOrStderr(), o.logLevel, o.logFormat, secrets)
	if err != nil {
		return err
	}
	if err := ValidateName(o.name); err != nil {
		return fmt.Errorf("--name: %w", err)
	}
	cfg, err := cloud.ResolveEnv(o.cloud, o.cloudEnv(d))
	if err != nil {
		return err
	}
	// Secrets read from profile files or the metadata service: scrubbed from
	// the log and, with the others, from errors sent back over RPC.
	log.Hooks.Add(newRedactHook(cfg.Secrets()))
	secrets = append(secrets, cfg.Secrets()...)
	RouteInfraKitLogs(log) // InfraKit's own lines: same format, same redaction
	tags, err := ParseNamespaceTags(strings.Join(o.namespaceTags, ","))
	if err != nil {
		return err
	}
	if o.rateLimit < 0 {
		return errors.New("--rate-limit must be 0 (unlimited) or a positive number of calls per second")
	}
	if o.describeTTL < 0 {
		return errors.New("--describe-cache-ttl must be 0 (no cache) or a positive duration")
	}
	dir, err := PluginsDir(d.LookupEnv)
	if err != nil {
		return err
	}

	log.WithFields(logrus.Fields{
		"version":            Version,
		"revision":           Revision,
		"name":               o.name,
		"dir":                dir,
		"region":             cfg.Region,
		"region_source":      cfg.RegionSource,
		"endpoint":           cloud.RedactURL(cfg.Endpoint),
		"endpoint_source":    cfg.EndpointSource,
		"credential_source":  cfg.Source,
		"security_token_set": cfg.SecurityToken != "",
		"credentials_expire": cfg.Temporary(),
		"namespace_tags":     FormatTags(tags),
		"rate_limit":         o.rateLimit,
		"describe_cache_ttl": o.describeTTL.String(),
	}).Info("Starting " + CommandName)
	o.logLegacyFlags(cmd, log)

	// Fail fast, before the plugin is built; Serve checks again.
	if err := CheckNotRunning(dir, o.name); err != nil {
		return err
	}

	clients, err := cloud.NewClientSource(cfg, nil, log, d.clientOptions()...)
	if err != nil {
		return err
	}
	client, _ := clients.Client()
	var rotate func() (*ecs.Client, error)
	if cfg.Temporary() {
		rotate = clients.Client
	}
	p, err := d.NewPlugin(PluginParams{Client: client, Clients: rotate, Cloud: cfg, NamespaceTags: tags, Logger: log, RateLimit: o.rateLimit, DescribeCacheTTL: o.describeTTL})
	if err != nil {
		return fmt.Errorf("creating the plugin: %w", err)
	}
	defer func() {
		if c, ok := p.(interface{ Close() error }); ok {
			if err := c.Close(); err != nil {
				log.WithError(err).Warn("Closing the plugin")
			}
		}
	}()
	// Spot reclaim watcher and CloudMonitor listener (events_listener.go).
	stopSpot, err := startSpot(o.spot, p, log)
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
	if err := Serve(ctx, ServeOptions{Name: o.name, Dir: dir, Logger: log, Ready: d.Ready, Secrets: secrets}, p); err != nil {
		return err
	}
	log.Info("Stopped")
	return nil
}

// redactedError prints a scrubbed message but still matches errors.Is.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// candidateSecrets lists every secret the flags and the environment hold,
// whichever wins, so the log redaction hook can remove them.
func candidateSecrets(f cloud.Flags, lookup func(string) (string, bool)) []string {
	s := []string{f.AccessKeySecret, f.SecurityToken}
	for _, k := range []string{cloud.EnvAccessKeySecret, cloud.EnvSecurityToken, cloud.EnvTFSecretKey, cloud.EnvTFSecurityToken} {
		if v, ok := lookup(k); ok {
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
