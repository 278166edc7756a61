package daemon

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	ecsplugin "infrakit.aliyun/plugin/instance"
)

// ParseNamespaceTags parses --namespace-tags "k=v,k2=v2". Spaces around
// pairs, keys and values are trimmed; a value may contain '='; an empty
// string gives no tags. Keys and values must satisfy ECS tag rules (key 1-128
// characters, not starting with "aliyun" or "acs:", no "http://" or
// "https://"; value at most 128 characters, not starting with "acs:"), and a
// resource has at most 20 tags, so namespace tags must leave room for the
// group's own.
func ParseNamespaceTags(s string) (map[string]string, error) {
	tags := map[string]string{}
	if strings.TrimSpace(s) == "" {
		return tags, nil
	}
	for i, pair := range strings.Split(s, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			return nil, fmt.Errorf("--namespace-tags: empty entry at position %d (want k=v,k2=v2)", i+1)
		}
		k, v, ok := strings.Cut(pair, "=")
		if !ok {
			return nil, fmt.Errorf("--namespace-tags: %q is not key=value", pair)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if err := checkTag(k, v); err != nil {
			return nil, fmt.Errorf("--namespace-tags: %w", err)
		}
		if _, dup := tags[k]; dup {
			return nil, fmt.Errorf("--namespace-tags: key %q given twice", k)
		}
		tags[k] = v
	}
	if len(tags) > maxNamespaceTags {
		return nil, fmt.Errorf("--namespace-tags: %d tags given, at most %d (an ECS instance has at most 20 tags and InfraKit adds its own)",
			len(tags), maxNamespaceTags)
	}
	return tags, nil
}

// maxNamespaceTags leaves room for infrakit.group, infrakit.config.hash,
// infrakit.logical_id and a few flavor tags within ECS's 20.
const maxNamespaceTags = 10

// checkTag applies the plugin's ECS tag check (the same one Provision and
// Label use), so the flag and the plugin can never disagree.
func checkTag(k, v string) error {
	if probs := ecsplugin.CheckTag(k, v); len(probs) > 0 {
		return fmt.Errorf("tag %q: %s", k, strings.Join(probs, "; "))
	}
	return nil
}

// FormatTags renders tags as sorted k=v,k2=v2 for logs.
func FormatTags(tags map[string]string) string {
	keys := slices.Sorted(maps.Keys(tags))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + tags[k]
	}
	return strings.Join(parts, ",")
}
