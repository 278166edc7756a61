package instance

import (
	"context"
	"fmt"
	"strings"

	"infrakit.aliyun/internal/ecs"
)

// Every SPI method acts only on instances that are this plugin's to touch:
// they carry every namespace tag (when the plugin has any) with its value,
// and at least one InfraKit tag (a key starting with "infrakit." or
// "infrakit-aliyun."). An instance created outside InfraKit, or by another
// namespace's plugin, is refused with a ForeignInstanceError and left alone:
// a typo in an ID, or a stale ID from another cluster, must not cost
// someone's database.

// Tag key prefixes that make an instance InfraKit's.
const (
	infrakitPrefix = "infrakit."
	pluginPrefix   = "infrakit-aliyun."
)

// ForeignInstanceError is returned for an instance the plugin must not
// touch; Reason says which tag is missing or different.
type ForeignInstanceError struct {
	ID     string
	Reason string
}

func (e *ForeignInstanceError) Error() string {
	return fmt.Sprintf("instance %s is not managed by this plugin (%s); left alone", e.ID, e.Reason)
}

// ProtectedTagError is returned by Label for a tag it must not change.
type ProtectedTagError struct {
	Key    string
	Reason string
}

func (e *ProtectedTagError) Error() string {
	return fmt.Sprintf("Labels[%q]: %s", e.Key, e.Reason)
}

func hasInfraKitTag(tags map[string]string) bool {
	for k := range tags {
		if strings.HasPrefix(k, infrakitPrefix) || strings.HasPrefix(k, pluginPrefix) {
			return true
		}
	}
	return false
}

// ownership is the one ownership check (the namespace tags and the tag
// rules), with the uncached look-up by ID that Destroy and Label make.
type ownership struct {
	namespace map[string]string
	api       ecs.InstanceAPI // DescribeInstances by ID
}

// foreignReason is "" for an instance with these tags that the plugin may
// act on, else why not. It is the one ownership check: Destroy, Label and
// DescribeInstances all use it.
func (o *ownership) foreignReason(tags map[string]string) string {
	for _, k := range sortedKeys(o.namespace) {
		want := o.namespace[k]
		have, ok := tags[k]
		switch {
		case !ok:
			return fmt.Sprintf("it lacks the namespace tag %s=%s", k, want)
		case have != want:
			return fmt.Sprintf("its namespace tag %s is %q, this plugin's is %q", k, have, want)
		}
	}
	if !hasInfraKitTag(tags) {
		return fmt.Sprintf("it carries no InfraKit tag (%s* or %s*)", infrakitPrefix, pluginPrefix)
	}
	return ""
}

// lookup finds one instance by ID (one DescribeInstances, never
// cached) and checks that it is the plugin's. A missing instance is an
// ecs.APIError with ecs.CodeInstanceNotFound.
func (o *ownership) lookup(ctx context.Context, id string) (*ecs.Instance, error) {
	found, err := o.api.DescribeInstances(ctx, ecs.InstanceFilter{InstanceIDs: []string{id}})
	if err != nil {
		return nil, err
	}
	for i := range found {
		if found[i].ID != id {
			continue
		}
		inst := found[i]
		if why := o.foreignReason(inst.TagMap()); why != "" {
			return nil, &ForeignInstanceError{ID: id, Reason: why}
		}
		return &inst, nil
	}
	return nil, &ecs.APIError{Action: "DescribeInstances", Code: ecs.CodeInstanceNotFound, Message: "no instance " + id}
}

// checkLabels refuses a label that would change a namespace tag, an
// InfraKit tag other than the config hash (which the group plugin
// relabels when it adopts "bootstrap" instances), or one of the plugin's own
// tags. Passing such a tag with its current value is fine: InfraKit's group
// plugin labels with {infrakit.group: <its ID>, infrakit.config.hash: ...}.
func (o *ownership) checkLabels(current, labels map[string]string) error {
	for _, k := range sortedKeys(labels) {
		v := labels[k]
		if cur, ok := current[k]; ok && cur == v {
			continue
		}
		if want, ok := o.namespace[k]; ok {
			return &ProtectedTagError{Key: k, Reason: fmt.Sprintf("namespace tag (this plugin's is %s=%s) cannot be changed by Label", k, want)}
		}
		switch {
		case k == tagConfigHash, k == tagConfigSHA:
		case strings.HasPrefix(k, infrakitPrefix):
			return &ProtectedTagError{Key: k, Reason: fmt.Sprintf("InfraKit tag cannot be changed by Label (only %s and %s can)", tagConfigHash, tagConfigSHA)}
		case strings.HasPrefix(k, pluginPrefix):
			return &ProtectedTagError{Key: k, Reason: "the plugin's own tag cannot be changed by Label"}
		}
	}
	return nil
}
