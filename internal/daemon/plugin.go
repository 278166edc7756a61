package daemon

import (
	"fmt"

	"github.com/denverdino/aliyungo/ecs"
	"github.com/docker/infrakit/pkg/spi/instance"

	"infrakit.aliyun/internal/cloud"
	"infrakit.aliyun/internal/metrics"
	ecsplugin "infrakit.aliyun/plugin/instance"
)

// newPlugin builds the ECS clients and the plugin (through Deps.NewPlugin)
// and returns a function closing the plugin, if it can be closed.
func newPlugin(opts *Options, s *settled, m *metrics.Metrics) (instance.Plugin, func(), error) {
	clientOpts := append(opts.clientOptions(), cloud.WithRefreshObserver(m.CredentialRefresh))
	clients, err := cloud.NewClientSource(s.cfg, nil, s.log, clientOpts...)
	if err != nil {
		return nil, nil, err
	}
	client, _ := clients.Client()
	var rotate func() (*ecs.Client, error)
	if s.cfg.Temporary() {
		rotate = clients.Client
	}
	p, err := opts.NewPlugin(PluginParams{Client: client, Clients: rotate, Cloud: s.cfg, NamespaceTags: s.tags, Logger: s.log,
		RateLimit: opts.RateLimit, DescribeCacheTTL: opts.DescribeCacheTTL, Metrics: m})
	if err != nil {
		return nil, nil, fmt.Errorf("creating the plugin: %w", err)
	}
	closePlugin := func() {
		if c, ok := p.(interface{ Close() error }); ok {
			if err := c.Close(); err != nil {
				s.log.WithError(err).Warn("Closing the plugin")
			}
		}
	}
	return p, closePlugin, nil
}

// DefaultPluginFactory builds the ECS instance plugin.
func DefaultPluginFactory(p PluginParams) (instance.Plugin, error) {
	clients := p.Clients
	if clients == nil {
		clients = ecsplugin.StaticClient(p.Client)
	}
	pl, err := ecsplugin.New(ecsplugin.Config{
		Clients:       clients,
		RegionID:      p.Cloud.Region,
		NamespaceTags: p.NamespaceTags,
		Logger:        p.Logger,
		RateLimit:     p.RateLimit,
		// 0 means "no cache" here as on the command line.
		DescribeCacheTTL: p.DescribeCacheTTL,
		Metrics:          p.Metrics,
	})
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	return pl, nil
}
