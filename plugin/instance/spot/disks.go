package spot

import (
	"context"
	"fmt"
	"sort"
	"time"

	log "github.com/Sirupsen/logrus"

	"infrakit.aliyun/internal/ecs"
)

// Moving kept data disks (KeepData "disks") is a multi-step operation that
// must survive the copy of the plugin doing it: killed (kill -9) or stopped
// (SIGTERM, Close) between any two steps, another copy (or this one,
// restarted) finishes it. So every step is written into ECS tags before it
// is taken, and every copy's watcher (resumeKeptDisks, each tick) reads
// those tags and finishes what is left, idempotently:
//
//	step      disk tags (besides namespace, group, logical ID, kept=true)    next
//	notice    preempted-from=R, keep-step=kept, kept-at                      ModifyDiskAttribute, DetachDisk
//	Provision keep-step=claiming, claim-at                                   RunInstances (tag replaces=R on the instance)
//	run       keep-step=claimed, claimed-by=N                                AttachDisk to N
//	attached  keep-step=attached                                             (N owns it)
//	destroy   keep-step=released                                             DeleteDisk once Available (any copy's watcher)
//
// The instance N carries replaces=R from its first moment (RunInstances
// tags), so a copy killed between RunInstances and the claim tags is
// finished too: the watcher finds N by that tag. A copy that loses a race
// (the disk already attached by another) says so at info level.
//
// Kept data is deleted on an explicit user action, never because a group
// looks empty for a while (a reclaimed group of one whose replacement waits
// for stock must keep its data): the terminate Destroy of an instance marks
// released the kept disks it owns and, when it is the group's last live
// member, every kept disk of the group that no live replacement holds
// (release.go), before the instance is deleted; any copy's watcher deletes
// released disks once they are Available. A disk kept at a notice and
// never taken by an instance is deleted keptImageMaxAge after it was kept,
// like images. Only disks carrying this plugin's namespace tags and
// kept=true are ever looked at, so no foreign disk is touched.

// Tags of the disk move.
const (
	// TagKept marks every kept disk (value "true"), so one narrow
	// DescribeDisks finds them all.
	TagKept = "infrakit-aliyun.kept"
	// TagKeepStep is the step of the move a kept disk is in (KeepStep*).
	TagKeepStep = "infrakit-aliyun.keep-step"
	// TagKeptAt is when a disk was kept (RFC 3339), for the age limit.
	TagKeptAt = "infrakit-aliyun.kept-at"
	// TagClaimAt is when a Provision started taking a disk (RFC 3339).
	TagClaimAt = "infrakit-aliyun.claim-at"
	// TagReplaces is put on a replacement instance by RunInstances: the
	// reclaimed instance whose kept disks it takes.
	TagReplaces = "infrakit-aliyun.replaces"

	KeepStepKept     = "kept"
	KeepStepClaiming = "claiming"
	KeepStepClaimed  = "claimed"
	KeepStepAttached = "attached"
	// KeepStepReleased marks kept data (disks and images) of a destroyed
	// group: any copy's watcher deletes it (release.go).
	KeepStepReleased = "released"
)

// keepDisks tags the reclaimed instance's data disks, makes them survive the
// instance and detaches them, in that order: a disk is findable before it
// is moved, and survives even if ECS releases the instance midway. Run
// again (another copy, a restart) it does the same harmlessly.
func (k *keeper) keepDisks(ctx context.Context, info Interruption) ([]string, error) {
	disks, err := k.Instances.DescribeDisks(ctx, ecs.DiskFilter{InstanceID: info.InstanceId})
	if err != nil {
		return nil, fmt.Errorf("list disks of instance %s: %w", info.InstanceId, err)
	}
	tags := k.keptTags(info)
	tags[TagKept] = "true"
	tags[TagKeepStep] = KeepStepKept
	tags[TagKeptAt] = k.Now().UTC().Format(time.RFC3339)
	var kept []string
	for _, d := range disks {
		if d.Type != "" && d.Type != "data" {
			continue // the system disk goes with the instance
		}
		if _, ok := d.TagMap()[TagAttachment]; ok {
			continue // the operator's disk (Spec.Attachments): it outlives the instance, and is never released
		}
		if err := k.Kept.TagResource(ctx, "disk", d.ID, keepTags(tags, d)); err != nil {
			return kept, fmt.Errorf("tag disk %s: %w", d.ID, err)
		}
		if d.DeleteWithInstance {
			if err := k.Instances.ModifyDiskAttribute(ctx, d.ID, false); err != nil {
				return kept, fmt.Errorf("keep disk %s: %w", d.ID, err)
			}
		}
		if err := k.Kept.DetachDisk(ctx, info.InstanceId, d.ID); err != nil && !ecs.IsNotFound(err) {
			if !k.detachedByOther(ctx, err, info.InstanceId, d.ID) {
				return kept, fmt.Errorf("detach disk %s from instance %s: %w", d.ID, info.InstanceId, err)
			}
		}
		kept = append(kept, d.ID)
	}
	return kept, nil
}

// keepTags are the tags a notice puts on disk d: a disk already released
// (its group destroyed while another copy was keeping it) stays released.
func keepTags(tags map[string]string, d ecs.Disk) map[string]string {
	if d.TagMap()[TagKeepStep] != KeepStepReleased {
		return tags
	}
	out := mergeTags(tags)
	delete(out, TagKeepStep)
	delete(out, TagKeptAt)
	return out
}

// detachedByOther reports whether a refused DetachDisk only lost a race:
// another copy of the plugin noticed the same reclaim and detached the disk
// first (ECS answers IncorrectDiskStatus). That is said at info level.
func (k *keeper) detachedByOther(ctx context.Context, err error, instanceID, diskID string) bool {
	if ecs.ErrorCode(err) != "IncorrectDiskStatus" {
		return false
	}
	found, derr := k.Instances.DescribeDisks(ctx, ecs.DiskFilter{DiskIDs: []string{diskID}})
	if derr != nil || len(found) != 1 || found[0].InstanceID == instanceID {
		return false
	}
	k.Log.WithFields(log.Fields{"action": "keep-data", "instance": instanceID, "disk": diskID}).
		Info("kept disk already detached (another copy of the plugin did it)")
	return true
}

// keptSet is the kept disks of one reclaimed instance.
type keptSet struct {
	from  string
	disks []ecs.Disk
}

// groupKeptSets groups kept disks by the instance they were kept from.
func groupKeptSets(disks []ecs.Disk) []keptSet {
	by := map[string][]ecs.Disk{}
	for _, d := range disks {
		if from := d.TagMap()[TagPreemptedFrom]; from != "" {
			by[from] = append(by[from], d)
		}
	}
	out := make([]keptSet, 0, len(by))
	for from, ds := range by {
		sort.Slice(ds, func(i, j int) bool { return ds[i].ID < ds[j].ID })
		out = append(out, keptSet{from: from, disks: ds})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].from < out[j].from })
	return out
}

// claimedBy is the instance a disk's tags name as its claimer, if its step
// says the claim was made (disks from before keep-step count as claimed).
func claimedBy(t map[string]string) string {
	switch t[TagKeepStep] {
	case KeepStepKept, KeepStepClaiming:
		return ""
	}
	return t[TagClaimedBy]
}

// claimers lists the claimers the sets' tags name.
func claimers(sets []keptSet) []string {
	var out []string
	for _, s := range sets {
		for _, d := range s.disks {
			if c := claimedBy(d.TagMap()); c != "" {
				out = append(out, c)
			}
		}
	}
	return out
}

// setOwner decides who a kept set belongs to: the live instance its tags
// name, else a live instance of the namespace carrying replaces=from
// (made by a copy that stopped before tagging the claim), else nobody.
// claiming reports a Provision that started taking the set within
// claimingTTL and may still be in RunInstances. live is liveClaimers of
// the sets' claimers.
func (k *keeper) setOwner(ctx context.Context, s keptSet, live map[string]string) (owner string, claiming bool, err error) {
	steps := map[string]bool{}
	var claimAt time.Time
	for _, d := range s.disks {
		t := d.TagMap()
		if c := claimedBy(t); c != "" && live[c] != "" {
			return c, false, nil
		}
		steps[t[TagKeepStep]] = true
		if at, err := time.Parse(time.RFC3339, t[TagClaimAt]); err == nil && at.After(claimAt) {
			claimAt = at
		}
	}
	if !steps[KeepStepClaiming] && !steps[KeepStepClaimed] {
		// No Provision ever got as far as RunInstances for this set (the
		// claiming tag comes first), so no instance can carry replaces.
		return "", false, nil
	}
	found, err := k.Instances.DescribeInstances(ctx, ecs.InstanceFilter{Tags: mergeTags(k.Namespace, map[string]string{TagReplaces: s.from})})
	if err != nil {
		return "", false, fmt.Errorf("find replacement of instance %s: %w", s.from, err)
	}
	sort.Slice(found, func(i, j int) bool { return found[i].ID < found[j].ID })
	for _, inst := range found {
		if !gone[inst.Status] && hasTags(inst.TagMap(), k.Namespace) && inst.TagMap()[TagReplaces] == s.from {
			return inst.ID, false, nil
		}
	}
	return "", steps[KeepStepClaiming] && k.Now().Sub(claimAt) < k.ClaimingTTL(), nil
}

// findKeptDisks picks a set of kept disks of the group for a new instance:
// all Available, matching its logical ID, owned by nobody.
func (k *keeper) findKeptDisks(ctx context.Context, group, logical string, c *Claim) error {
	disks, err := k.Instances.DescribeDisks(ctx, ecs.DiskFilter{Tags: mergeTags(k.Namespace, map[string]string{TagGroup: group})})
	if err != nil {
		return fmt.Errorf("find kept disks of group %s: %w", group, err)
	}
	var mine []ecs.Disk
	for _, d := range disks {
		if t := d.TagMap(); t[TagPreemptedFrom] != "" && t[TagKeepStep] != KeepStepReleased && matchesSlot(t, logical) && hasTags(t, k.Namespace) {
			mine = append(mine, d)
		}
	}
	sets := groupKeptSets(mine)
	if len(sets) == 0 {
		return nil
	}
	live, err := k.liveClaimers(ctx, claimers(sets))
	if err != nil {
		return fmt.Errorf("check claims on kept disks: %w", err)
	}
	for _, s := range sets {
		free := true
		for _, d := range s.disks {
			if d.InstanceID != "" || (d.Status != "" && d.Status != "Available") {
				free = false // still on the reclaimed instance, or moved
			}
		}
		if !free {
			continue
		}
		owner, claiming, err := k.setOwner(ctx, s, live)
		if err != nil {
			return err
		}
		if owner == "" && !claiming {
			c.Disks, c.From = s.disks, s.from
			return nil
		}
	}
	return nil
}

// markClaiming tags the chosen disks before RunInstances: another copy's
// Provision leaves them alone while this one runs.
func (k *keeper) markClaiming(ctx context.Context, c *Claim) error {
	tags := map[string]string{TagKeepStep: KeepStepClaiming, TagClaimAt: k.Now().UTC().Format(time.RFC3339)}
	for _, d := range c.Disks {
		if err := k.Kept.TagResource(ctx, "disk", d.ID, tags); err != nil {
			return fmt.Errorf("claim kept disk %s: %w", d.ID, err)
		}
	}
	return nil
}

// attachKept attaches kept disks to their new instance once ECS takes them
// (the instance Running), for up to attachTimeout. Close cancels ctx and it
// returns at once: the tags let any copy's watcher finish the attach.
func (k *keeper) attachKept(ctx context.Context, id string, disks []ecs.Disk) {
	deadline := k.Now().Add(attachTimeout)
	wait := 2 * time.Second
	for _, d := range disks {
		for {
			done, retry := k.attachKeptOnce(ctx, id, d.ID)
			if done || !retry || !k.Now().Before(deadline) {
				break
			}
			if err := k.Sleep(ctx, wait); err != nil {
				return // stopped: the watcher of any copy finishes it
			}
			if wait < 15*time.Second {
				wait *= 2
			}
		}
	}
}

// attachKeptOnce makes one AttachDisk of a kept disk to its claimer and
// records the step. retry: the instance is not yet in a state that takes it.
func (k *keeper) attachKeptOnce(ctx context.Context, id, diskID string) (done, retry bool) {
	logger := k.Log.WithFields(log.Fields{"action": "keep-data", "instance": id, "disk": diskID})
	err := k.Instances.AttachDisk(ctx, id, diskID, false)
	switch {
	case err == nil:
		logger.Info("attached kept disk to the replacement")
	case ecs.ErrorCode(err) == ecs.CodeIncorrectInstanceStatus:
		return false, true
	case ecs.ErrorCode(err) == "IncorrectDiskStatus":
		// Another copy may have attached it first: look before crying.
		found, derr := k.Instances.DescribeDisks(ctx, ecs.DiskFilter{DiskIDs: []string{diskID}})
		if derr == nil && len(found) == 1 && found[0].InstanceID == id {
			logger.Info("kept disk already attached to the replacement (another copy of the plugin did it)")
			break
		}
		logger.WithError(err).Warn("could not attach kept disk")
		return false, false
	default:
		if ctx.Err() == nil {
			logger.WithError(err).Warn("could not attach kept disk; the watcher retries")
		}
		return false, false
	}
	if err := k.Kept.TagResource(ctx, "disk", diskID, map[string]string{TagKeepStep: KeepStepAttached, TagClaimedBy: id}); err != nil && ctx.Err() == nil {
		logger.WithError(err).Warn("could not record the attach; the watcher will")
	}
	return true, false
}

// attachTimeout is how long a kept disk's attach is retried while its
// replacement is not yet in a state that takes it.
const attachTimeout = 10 * time.Minute
