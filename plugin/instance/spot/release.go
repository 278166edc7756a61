package spot

import (
	"context"
	"errors"
	"fmt"

	log "github.com/Sirupsen/logrus"

	"infrakit.aliyun/internal/ecs"
	"infrakit.aliyun/plugin/instance/groupspec"
)

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
	last, err := r.keep.lastMember(ctx, group, inst.ID)
	if err != nil {
		return fmt.Errorf("check group %s for live members: %w", group, err)
	}
	if !last {
		return nil // the group lives: a later replacement may take its kept data
	}
	switch keep {
	case groupspec.KeepDataDisks:
		err = r.keep.releaseDisks(ctx, group, inst.ID)
	case groupspec.KeepDataImage:
		err = r.keep.releaseImages(ctx, group, inst.ID)
	}
	if err == nil && r.stopAt(StopAfterRelease, inst.ID) {
		return ErrStopped
	}
	return err
}

// lastMember reports whether no instance of the group but id is live
// (instances on their way out or being reclaimed do not count).
func (k *keeper) lastMember(ctx context.Context, group, id string) (bool, error) {
	want := mergeTags(k.Namespace, map[string]string{TagGroup: group})
	found, err := k.Instances.DescribeInstances(ctx, ecs.InstanceFilter{Tags: want})
	if err != nil {
		return false, err
	}
	for i := range found {
		inst := &found[i]
		if inst.ID != id && !gone[inst.Status] && !Reclaimed(inst) && hasTags(inst.TagMap(), want) {
			return false, nil
		}
	}
	return true, nil
}

// releaseDisks marks released the group's kept disk sets that no other
// live instance holds and no Provision is taking (setOwner).
func (k *keeper) releaseDisks(ctx context.Context, group, destroyed string) error {
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
	delete(live, destroyed) // it is being deleted
	for _, s := range sets {
		owner, claiming, err := k.setOwner(ctx, s, live)
		if err != nil {
			return err
		}
		if claiming || (owner != "" && owner != destroyed) {
			continue // a replacement in progress
		}
		for _, d := range s.disks {
			if err := k.mark(ctx, "disk", d.ID, d.TagMap(), group, destroyed); err != nil {
				return err
			}
		}
	}
	return nil
}

// releaseImages marks released the group's kept images that no other live
// instance boots from.
func (k *keeper) releaseImages(ctx context.Context, group, destroyed string) error {
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
		if c := t[TagClaimedBy]; c != "" && c != destroyed && live[c] != "" {
			continue
		}
		if err := k.mark(ctx, "image", im.ID, t, group, destroyed); err != nil {
			return err
		}
	}
	return nil
}

// mark tags one kept disk or image released (once).
func (k *keeper) mark(ctx context.Context, typ, id string, t map[string]string, group, destroyed string) error {
	if t[TagKeepStep] == KeepStepReleased {
		return nil
	}
	if err := k.Kept.TagResource(ctx, typ, id, map[string]string{TagKeepStep: KeepStepReleased}); err != nil {
		return fmt.Errorf("release kept %s %s: %w", typ, id, err)
	}
	k.logf(log.Fields{"action": "destroy", "instance": destroyed, "group": group, typ: id}).
		Info("released kept data: deleted by the watcher once free")
	return nil
}
