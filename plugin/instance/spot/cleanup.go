package spot

import (
	"context"
	"fmt"
	"sync"
	"time"

	log "github.com/Sirupsen/logrus"

	"infrakit.aliyun/internal/ecs"
)

// cleaner is the watcher's part that finishes kept-disk moves a stopped
// copy left and deletes kept disks and images no group will take again.
type cleaner struct {
	*env
	keep *keeper

	mu      sync.Mutex
	orphans map[string]time.Time // kept disk or image -> first seen orphaned
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
	groupLive := map[string]bool{}
	var firstErr error
	for _, s := range sets {
		if err := c.resumeSet(ctx, s, live, groupLive, now); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	c.mu.Lock()
	for id, at := range c.orphans {
		if now.Sub(at) > 24*time.Hour {
			delete(c.orphans, id)
		}
	}
	c.mu.Unlock()
	return firstErr
}

func (c *cleaner) resumeSet(ctx context.Context, s keptSet, live map[string]string, groupLive map[string]bool, now time.Time) error {
	// Disks still on the reclaimed instance are keepData's (it runs again
	// on the next notice); disks on their claimer only need the step.
	var avail []ecs.Disk
	for _, d := range s.disks {
		t := d.TagMap()
		switch {
		case d.InstanceID == "" && (d.Status == "" || d.Status == "Available"):
			avail = append(avail, d)
		case d.InstanceID != "" && d.InstanceID == claimedBy(t) && t[TagKeepStep] != KeepStepAttached:
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
		why := c.keptDiskUnneeded(ctx, d, groupLive, now)
		if why == "" {
			continue
		}
		if err := c.Kept.DeleteDisk(ctx, d.ID); err != nil && !ecs.IsNotFound(err) {
			return fmt.Errorf("delete kept disk %s: %w", d.ID, err)
		}
		c.mu.Lock()
		delete(c.orphans, d.ID)
		c.mu.Unlock()
		c.Log.WithFields(log.Fields{"action": "cleanup", "disk": d.ID, "from": s.from, "reason": why}).Info("deleted kept disk")
	}
	return nil
}

// keptDiskUnneeded says why an Available kept disk that nobody owns may be
// deleted, or "" to keep it: a replacement took it (or was made for it)
// and that instance and the whole group are gone (for OrphanGrace), or it
// was kept and never claimed for keptImageMaxAge.
func (c *cleaner) keptDiskUnneeded(ctx context.Context, d ecs.Disk, groupLive map[string]bool, now time.Time) string {
	t := d.TagMap()
	switch t[TagKeepStep] {
	case KeepStepAttached, KeepStepClaimed, KeepStepClaiming:
		// A replacement was made for it (claiming: past claimingTTL, or
		// setOwner would still hold it) and is gone, and so is the group.
		if c.groupGoneFor(ctx, d.ID, t[TagGroup], groupLive, now) {
			return fmt.Sprintf("its instance %s and every instance of group %q are gone", t[TagClaimedBy], t[TagGroup])
		}
	case KeepStepKept:
		if at, err := time.Parse(time.RFC3339, t[TagKeptAt]); err == nil && now.Sub(at) > keptImageMaxAge {
			return "unclaimed for " + keptImageMaxAge.String()
		}
	}
	return ""
}

// groupGoneFor reports whether group has had no live instance for
// OrphanGrace, as seen by this copy's ticks for resource id (a kept disk or
// image): the sign of InfraKit's group destroy. groupLive caches one
// tick's look-ups.
func (c *cleaner) groupGoneFor(ctx context.Context, id, group string, groupLive map[string]bool, now time.Time) bool {
	alive, known := groupLive[group]
	if !known {
		found, err := c.Instances.DescribeInstances(ctx, ecs.InstanceFilter{Tags: mergeTags(c.Namespace, map[string]string{TagGroup: group})})
		if err != nil {
			return false // keep it; next tick
		}
		for _, inst := range found {
			if !gone[inst.Status] {
				alive = true
			}
		}
		groupLive[group] = alive
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if alive {
		delete(c.orphans, id)
		return false
	}
	first, seen := c.orphans[id]
	if !seen {
		c.orphans[id] = now
		return false
	}
	return now.Sub(first) >= OrphanGrace
}
