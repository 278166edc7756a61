package instance

import (
	"context"

	"infrakit.aliyun/internal/ecs"
	"infrakit.aliyun/plugin/instance/capacity"
	"infrakit.aliyun/plugin/instance/groupspec"
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

// groupMembers lists the group's live members (not gone, not being
// reclaimed, carrying the namespace) as instance ID -> vswitch, for the
// capacity planner's spread.
func (p *Plugin) groupMembers(ctx context.Context, group string) (map[string]string, error) {
	want := mergeTags(p.namespace, map[string]string{tagGroup: group})
	found, err := p.api.DescribeInstances(ctx, ecs.InstanceFilter{Tags: want})
	out := map[string]string{}
	for i := range found {
		inst := &found[i]
		if skippedStatus[inst.Status] || spot.Reclaimed(inst) || !hasTags(inst.TagMap(), want) {
			continue
		}
		out[inst.ID] = inst.VSwitch
	}
	return out, err
}

// forChoice is the request of one capacity attempt: base with the choice's
// instance type, vswitch and spot setting, the attempt's ClientToken, and
// the TagFallback label when the tags have room for it.
func (r *runRequest) forChoice(c capacity.Choice, token, fallback string) *runRequest {
	req := *r
	req.Args.InstanceType = c.InstanceType
	if c.VSwitchId != "" {
		req.Args.VSwitchId = c.VSwitchId
	}
	if !c.Spot {
		req.Args.SpotStrategy = "NoSpot"
		req.Args.SpotPriceLimit = nil
		req.Args.SpotDuration = nil
		req.Args.SpotInterruptionBehavior = ""
	}
	req.ClientToken = token
	if fallback != "" {
		if _, has := req.Tags[TagFallback]; has || len(req.Tags) < groupspec.MaxTags {
			req.Tags = mergeTags(req.Tags, map[string]string{TagFallback: fallback})
		}
	}
	return &req
}
