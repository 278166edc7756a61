package daemon

import (
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
		RateLimit:     p.RateLimit,
	})
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	return pl, nil
}
