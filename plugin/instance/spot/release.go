package spot

import (
	"context"
	"errors"
	"fmt"
	"time"

	log "github.com/Sirupsen/logrus"

	"infrakit.aliyun/internal/ecs"
	"infrakit.aliyun/plugin/instance/groupspec"
)

// TagDestroying is put on an instance a terminate Destroy is deleting (the
// time, RFC 3339), so concurrent Destroys of the same group do not count
// each other as live; a stale one (destroyingNow) counts as live.
// (An instance with 20 tags cannot take it; Destroys of such instances
// that run at once may then each see the others and release nothing.)
const TagDestroying = "infrakit-aliyun.destroying"

// destroyingNow reports whether an instance's destroying tag (the time its
// Destroy began) is recent enough that the Destroy may still be about to
// delete it: past ClaimingTTL (the Destroy's budget and more) the Destroy
// has answered, so an instance still here with the tag is one whose
// DeleteInstance failed or whose copy stopped, and it is a live member.
func (e *env) destroyingNow(t map[string]string) bool {
	at, err := time.Parse(time.RFC3339, t[TagDestroying])
	return err == nil && e.Now().Sub(at) < e.ClaimingTTL()
}

// StopAfterRelease is the test point right after Release marked kept data,
// before the plugin deletes the instance.
const StopAfterRelease = "released"

// ErrStopped is returned where a test's stop hook "killed" this copy.
var ErrStopped = errors.New("stopped by the test hook")

// Release runs in the plugin's Destroy with reason terminate (InfraKit's
// group destroy and scale-down), before the instance is deleted. For an
// instance of a KeepData group that is the group's last live member
// (instances being reclaimed do not count; ECS releases them), it marks
// released (TagKeepStep=released) every kept disk or image of the group
// that no other live instance holds and no Provision is taking, so any
// copy's watcher deletes it. A scaled-down member's kept disk stays for
// the group's next replacement. Marking is idempotent and written before the delete,
// so a copy that stops in between leaves nothing unmarked.
func (r *Reclaims) Release(ctx context.Context, inst *ecs.Instance) error {
	t := inst.TagMap()
	group, keep := t[TagGroup], t[TagKeepData]
	if group == "" || keep == "" || r.env.Kept == nil {
		return nil
	}
	// Tagged first, then the group read: of Destroys running at once (a
	// group destroy, a scale-down to 0), the one that reads last sees every
	// other one's tag, so one of them finds it is the last.
	if _, has := t[TagDestroying]; (has || len(inst.Tags) < groupspec.MaxTags) && !r.env.destroyingNow(t) {
		stamp := r.env.Now().UTC().Format(time.RFC3339)
		if err := r.env.Instances.TagResources(ctx, inst.ID, map[string]string{TagDestroying: stamp}); err != nil {
			return fmt.Errorf("tag instance %s destroying: %w", inst.ID, err)
		}
	}
	last, leaving, err := r.keep.lastMember(ctx, group, inst.ID)
	if err != nil {
		return fmt.Errorf("check group %s for live members: %w", group, err)
	}
	if !last {
		return nil // the group lives: a later replacement may take its kept data
	}
	switch keep {
	case groupspec.KeepDataDisks:
		err = r.keep.releaseDisks(ctx, group, leaving)
	case groupspec.KeepDataImage:
		err = r.keep.releaseImages(ctx, group, leaving)
	}
	if err == nil && r.stopAt(StopAfterRelease, inst.ID) {
		return ErrStopped
	}
	return err
}

// lastMember reports whether no instance of the group but id is live
// (instances on their way out, being reclaimed or being destroyed do not
// count), and which are being destroyed (id among them): what they hold is
// released with the group.
func (k *keeper) lastMember(ctx context.Context, group, id string) (bool, map[string]bool, error) {
	want := mergeTags(k.Namespace, map[string]string{TagGroup: group})
	found, err := k.Instances.DescribeInstances(ctx, ecs.InstanceFilter{Tags: want})
	if err != nil {
		return false, nil, err
	}
	leaving := map[string]bool{id: true}
	last := true
	for i := range found {
		inst := &found[i]
		t := inst.TagMap()
		switch {
		case inst.ID == id || gone[inst.Status] || Reclaimed(inst) || !hasTags(t, want):
		case k.destroyingNow(t):
			leaving[inst.ID] = true
		default:
			last = false
		}
	}
	return last, leaving, nil
}

// releaseDisks marks released the group's kept disk sets that no live
// instance but those leaving holds and no Provision is taking (setOwner).
func (k *keeper) releaseDisks(ctx context.Context, group string, leaving map[string]bool) error {
	disks, err := k.Instances.DescribeDisks(ctx, ecs.DiskFilter{Tags: mergeTags(k.Namespace, map[string]string{TagGroup: group, TagKept: "true"})})
	if err != nil {
		return fmt.Errorf("list kept disks of group %s: %w", group, err)
	}
	var mine []ecs.Disk
	for _, d := range disks {
		if t := d.TagMap(); hasTags(t, k.Namespace) && t[TagKept] == "true" && t[TagPreemptedFrom] != "" && t[TagGroup] == group {
			mine = append(mine, d)
		}
	}
	sets := groupKeptSets(mine)
	live, err := k.liveClaimers(ctx, claimers(sets))
	if err != nil {
		return fmt.Errorf("check claims on kept disks: %w", err)
	}
	for id := range leaving {
		delete(live, id) // being deleted
	}
	for _, s := range sets {
		owner, claiming, err := k.setOwner(ctx, s, live)
		if err != nil {
			return err
		}
		if claiming || (owner != "" && !leaving[owner]) {
			continue // a replacement in progress
		}
		for _, d := range s.disks {
			if err := k.mark(ctx, "disk", d.ID, d.TagMap(), group); err != nil {
				return err
			}
		}
	}
	return nil
}

// releaseImages marks released the group's kept images that no live
// instance but those leaving boots from.
func (k *keeper) releaseImages(ctx context.Context, group string, leaving map[string]bool) error {
	images, err := k.Kept.DescribeImages(ctx, ecs.ImageFilter{Tags: mergeTags(k.Namespace, map[string]string{TagGroup: group})})
	if err != nil {
		return fmt.Errorf("list kept images of group %s: %w", group, err)
	}
	kept, claimers := keptImages(images, func(t map[string]string) bool { return hasTags(t, k.Namespace) && t[TagGroup] == group })
	live, err := k.liveClaimers(ctx, claimers)
	if err != nil {
		return fmt.Errorf("check claims on kept images: %w", err)
	}
	for _, im := range kept {
		t := im.TagMap()
		if c := t[TagClaimedBy]; c != "" && !leaving[c] && live[c] != "" {
			continue
		}
		if err := k.mark(ctx, "image", im.ID, t, group); err != nil {
			return err
		}
	}
	return nil
}

// mark tags one kept disk or image released (once).
func (k *keeper) mark(ctx context.Context, typ, id string, t map[string]string, group string) error {
	if t[TagKeepStep] == KeepStepReleased {
		return nil
	}
	if err := k.Kept.TagResource(ctx, typ, id, map[string]string{TagKeepStep: KeepStepReleased}); err != nil {
		return fmt.Errorf("release kept %s %s: %w", typ, id, err)
	}
	k.logf(log.Fields{"action": "destroy", "group": group, typ: id}).
		Info("released kept data: deleted by the watcher once free")
	return nil
}
