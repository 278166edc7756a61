// Package daemon is the infrakit-instance-aliyun command: flags, credential
// and region resolution, logging, and serving InfraKit's Instance SPI (and
// the v0.5 handshake) on a unix socket until SIGINT/SIGTERM.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/Sirupsen/logrus"
	"github.com/denverdino/aliyungo/ecs"
	"github.com/docker/infrakit/pkg/spi/instance"
	"github.com/spf13/cobra"

	"infrakit.aliyun/internal/cloud"
	"infrakit.aliyun/internal/inventory"
)

// DefaultName is the default plugin (and socket) name.
const DefaultName = "instance-aliyun"

// CommandName is the binary's name.
const CommandName = "infrakit-instance-aliyun"

// PluginParams is what the daemon hands the plugin constructor.
type PluginParams struct {
	Client        *ecs.Client
	Cloud         cloud.Config
	NamespaceTags map[string]string
	Logger        *logrus.Logger
	RateLimit     float64 // ECS calls per second, 0 unlimited
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
	namespaceTags string
	logLevel      int
	logFormat     string
	rateLimit     float64
}

// NewRootCommand returns the infrakit-instance-aliyun command tree.
func NewRootCommand(d Deps) *cobra.Command {
	if d.LookupEnv == nil {
		d.LookupEnv = os.LookupEnv
	}
	if d.NewPlugin == nil {
		d.NewPlugin = DefaultPluginFactory
	}
	o := &options{}
	cmd := &cobra.Command{
		Use:   CommandName,
		Short: "InfraKit instance plugin for Alibaba Cloud ECS",
		Long: `Serves InfraKit's Instance SPI (` + InstanceSPI.Encode() + `, and ` + LegacyInstanceSPI.Encode() + ` for InfraKit v0.5)
for Alibaba Cloud ECS on the unix socket <dir>/<name>, where <dir> is $INFRAKIT_PLUGINS_DIR,
else $INFRAKIT_HOME/plugins, else ~/.infrakit/plugins. Stops on SIGINT or SIGTERM.

Credentials and region come from the flags, else the environment:
  ALIBABA_CLOUD_ACCESS_KEY_ID, ALIBABA_CLOUD_ACCESS_KEY_SECRET, ALIBABA_CLOUD_SECURITY_TOKEN,
  ALIBABA_CLOUD_REGION_ID, else Terraform's ALICLOUD_ACCESS_KEY, ALICLOUD_SECRET_KEY,
  ALICLOUD_SECURITY_TOKEN, ALICLOUD_REGION.
Prefer the environment for secrets: command lines are visible to other users.`,
		Args:          cobra.NoArgs,
		SilenceErrors: true,
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

	f := cmd.Flags()
	f.StringVar(&o.name, "name", DefaultName, "plugin name: the socket's file name in the plugin directory")
	f.StringVar(&o.namespaceTags, "namespace-tags", "", "tags k=v,... put on every instance and required when describing them")
	f.IntVar(&o.logLevel, "log", DefaultLogLevel, "log level: 0 panic, 1 fatal, 2 error, 3 warn, 4 info, 5 debug")
	f.StringVar(&o.logFormat, "log-format", LogFormatText, "log format: text or json")
	f.Float64Var(&o.rateLimit, "rate-limit", 0, "maximum ECS API calls per second, 0 for unlimited")

	cmd.CompletionOptions.DisableDefaultCmd = true
	cmd.AddCommand(newVersionCommand())
	cmd.AddCommand(inventory.Commands(func() (*ecs.Client, string, error) {
		cfg, err := cloud.Resolve(o.cloud, d.LookupEnv)
		if err != nil {
			return nil, "", err
		}
		client, err := cloud.NewECSClient(cfg, append([]cloud.ClientOption{cloud.WithUserAgent(UserAgent())}, d.ClientOptions...)...)
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
	cfg, err := cloud.Resolve(o.cloud, d.LookupEnv)
	if err != nil {
		return err
	}
	tags, err := ParseNamespaceTags(o.namespaceTags)
	if err != nil {
		return err
	}
	if o.rateLimit < 0 {
		return errors.New("--rate-limit must be 0 (unlimited) or a positive number of calls per second")
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
		"namespace_tags":     FormatTags(tags),
		"rate_limit":         o.rateLimit,
	}).Info("Starting " + CommandName)

	// Fail fast, before the plugin is built; Serve checks again.
	if err := CheckNotRunning(dir, o.name); err != nil {
		return err
	}

	client, err := cloud.NewECSClient(cfg, append([]cloud.ClientOption{cloud.WithUserAgent(UserAgent())}, d.ClientOptions...)...)
	if err != nil {
		return err
	}
	p, err := d.NewPlugin(PluginParams{Client: client, Cloud: cfg, NamespaceTags: tags, Logger: log, RateLimit: o.rateLimit})
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
