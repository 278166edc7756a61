package instance

import (
	"context"

	"infrakit.aliyun/internal/ecs"
	"infrakit.aliyun/plugin/instance/capacity"
	"infrakit.aliyun/plugin/instance/spot"
)

// Capacity decisions are package capacity's; these names stay here for the
// plugin's callers.
const (
	// TagFallback records on an instance which fallback Provision used to
	// create it (capacity.TagFallback).
	TagFallback = capacity.TagFallback

	CodeNoStock          = capacity.CodeNoStock
	CodeZoneNotOnSale    = capacity.CodeZoneNotOnSale
	CodeZoneNotSupported = capacity.CodeZoneNotSupported
)

// NoCapacityError is returned by Provision when no (instance type, zone)
// choice had capacity (capacity.NoCapacityError).
type NoCapacityError = capacity.NoCapacityError

// spread feeds the capacity planner's zone spread: a group's live members
// when the planner asks (members), and every describe scan that covered
// whole groups (observeScan).
type spread struct {
	api       ecs.InstanceAPI
	namespace map[string]string
	planner   *capacity.Planner // set once the planner is built over members
}

// members lists the group's live members (not gone, not being
// reclaimed, carrying the namespace) as instance ID -> vswitch, for the
// capacity planner's spread.
func (s *spread) members(ctx context.Context, group string) (map[string]string, error) {
	want := mergeTags(s.namespace, map[string]string{tagGroup: group})
	found, err := s.api.DescribeInstances(ctx, ecs.InstanceFilter{Tags: want})
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for i := range found {
		inst := &found[i]
		if spreadMember(inst) && carriesAll(inst.Tags, want) {
			out[inst.ID] = inst.VSwitch
		}
	}
	return out, nil
}

// spreadMember tells whether an instance counts for its group's spread:
// not on its way out, not being reclaimed.
func spreadMember(inst *ecs.Instance) bool {
	return !skippedStatus[inst.Status] && !spot.Reclaimed(inst)
}

// observeScan hands the capacity planner the members of every group a
// describe scan fully covered: all groups of a namespace scan, or the one
// group of a scan by namespace and group tag. (A scan by more tags holds
// only part of a group and is not used.)
func (s *spread) observeScan(scope map[string]string, list []ecs.Instance) {
	group, byGroup := scope[tagGroup]
	switch {
	case len(scope) == len(s.namespace) && hasTags(scope, s.namespace) && !byGroup:
	case byGroup && len(scope) == len(s.namespace)+1 && hasTags(scope, s.namespace):
	default:
		return
	}
	groups := map[string]map[string]string{}
	if byGroup {
		groups[group] = map[string]string{} // an empty group is a tally too
	}
	for i := range list {
		inst := &list[i]
		if !spreadMember(inst) || !carriesAll(inst.Tags, s.namespace) {
			continue
		}
		g := tagValue(inst.Tags, tagGroup)
		if g == "" || (byGroup && g != group) {
			continue
		}
		if groups[g] == nil {
			groups[g] = map[string]string{}
		}
		groups[g][inst.ID] = inst.VSwitch
	}
	for g, m := range groups {
		s.planner.Observe(g, m)
	}
}
