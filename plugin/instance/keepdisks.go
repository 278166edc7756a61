package instance

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
//
// The instance N carries replaces=R from its first moment (RunInstances
// tags), so a copy killed between RunInstances and the claim tags is
// finished too: the watcher finds N by that tag. A copy that loses a race
// (the disk already attached by another) says so at info level.
//
// Nothing kept is left billed after the group is gone: a disk a
// replacement took (keep-step claimed or attached) whose instance no longer
// exists, in a group that has no live instance left, is deleted once that
// has held for orphanGrace (InfraKit's group destroy); a disk kept at a notice and
// never claimed is deleted after keptImageMaxAge, like images. Only disks
// carrying this plugin's namespace tags and kept=true are ever looked at,
// so no foreign disk is touched.

// Tags of the disk move.
const (
	// TagKept marks every kept disk (value "true"), so one narrow
	// DescribeDisks finds them all.
	TagKept = "infrakit-aliyun.kept"
	// TagKeepStep is the step of the move a kept disk is in (keepStep*).
	TagKeepStep = "infrakit-aliyun.keep-step"
	// TagKeptAt is when a disk was kept (RFC 3339), for the age limit.
	TagKeptAt = "infrakit-aliyun.kept-at"
	// TagClaimAt is when a Provision started taking a disk (RFC 3339).
	TagClaimAt = "infrakit-aliyun.claim-at"
	// TagReplaces is put on a replacement instance by RunInstances: the
	// reclaimed instance whose kept disks it takes.
	TagReplaces = "infrakit-aliyun.replaces"

	keepStepKept     = "kept"
	keepStepClaiming = "claiming"
	keepStepClaimed  = "claimed"
	keepStepAttached = "attached"
)

// orphanGrace is how long a finished move's disk must stay orphaned (its
// instance gone, its group empty) before it is deleted: a group whose last
// member just vanished gets its replacement well within it.
const orphanGrace = 2 * time.Minute

// keepDisks tags the reclaimed instance's data disks, makes them survive the
// instance and detaches them, in that order: a disk is findable before it
// is moved, and survives even if ECS releases the instance midway. Run
// again (another copy, a restart) it does the same harmlessly.
func (p *Plugin) keepDisks(ctx context.Context, k ecs.SpotAPI, info Interruption) ([]string, error) {
	disks, err := p.api.DescribeDisks(ctx, ecs.DiskFilter{InstanceID: info.InstanceId})
	if err != nil {
		return nil, fmt.Errorf("list disks of instance %s: %w", info.InstanceId, err)
	}
	tags := p.keptTags(info)
	tags[TagKept] = "true"
	tags[TagKeepStep] = keepStepKept
	tags[TagKeptAt] = p.now().UTC().Format(time.RFC3339)
	var kept []string
	for _, d := range disks {
		if d.Type != "" && d.Type != "data" {
			continue // the system disk goes with the instance
		}
		if err := k.TagResource(ctx, "disk", d.ID, tags); err != nil {
			return kept, fmt.Errorf("tag disk %s: %w", d.ID, err)
		}
		if d.DeleteWithInstance {
			if err := p.api.ModifyDiskAttribute(ctx, d.ID, false); err != nil {
				return kept, fmt.Errorf("keep disk %s: %w", d.ID, err)
			}
		}
		if err := k.DetachDisk(ctx, info.InstanceId, d.ID); err != nil && !ecs.IsNotFound(err) {
			if !p.detachedByOther(ctx, err, info.InstanceId, d.ID) {
				return kept, fmt.Errorf("detach disk %s from instance %s: %w", d.ID, info.InstanceId, err)
			}
		}
		kept = append(kept, d.ID)
	}
	return kept, nil
}

// detachedByOther reports whether a refused DetachDisk only lost a race:
// another copy of the plugin noticed the same reclaim and detached the disk
// first (ECS answers IncorrectDiskStatus). That is said at info level.
func (p *Plugin) detachedByOther(ctx context.Context, err error, instanceID, diskID string) bool {
	if ecs.ErrorCode(err) != "IncorrectDiskStatus" {
		return false
	}
	found, derr := p.api.DescribeDisks(ctx, ecs.DiskFilter{DiskIDs: []string{diskID}})
	if derr != nil || len(found) != 1 || found[0].InstanceID == instanceID {
		return false
	}
	p.log.WithFields(log.Fields{"action": "keep-data", "instance": instanceID, "disk": diskID}).
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
	case keepStepKept, keepStepClaiming:
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
func (p *Plugin) setOwner(ctx context.Context, s keptSet, live map[string]string) (owner string, claiming bool, err error) {
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
	if !steps[keepStepClaiming] && !steps[keepStepClaimed] {
		// No Provision ever got as far as RunInstances for this set (the
		// claiming tag comes first), so no instance can carry replaces.
		return "", false, nil
	}
	found, err := p.api.DescribeInstances(ctx, ecs.InstanceFilter{Tags: mergeTags(p.namespace, map[string]string{TagReplaces: s.from})})
	if err != nil {
		return "", false, fmt.Errorf("find replacement of instance %s: %w", s.from, err)
	}
	sort.Slice(found, func(i, j int) bool { return found[i].ID < found[j].ID })
	for _, inst := range found {
		if !skippedStatus[inst.Status] && hasTags(inst.TagMap(), p.namespace) && inst.TagMap()[TagReplaces] == s.from {
			return inst.ID, false, nil
		}
	}
	return "", steps[keepStepClaiming] && p.now().Sub(claimAt) < p.claimingTTL(), nil
}

// claimingTTL is how long a Provision's claiming tag holds the set: past
// it, the Provision has answered one way or the other.
func (p *Plugin) claimingTTL() time.Duration { return p.provisionTimeout + time.Minute }

// findKeptDisks picks a set of kept disks of the group for a new instance:
// all Available, matching its logical ID, owned by nobody.
func (p *Plugin) findKeptDisks(ctx context.Context, group, logical string, rep *replacement) error {
	disks, err := p.api.DescribeDisks(ctx, ecs.DiskFilter{Tags: mergeTags(p.namespace, map[string]string{tagGroup: group})})
	if err != nil {
		return fmt.Errorf("find kept disks of group %s: %w", group, err)
	}
	var mine []ecs.Disk
	for _, d := range disks {
		if t := d.TagMap(); t[TagPreemptedFrom] != "" && matchesSlot(t, logical) && hasTags(t, p.namespace) {
			mine = append(mine, d)
		}
	}
	sets := groupKeptSets(mine)
	if len(sets) == 0 {
		return nil
	}
	live, err := p.liveClaimers(ctx, claimers(sets))
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
		owner, claiming, err := p.setOwner(ctx, s, live)
		if err != nil {
			return err
		}
		if owner == "" && !claiming {
			rep.disks, rep.from = s.disks, s.from
			return nil
		}
	}
	return nil
}

// markClaiming tags the chosen disks before RunInstances: another copy's
// Provision leaves them alone while this one runs.
func (p *Plugin) markClaiming(ctx context.Context, k ecs.SpotAPI, rep *replacement) error {
	tags := map[string]string{TagKeepStep: keepStepClaiming, TagClaimAt: p.now().UTC().Format(time.RFC3339)}
	for _, d := range rep.disks {
		if err := k.TagResource(ctx, "disk", d.ID, tags); err != nil {
			return fmt.Errorf("claim kept disk %s: %w", d.ID, err)
		}
	}
	return nil
}

// finishReplacement runs right after RunInstances made instance id with
// the kept data: it tags the data as claimed by id, so no other Provision
// takes it, and for disks starts the attach (ECS takes it once the
// instance runs). A failed claim is logged, not fatal: the instance's
// replaces tag still names the set, and the watcher of any copy finishes
// the claim and the attach. The claim runs under a cleanupContext of its
// own, not under the Provision's deadline that RunInstances may have used
// up.
func (p *Plugin) finishReplacement(ctx context.Context, rep *replacement, id string) {
	if rep == nil {
		return
	}
	k, ok := p.keeper()
	if !ok {
		return
	}
	if p.spot.stopAt(keepHookRun, id) {
		return
	}
	ctx, cancel := p.cleanupContext(ctx)
	defer cancel()
	if rep.image != nil {
		if err := k.TagResource(ctx, "image", rep.image.ID, map[string]string{TagClaimedBy: id}); err != nil {
			p.log.WithError(err).WithFields(log.Fields{"instance": id, "image": rep.image.ID}).Warn("could not claim kept image")
		}
		return
	}
	claim := map[string]string{TagClaimedBy: id, TagKeepStep: keepStepClaimed}
	for _, d := range rep.disks {
		if err := k.TagResource(ctx, "disk", d.ID, claim); err != nil {
			p.log.WithError(err).WithFields(log.Fields{"instance": id, "disk": d.ID}).Warn("could not claim kept disk; the watcher will")
		}
	}
	if p.spot.stopAt(keepHookClaimed, id) || len(rep.disks) == 0 {
		return
	}
	s := p.spot
	disks := append([]ecs.Disk(nil), rep.disks...)
	s.work.Add(1)
	go func() {
		defer s.work.Done()
		p.attachKept(s.ctx, k, id, disks)
	}()
}

// attachKept attaches kept disks to their new instance once ECS takes them
// (the instance Running), for up to attachTimeout. Close cancels ctx and it
// returns at once: the tags let any copy's watcher finish the attach.
func (p *Plugin) attachKept(ctx context.Context, k ecs.SpotAPI, id string, disks []ecs.Disk) {
	deadline := p.now().Add(attachTimeout)
	wait := 2 * time.Second
	for _, d := range disks {
		for {
			done, retry := p.attachKeptOnce(ctx, k, id, d.ID)
			if done || !retry || !p.now().Before(deadline) {
				break
			}
			if err := p.retry.Sleep(ctx, wait); err != nil {
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
func (p *Plugin) attachKeptOnce(ctx context.Context, k ecs.SpotAPI, id, diskID string) (done, retry bool) {
	logger := p.log.WithFields(log.Fields{"action": "keep-data", "instance": id, "disk": diskID})
	err := p.api.AttachDisk(ctx, id, diskID, false)
	switch {
	case err == nil:
		logger.Info("attached kept disk to the replacement")
	case ecs.ErrorCode(err) == ecs.CodeIncorrectInstanceStatus:
		return false, true
	case ecs.ErrorCode(err) == "IncorrectDiskStatus":
		// Another copy may have attached it first: look before crying.
		found, derr := p.api.DescribeDisks(ctx, ecs.DiskFilter{DiskIDs: []string{diskID}})
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
	if err := k.TagResource(ctx, "disk", diskID, map[string]string{TagKeepStep: keepStepAttached, TagClaimedBy: id}); err != nil && ctx.Err() == nil {
		logger.WithError(err).Warn("could not record the attach; the watcher will")
	}
	return true, false
}

// resumeKeptDisks is the watcher's part of the move (every copy, every
// tick): it finishes claims and attaches a stopped copy left, records
// finished attaches, and deletes kept disks no group will take again.
func (p *Plugin) resumeKeptDisks(ctx context.Context) error {
	k, ok := p.keeper()
	if !ok {
		return nil
	}
	all, err := p.api.DescribeDisks(ctx, ecs.DiskFilter{Tags: mergeTags(p.namespace, map[string]string{TagKept: "true"})})
	if err != nil {
		return fmt.Errorf("list kept disks: %w", err)
	}
	var mine []ecs.Disk
	for _, d := range all {
		if t := d.TagMap(); hasTags(t, p.namespace) && t[TagKept] == "true" && t[TagPreemptedFrom] != "" {
			mine = append(mine, d)
		}
	}
	sets := groupKeptSets(mine)
	live, err := p.liveClaimers(ctx, claimers(sets))
	if err != nil {
		return fmt.Errorf("check claims on kept disks: %w", err)
	}
	now := p.now()
	groupLive := map[string]bool{}
	var firstErr error
	for _, s := range sets {
		if err := p.resumeSet(ctx, k, s, live, groupLive, now); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	p.spot.mu.Lock()
	for id, at := range p.spot.orphans {
		if now.Sub(at) > 24*time.Hour {
			delete(p.spot.orphans, id)
		}
	}
	p.spot.mu.Unlock()
	return firstErr
}

func (p *Plugin) resumeSet(ctx context.Context, k ecs.SpotAPI, s keptSet, live map[string]string, groupLive map[string]bool, now time.Time) error {
	// Disks still on the reclaimed instance are keepData's (it runs again
	// on the next notice); disks on their claimer only need the step.
	var avail []ecs.Disk
	for _, d := range s.disks {
		t := d.TagMap()
		switch {
		case d.InstanceID == "" && (d.Status == "" || d.Status == "Available"):
			avail = append(avail, d)
		case d.InstanceID != "" && d.InstanceID == claimedBy(t) && t[TagKeepStep] != keepStepAttached:
			if err := k.TagResource(ctx, "disk", d.ID, map[string]string{TagKeepStep: keepStepAttached}); err != nil {
				return fmt.Errorf("record attach of kept disk %s: %w", d.ID, err)
			}
		}
	}
	if len(avail) == 0 {
		return nil
	}
	owner, claiming, err := p.setOwner(ctx, keptSet{from: s.from, disks: avail}, live)
	if err != nil || claiming {
		return err
	}
	if owner != "" {
		for _, d := range avail {
			if t := d.TagMap(); t[TagClaimedBy] != owner || t[TagKeepStep] != keepStepClaimed {
				if err := k.TagResource(ctx, "disk", d.ID, map[string]string{TagClaimedBy: owner, TagKeepStep: keepStepClaimed}); err != nil {
					return fmt.Errorf("claim kept disk %s for instance %s: %w", d.ID, owner, err)
				}
				p.log.WithFields(log.Fields{"action": "keep-data", "instance": owner, "disk": d.ID, "from": s.from}).
					Info("claimed kept disk for a replacement whose copy of the plugin stopped before claiming it")
			}
			p.attachKeptOnce(ctx, k, owner, d.ID)
		}
		return nil
	}
	for _, d := range avail {
		why := p.keptDiskUnneeded(ctx, d, groupLive, now)
		if why == "" {
			continue
		}
		if err := k.DeleteDisk(ctx, d.ID); err != nil && !ecs.IsNotFound(err) {
			return fmt.Errorf("delete kept disk %s: %w", d.ID, err)
		}
		p.spot.mu.Lock()
		delete(p.spot.orphans, d.ID)
		p.spot.mu.Unlock()
		p.log.WithFields(log.Fields{"action": "cleanup", "disk": d.ID, "from": s.from, "reason": why}).Info("deleted kept disk")
	}
	return nil
}

// keptDiskUnneeded says why an Available kept disk that nobody owns may be
// deleted, or "" to keep it: a replacement took it (or was made for it)
// and that instance and the whole group are gone (for orphanGrace), or it
// was kept and never claimed for keptImageMaxAge.
func (p *Plugin) keptDiskUnneeded(ctx context.Context, d ecs.Disk, groupLive map[string]bool, now time.Time) string {
	t := d.TagMap()
	switch t[TagKeepStep] {
	case keepStepAttached, keepStepClaimed, keepStepClaiming:
		// A replacement was made for it (claiming: past claimingTTL, or
		// setOwner would still hold it) and is gone, and so is the group.
		if p.groupGoneFor(ctx, d.ID, t[tagGroup], groupLive, now) {
			return fmt.Sprintf("its instance %s and every instance of group %q are gone", t[TagClaimedBy], t[tagGroup])
		}
	case keepStepKept:
		if at, err := time.Parse(time.RFC3339, t[TagKeptAt]); err == nil && now.Sub(at) > keptImageMaxAge {
			return "unclaimed for " + keptImageMaxAge.String()
		}
	}
	return ""
}

// groupGoneFor reports whether group has had no live instance for
// orphanGrace, as seen by this copy's ticks for resource id (a kept disk or
// image): the sign of InfraKit's group destroy. groupLive caches one
// tick's look-ups.
func (p *Plugin) groupGoneFor(ctx context.Context, id, group string, groupLive map[string]bool, now time.Time) bool {
	alive, known := groupLive[group]
	if !known {
		found, err := p.api.DescribeInstances(ctx, ecs.InstanceFilter{Tags: mergeTags(p.namespace, map[string]string{tagGroup: group})})
		if err != nil {
			return false // keep it; next tick
		}
		for _, inst := range found {
			if !skippedStatus[inst.Status] {
				alive = true
			}
		}
		groupLive[group] = alive
	}
	s := p.spot
	s.mu.Lock()
	defer s.mu.Unlock()
	if alive {
		delete(s.orphans, id)
		return false
	}
	first, seen := s.orphans[id]
	if !seen {
		s.orphans[id] = now
		return false
	}
	return now.Sub(first) >= orphanGrace
}

// --- test hooks ----------------------------------------------------------------

// Points at which a test may stop a copy of the plugin as if killed.
const (
	keepHookRun     = "run"     // after RunInstances, before the claim tags
	keepHookClaimed = "claimed" // after the claim tags, before AttachDisk
)

// stopAt reports whether the test hook says this copy "dies" here.
func (s *spotState) stopAt(point, id string) bool {
	s.mu.Lock()
	h := s.keepHook
	s.mu.Unlock()
	return h != nil && h(point, id)
}
