package instance

import (
	"github.com/docker/infrakit/pkg/types"

	"infrakit.aliyun/plugin/instance/groupspec"
)

// ParseProperties parses, defaults and validates a group's
// Instance.Properties (groupspec.ParseProperties); kept here for the
// plugin's callers.
func ParseProperties(any *types.Any) (groupspec.Properties, error) {
	return groupspec.ParseProperties(any)
}

// CheckTag returns what is wrong with one tag (groupspec.CheckTag).
func CheckTag(key, value string) []string { return groupspec.CheckTag(key, value) }
