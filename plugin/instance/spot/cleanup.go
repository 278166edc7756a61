package spot

import (
	"context"
	"fmt"
	"time"

	log "github.com/Sirupsen/logrus"

	"infrakit.aliyun/internal/ecs"
)

// cleaner is the watcher's part that finishes kept-disk moves a stopped
// copy left and deletes kept disks and images no group will take again.
// It keeps no state: every decision is read from ECS tags, so any copy
// makes the same one.
type cleaner struct {
	*env
	keep *keeper
}

// resumeKeptDisks is the watcher's part of the move (every copy, every
// tick): it finishes claims and attaches a stopped copy left, records
// finished attaches, and deletes kept disks no group will take again.
func (c *cleaner) resumeKeptDisks(ctx context.Context) error {
	if c.Kept == nil {
		return nil
	}
	all, err := c.Instances.DescribeDisks(ctx, ecs.DiskFilter{Tags: mergeTags(c.Namespace, map[string]string{TagKept: "true"})})
	if err != nil {
		return fmt.Errorf("list kept disks: %w", err)
	}
	var mine []ecs.Disk
	for _, d := range all {
		if t := d.TagMap(); hasTags(t, c.Namespace) && t[TagKept] == "true" && t[TagPreemptedFrom] != "" {
			mine = append(mine, d)
		}
	}
	sets := groupKeptSets(mine)
	live, err := c.liveClaimers(ctx, claimers(sets))
	if err != nil {
		return fmt.Errorf("check claims on kept disks: %w", err)
	}
	now := c.Now()
	var firstErr error
	for _, s := range sets {
		if err := c.resumeSet(ctx, s, live, now); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

func (c *cleaner) resumeSet(ctx context.Context, s keptSet, live map[string]string, now time.Time) error {
	// Disks still on the reclaimed instance are keepData's (it runs again
	// on the next notice); disks on their claimer only need the step.
	var avail []ecs.Disk
	for _, d := range s.disks {
		t := d.TagMap()
		switch {
		case d.InstanceID == "" && (d.Status == "" || d.Status == "Available"):
			avail = append(avail, d)
		case d.InstanceID != "" && d.InstanceID == claimedBy(t) && t[TagKeepStep] != KeepStepAttached && t[TagKeepStep] != KeepStepReleased:
			if err := c.Kept.TagResource(ctx, "disk", d.ID, map[string]string{TagKeepStep: KeepStepAttached}); err != nil {
				return fmt.Errorf("record attach of kept disk %s: %w", d.ID, err)
			}
		}
	}
	if len(avail) == 0 {
		return nil
	}
	owner, claiming, err := c.keep.setOwner(ctx, keptSet{from: s.from, disks: avail}, live)
	if err != nil || claiming {
		return err
	}
	if owner != "" {
		for _, d := range avail {
			if d.TagMap()[TagKeepStep] == KeepStepReleased {
				continue // its group was destroyed: deleted once its owner is gone
			}
			if t := d.TagMap(); t[TagClaimedBy] != owner || t[TagKeepStep] != KeepStepClaimed {
				if err := c.Kept.TagResource(ctx, "disk", d.ID, map[string]string{TagClaimedBy: owner, TagKeepStep: KeepStepClaimed}); err != nil {
					return fmt.Errorf("claim kept disk %s for instance %s: %w", d.ID, owner, err)
				}
				c.Log.WithFields(log.Fields{"action": "keep-data", "instance": owner, "disk": d.ID, "from": s.from}).
					Info("claimed kept disk for a replacement whose copy of the plugin stopped before claiming it")
			}
			c.keep.attachKeptOnce(ctx, owner, d.ID)
		}
		return nil
	}
	for _, d := range avail {
		why := keptDiskUnneeded(d, now)
		if why == "" {
			continue
		}
		if err := c.Kept.DeleteDisk(ctx, d.ID); err != nil && !ecs.IsNotFound(err) {
			return fmt.Errorf("delete kept disk %s: %w", d.ID, err)
		}
		c.Log.WithFields(log.Fields{"action": "cleanup", "disk": d.ID, "from": s.from, "reason": why}).Info("deleted kept disk")
	}
	return nil
}

// keptDiskUnneeded says why an Available kept disk that nobody owns may be
// deleted, or "" to keep it: its group was destroyed (keep-step released,
// written by the Destroy that removed the group's last live member), or no
// instance ever took it (kept, or a Provision's claim that came to nothing)
// for keptImageMaxAge since it was kept. A disk a replacement took
// (claimed, attached) is kept until such a release: its group may still
// want it (a reclaimed group of one whose replacement waits for stock).
func keptDiskUnneeded(d ecs.Disk, now time.Time) string {
	t := d.TagMap()
	if _, ok := t[TagAttachment]; ok {
		return "" // an operator's disk (kept by an older build): never deleted
	}
	switch t[TagKeepStep] {
	case KeepStepReleased:
		return fmt.Sprintf("released: group %q was destroyed", t[TagGroup])
	case KeepStepKept, KeepStepClaiming:
		if at, err := time.Parse(time.RFC3339, t[TagKeptAt]); err == nil && now.Sub(at) > keptImageMaxAge {
			return "unclaimed for " + keptImageMaxAge.String()
		}
	}
	return ""
}
