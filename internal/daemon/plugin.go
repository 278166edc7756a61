package daemon

import (
	"time"

	"github.com/docker/infrakit/pkg/spi/instance"

	ecsplugin "infrakit.aliyun/plugin/instance"
)

// DefaultPluginFactory builds the ECS instance plugin.
func DefaultPluginFactory(p PluginParams) (instance.Plugin, error) {
	pl, err := ecsplugin.New(ecsplugin.Config{
		Client:        p.Client,
		RegionID:      p.Cloud.Region,
		NamespaceTags: p.NamespaceTags,
		Logger:        p.Logger,
		Clients:       p.Clients,
		RateLimit:     p.RateLimit,
		// 0 means "no cache" on the command line, "default" in Config.
		DescribeCacheTTL: describeCacheTTL(p.DescribeCacheTTL),
	})
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	return pl, nil
}

func describeCacheTTL(d time.Duration) time.Duration {
	if d <= 0 {
		return -1
	}
	return d
}
