package daemon

import (
	"github.com/docker/infrakit/pkg/spi/instance"

	ecsplugin "infrakit.aliyun/plugin/instance"
)

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
	})
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	return pl, nil
}
