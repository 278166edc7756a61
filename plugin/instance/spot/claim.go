package spot

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"sync"
	"time"

	log "github.com/Sirupsen/logrus"

	"infrakit.aliyun/internal/ecs"
	"infrakit.aliyun/plugin/instance/groupspec"
)

// ErrKeptDataNotReady is wrapped by Provision errors that only mean "retry
// shortly": the data of a reclaimed instance is still being saved, or the
// logical ID's private IP is still held by a reclaimed instance.
var ErrKeptDataNotReady = errors.New("retry shortly")

// ClaimRequest is what Provision asks kept data for.
type ClaimRequest struct {
	Group, LogicalID string
	// KeepData is the spec's Preemption.KeepData (never empty here).
	KeepData string
	// Tags is how many tags the new instance carries already (with
	// TagKeepData), so TagReplaces is refused past groupspec.MaxTags
	// before any disk is tagged.
	Tags int
}

// Claim is kept data of a reclaimed instance of the group that Provision
// may use: an image to boot from, or data disks to attach. Release must be
// called once Provision is done with it (nil-safe).
type Claim struct {
	Image *ecs.Image
	Disks []ecs.Disk
	// From is the reclaimed instance; with Disks, Provision tags the new
	// instance TagReplaces=From in RunInstances.
	From string
	// InstanceType (images) and VSwitch are where the reclaimed instance
	// ran; the replacement runs there ("" = no preference).
	InstanceType, VSwitch string
	unlock                func()
}

// KeptDisks are the kept data disks to attach to the new instance (nil-safe).
func (c *Claim) KeptDisks() []ecs.Disk {
	if c == nil {
		return nil
	}
	return c.Disks
}

// Release lets other Provisions of the group look for kept data again.
func (c *Claim) Release() {
	if c != nil && c.unlock != nil {
		c.unlock()
		c.unlock = nil
	}
}

// groupLock is one group's claim lock and how many Claims hold or wait
// for it: it is dropped with the last, so group names (a spec's) are not
// kept for the plugin's life.
type groupLock struct {
	sync.Mutex
	users int
}

// lockGroup takes the group's claim lock and returns its unlock.
func (r *Reclaims) lockGroup(group string) func() {
	r.mu.Lock()
	l := r.groupLocks[group]
	if l == nil {
		l = &groupLock{}
		r.groupLocks[group] = l
	}
	l.users++
	r.mu.Unlock()
	l.Lock()
	return func() {
		l.Unlock()
		r.mu.Lock()
		if l.users--; l.users == 0 {
			delete(r.groupLocks, group)
		}
		r.mu.Unlock()
	}
}

// Claim finds kept data of a reclaimed instance of the group for a new
// instance: it waits (bounded) for data still being saved, and for disks
// tags them claiming before RunInstances (disks.go). It returns nil when
// there is none to use. Claims of one group are made one at a time: the
// caller must call Release on the result.
func (r *Reclaims) Claim(ctx context.Context, req ClaimRequest) (*Claim, error) {
	if r.env.Kept == nil {
		return nil, nil
	}
	if err := r.waitKeep(ctx, req.Group, req.LogicalID); err != nil {
		return nil, err
	}
	c := &Claim{unlock: r.lockGroup(req.Group)}
	var err error
	switch req.KeepData {
	case groupspec.KeepDataImage:
		err = r.keep.findKeptImage(ctx, req.Group, req.LogicalID, c)
	case groupspec.KeepDataDisks:
		err = r.keep.findKeptDisks(ctx, req.Group, req.LogicalID, c)
	}
	if err != nil || (c.Image == nil && len(c.Disks) == 0) {
		c.Release()
		return nil, err
	}
	if len(c.Disks) > 0 {
		// Written before the first step: the instance carries the set it
		// takes from its first moment (RunInstances tags), and the disks
		// say a Provision is taking them (disks.go).
		if n := req.Tags + 1; n > groupspec.MaxTags {
			c.Release()
			return nil, fmt.Errorf("tags: %d tags with %s, at most %d per instance", n, TagReplaces, groupspec.MaxTags)
		}
		if err := r.keep.markClaiming(ctx, c); err != nil {
			c.Release()
			return nil, err
		}
		c.VSwitch = c.Disks[0].TagMap()[TagSourceVSwitch]
	} else {
		t := c.Image.TagMap()
		c.InstanceType, c.VSwitch = t[TagSourceType], t[TagSourceVSwitch]
	}
	return c, nil
}

// CheckLogicalID fails fast while a reclaimed instance still holds the
// private IP that a logical ID asks for: ECS would refuse the duplicate
// address anyway, and the group plugin retries on its next poll, so the
// replacement starts as soon as ECS releases the old one.
func (r *Reclaims) CheckLogicalID(ctx context.Context, logical string) error {
	ip := net.ParseIP(logical)
	if ip == nil || ip.To4() == nil {
		return nil
	}
	var holders []Interruption
	r.mu.Lock()
	for _, d := range r.doomed {
		if d.info.PrivateIP == ip.String() || d.info.LogicalID == logical {
			holders = append(holders, d.info)
		}
	}
	r.mu.Unlock()
	for _, h := range holders {
		list, err := r.env.Instances.DescribeInstances(ctx, ecs.InstanceFilter{InstanceIDs: []string{h.InstanceId}})
		if err != nil {
			return fmt.Errorf("check instance %s holding %s: %w", h.InstanceId, logical, err)
		}
		for _, inst := range list {
			if inst.ID == h.InstanceId && !gone[inst.Status] {
				return fmt.Errorf("logical id %s: private ip still held by reclaimed instance %s until ECS releases it (by %s): %w",
					logical, h.InstanceId, h.ReleaseBy.Format(time.RFC3339), ErrKeptDataNotReady)
			}
		}
	}
	return nil
}

// waitKeep waits (bounded) until the data of every noticed instance of the
// group has been saved.
func (r *Reclaims) waitKeep(ctx context.Context, group, logical string) error {
	var waits []*doomed
	r.mu.Lock()
	for _, d := range r.doomed {
		// Only confirmed notices are here (a push adds nothing before ECS
		// shows the lock), so an unconfirmed push never delays a Provision.
		if d.info.Group == group && d.info.KeepData != "" && (logical == "" || d.info.LogicalID == logical) {
			waits = append(waits, d)
		}
	}
	r.mu.Unlock()
	if len(waits) == 0 {
		return nil
	}
	timer := time.NewTimer(keepWait)
	defer timer.Stop()
	for _, d := range waits {
		select {
		case <-d.ready:
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
			return fmt.Errorf("data of reclaimed instance %s is still being saved: %w", d.info.InstanceId, ErrKeptDataNotReady)
		}
	}
	return nil
}

// matchesSlot reports whether kept data tagged t is for this logical ID:
// pets take only their own, cattle only data without a logical ID.
func matchesSlot(t map[string]string, logical string) bool {
	return t[TagLogicalID] == logical
}

// keptImages picks the images kept from reclaimed instances whose tags
// match (nil: all), and the instances that claimed them.
func keptImages(images []ecs.Image, match func(t map[string]string) bool) (kept []ecs.Image, claimers []string) {
	for _, im := range images {
		t := im.TagMap()
		if t[TagPreemptedFrom] == "" || (match != nil && !match(t)) {
			continue
		}
		kept = append(kept, im)
		if c := t[TagClaimedBy]; c != "" {
			claimers = append(claimers, c)
		}
	}
	return kept, claimers
}

func (k *keeper) findKeptImage(ctx context.Context, group, logical string, c *Claim) error {
	images, err := k.Kept.DescribeImages(ctx, ecs.ImageFilter{Tags: mergeTags(k.Namespace, map[string]string{TagGroup: group})})
	if err != nil {
		return fmt.Errorf("find kept images of group %s: %w", group, err)
	}
	cands, claimers := keptImages(images, func(t map[string]string) bool {
		return matchesSlot(t, logical) && t[TagKeepStep] != KeepStepReleased
	})
	if len(cands) == 0 {
		return nil
	}
	live, err := k.liveClaimers(ctx, claimers)
	if err != nil {
		return fmt.Errorf("check claims on kept images: %w", err)
	}
	// Available first; then pets take the newest (the latest state of
	// that logical ID), cattle the oldest (first reclaimed, first replaced).
	sort.Slice(cands, func(i, j int) bool {
		ai, aj := cands[i].Status == "Available", cands[j].Status == "Available"
		if ai != aj {
			return ai
		}
		if logical != "" {
			return cands[i].CreationTime > cands[j].CreationTime
		}
		return cands[i].CreationTime < cands[j].CreationTime
	})
	now := k.Now()
	for i := range cands {
		im := &cands[i]
		t := im.TagMap()
		if cl := t[TagClaimedBy]; cl != "" && live[cl] != "" {
			continue
		}
		if im.Status != "Available" {
			if created, ok := parseECSTime(im.CreationTime); ok && now.Sub(created) > imageReadyLimit {
				continue // stuck; boot from the spec's image rather than never
			}
			return fmt.Errorf("image %s of reclaimed instance %s is %s: %w", im.ID, t[TagPreemptedFrom], im.Status, ErrKeptDataNotReady)
		}
		c.Image, c.From = im, t[TagPreemptedFrom]
		return nil
	}
	return nil
}

// Finish runs right after RunInstances made instance id with the claimed
// data: it tags the data as claimed by id, so no other Provision takes it,
// and for disks starts the attach (ECS takes it once the instance runs). A
// failed claim is logged, not fatal: the instance's replaces tag still
// names the set, and the watcher of any copy finishes the claim and the
// attach. The claim runs under Config.Detached, not under the Provision's
// deadline that RunInstances may have used up.
func (r *Reclaims) Finish(ctx context.Context, c *Claim, id string) {
	if c == nil || r.env.Kept == nil || r.stopAt(StopAfterRun, id) {
		return
	}
	k := r.env.Kept
	ctx, cancel := r.env.Detached(ctx)
	defer cancel()
	logger := r.env.logf(log.Fields{"instance": id})
	if c.Image != nil {
		if err := k.TagResource(ctx, "image", c.Image.ID, map[string]string{TagClaimedBy: id}); err != nil {
			logger.WithError(err).WithField("image", c.Image.ID).Warn("could not claim kept image")
		}
		return
	}
	claim := map[string]string{TagClaimedBy: id, TagKeepStep: KeepStepClaimed}
	for _, d := range c.Disks {
		if err := k.TagResource(ctx, "disk", d.ID, claim); err != nil {
			logger.WithError(err).WithField("disk", d.ID).Warn("could not claim kept disk; the watcher will")
		}
	}
	if r.stopAt(StopAfterClaimed, id) || len(c.Disks) == 0 {
		return
	}
	disks := append([]ecs.Disk(nil), c.Disks...)
	r.work.Add(1)
	go func() {
		defer r.work.Done()
		r.keep.attachKept(r.ctx, id, disks)
	}()
}
