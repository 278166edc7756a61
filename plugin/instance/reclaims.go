package instance

import (
	"context"
	"fmt"
	"time"

	log "github.com/Sirupsen/logrus"
	"github.com/docker/infrakit/pkg/spi/instance"

	"infrakit.aliyun/internal/ecs"
	"infrakit.aliyun/plugin/instance/groupspec"
	"infrakit.aliyun/plugin/instance/spot"
)

// The plugin's side of spot reclaims (plugin/instance/spot does the work):
// describes tell spot.Reclaims what they saw and leave noticed instances out
// of group describes, Provision asks it for kept data to claim, and each
// notice becomes a log line, an instance/interrupting event and a metric
// (views.notice).

// Names of spot handling, kept here for the plugin's users.
const (
	TagKeepData      = spot.TagKeepData
	TagPreemptedFrom = spot.TagPreemptedFrom
	TagClaimedBy     = spot.TagClaimedBy
	TagSourceVSwitch = spot.TagSourceVSwitch
	TagSourceType    = spot.TagSourceType
	TagKept          = spot.TagKept
	TagKeepStep      = spot.TagKeepStep
	TagReplaces      = spot.TagReplaces
	LockRecycling    = spot.LockRecycling

	// SpotNotice is how long ECS keeps a reclaimed instance before releasing it.
	SpotNotice = spot.Notice
	// DefaultSpotWatchInterval is the watcher's period when the daemon
	// does not choose one.
	DefaultSpotWatchInterval = spot.DefaultWatchInterval

	PushChecking   = spot.PushChecking
	PushCoalesced  = spot.PushCoalesced
	PushNoticed    = spot.PushNoticed
	PushOverBudget = spot.PushOverBudget
	PushUnknown    = spot.PushUnknown
)

// Interruption is the data of the instance/interrupting event.
type Interruption = spot.Interruption

// PushStats counts what happened to pushed notices.
type PushStats = spot.PushStats

// ErrKeptDataNotReady is wrapped by Provision errors that only mean "retry
// shortly" (spot.ErrKeptDataNotReady).
var ErrKeptDataNotReady = spot.ErrKeptDataNotReady

// newReclaims wires spot handling: its calls, the plugin's namespace,
// clock, retry timer and cleanup budget; notify reports each notice
// (views.notice).
func newReclaims(api ecs.InstanceAPI, calls ecs.SpotAPI, cfg Config, now func() time.Time, retry ecs.RetryPolicy,
	cleanup cleanupBudget, notify func(Interruption)) *spot.Reclaims {
	return spot.New(spot.Config{
		Instances: api,
		Kept:      calls,
		Namespace: cfg.NamespaceTags,
		Now:       now,
		Log:       cfg.Logger,
		Sleep:     retry.Sleep,
		Detached:  cleanup.context,
		// Past it, the Provision that tagged kept disks claiming has
		// answered one way or the other.
		ClaimingTTL: func() time.Duration { return cfg.ProvisionTimeout + time.Minute },
		Notify:      notify,
	})
}

// prepareReplacement runs in Provision once the RunInstances request is
// built. It refuses (fail fast, ErrKeptDataNotReady) a logical ID whose IP
// a reclaimed instance still holds, tags the instance with its KeepData,
// and, when spot hands out kept data of a reclaimed instance of the group,
// changes the request (and the capacity choices in props) to use it: the
// kept image as ImageId in the reclaimed instance's type, or no new data
// disks (Provision attaches the kept ones), always in the reclaimed
// instance's vswitch. The caller must call Release on the result (nil-safe).
func (p *Plugin) prepareReplacement(ctx context.Context, spec instance.Spec, props *groupspec.Properties, req *runRequest) (*spot.Claim, error) {
	group := spec.Tags[tagGroup]
	logical := ""
	if spec.LogicalID != nil {
		logical = string(*spec.LogicalID)
	}
	if err := p.spot.CheckLogicalID(ctx, logical); err != nil {
		return nil, err
	}
	if props.Preemption == nil || props.Preemption.KeepData == "" {
		return nil, nil
	}
	if req.Tags == nil {
		req.Tags = map[string]string{}
	}
	req.Tags[TagKeepData] = props.Preemption.KeepData
	if n := len(req.Tags); n > groupspec.MaxTags {
		return nil, fmt.Errorf("tags: %d tags with %s, at most %d per instance", n, TagKeepData, groupspec.MaxTags)
	}
	c, err := p.spot.Claim(ctx, spot.ClaimRequest{Group: group, LogicalID: logical, KeepData: props.Preemption.KeepData, Tags: len(req.Tags)})
	if err != nil || c == nil {
		return nil, err
	}
	if c.Image != nil {
		req.Args.ImageId = c.Image.ID
		props.RunInstances.ImageId = c.Image.ID
		if it := c.InstanceType; it != "" {
			useFirst(&props.RunInstances.InstanceType, &props.InstanceTypes, it)
			req.Args.InstanceType = it
		}
	} else {
		req.Tags[TagReplaces] = c.From
		req.Args.DataDisk = nil // the kept ones replace them
		props.RunInstances.DataDisk = nil
	}
	useVSwitch(props, req, c.VSwitch)
	p.log.WithFields(log.Fields{"action": "provision", "group": group, "logical_id": logical, "from": c.From,
		"image": req.Args.ImageId, "disks": len(c.Disks)}).Info("replacing a reclaimed instance with its kept data")
	return c, nil
}

// useVSwitch runs the replacement in the reclaimed instance's vswitch only
// (and so its zone, where kept disks are): the capacity fallbacks over
// other vswitches are dropped for it.
func useVSwitch(props *groupspec.Properties, req *runRequest, vsw string) {
	if vsw == "" {
		return
	}
	if vsw != req.Args.VSwitchId {
		req.Args.ZoneId = "" // ECS takes the zone from the vswitch
		props.RunInstances.ZoneId = ""
	}
	req.Args.VSwitchId = vsw
	props.RunInstances.VSwitchId = vsw
	props.VSwitchIds = nil
}

// useFirst makes v the first choice of a (single, fallback list) pair,
// keeping the others as fallbacks.
func useFirst(single *string, list *[]string, v string) {
	if *single == v {
		return
	}
	rest := []string{}
	if *single != "" {
		rest = append(rest, *single)
	}
	for _, x := range *list {
		if x != v {
			rest = append(rest, x)
		}
	}
	*single = v
	if len(*list) > 0 || len(rest) > 0 {
		*list = rest
	}
}

// StartWatcher starts the background spot watcher (spot.Watcher): every
// interval it asks ECS for the namespace's reclaimed instances, notices
// them, finishes kept-disk moves and deletes kept data no longer needed.
// Close stops it. interval <= 0 means DefaultSpotWatchInterval.
func (p *Plugin) StartWatcher(interval time.Duration) { p.spot.Watch.Start(interval) }

// MarkInterrupting takes a pushed reclaim notice (the CloudMonitor event
// Instance:PreemptibleInstanceInterruption) as a hint (spot.Reclaims.Push):
// nothing is hidden or kept unless a look-up shows ECS's Recycling lock.
func (p *Plugin) MarkInterrupting(id, source string) (string, error) { return p.spot.Push(id, source) }
