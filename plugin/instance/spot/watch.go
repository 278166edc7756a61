package spot

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	log "github.com/Sirupsen/logrus"

	"infrakit.aliyun/internal/ecs"
)

// Watcher is the background watcher of one copy: every interval it asks
// ECS for the namespace's reclaimed instances, notices them, finishes the
// kept-disk moves any copy left and deletes kept data no longer needed.
type Watcher struct {
	r     *Reclaims
	clean *cleaner

	mu         sync.Mutex
	done       chan struct{} // set once the watcher runs; closed when it stops
	lockFilter string        // the LockReason value the watcher sends
	ticks      int
}

// Start starts the watcher; Reclaims.Close stops it. interval <= 0 means
// DefaultWatchInterval.
func (w *Watcher) Start(interval time.Duration) {
	if interval <= 0 {
		interval = DefaultWatchInterval
	}
	t := time.NewTicker(interval)
	w.StartOn(t.C, t.Stop)
}

// StartOn runs the watcher on any tick channel (tests send ticks); stop is
// called when it ends. A second start does nothing.
func (w *Watcher) StartOn(ticks <-chan time.Time, stop func()) {
	w.mu.Lock()
	if w.done != nil { // already running
		w.mu.Unlock()
		stop()
		return
	}
	ctx := w.r.ctx // Close cancels it
	done := make(chan struct{})
	w.done = done
	w.mu.Unlock()
	go func() {
		defer close(done)
		defer stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-ticks:
				w.Once(ctx)
			}
		}
	}()
}

// wait waits for a started watcher to stop.
func (w *Watcher) wait() {
	w.mu.Lock()
	done := w.done
	w.mu.Unlock()
	if done != nil {
		<-done
	}
}

// Once is one watcher tick. It asks ECS for the namespace's reclaimed
// instances only: one call whatever the namespace's size, where a full scan
// would cost ceil(N/100) calls every tick (100 at 10,000 instances).
//
// The LockReason value's case is not settled: the official API models
// disagree ("Recycling" in one, "recycling" in two), and a filter in the
// case ECS does not accept either fails with InvalidParameter or silently
// matches nothing. So the watcher sends one case (lockFilter, "Recycling"
// first) and switches, and remembers, when ECS rejects it, or when the full
// scan it makes every FullScanEvery ticks sees a Recycling lock (compared
// without case) that the filtered call of the same tick missed. The common
// case costs one call per tick as before, plus ceil(N/100) calls every
// FullScanEvery ticks (which also refresh what pushes are checked against).
func (w *Watcher) Once(ctx context.Context) {
	e := w.r.env
	w.mu.Lock()
	filter := w.lockFilter
	w.ticks++
	full := w.ticks%FullScanEvery == 0
	w.mu.Unlock()
	logger := e.Log.WithField("action", "watch")

	list, err := e.Instances.DescribeInstances(ctx, ecs.InstanceFilter{Tags: e.Namespace, LockReason: filter})
	if err != nil && isParamError(err) {
		other := otherLockCase(filter)
		logger.WithError(err).WithFields(log.Fields{"rejected": filter, "now": other}).Info("ECS refused the LockReason filter's case; switching")
		filter = other
		w.mu.Lock()
		w.lockFilter = other
		w.mu.Unlock()
		list, err = e.Instances.DescribeInstances(ctx, ecs.InstanceFilter{Tags: e.Namespace, LockReason: filter})
	}
	seen := map[string]bool{}
	if err != nil {
		logger.WithError(err).Warn("describe failed")
	} else {
		for i := range list {
			seen[list[i].ID] = true
			if IsSpot(&list[i]) {
				w.r.Observe(&list[i], "watcher")
			}
		}
	}
	if full && err == nil {
		w.fullScan(ctx, filter, seen)
	}
	if err := w.clean.cleanupImages(ctx); err != nil && ctx.Err() == nil {
		logger.WithError(err).Warn("image cleanup failed")
	}
	if err := w.clean.resumeKeptDisks(ctx); err != nil && ctx.Err() == nil {
		logger.WithError(err).Warn("kept disks: could not finish moves")
	}
}

// FullScanEvery is how many watcher ticks pass between two full scans
// (every 10 minutes at the default 30 s interval).
const FullScanEvery = 20

// fullScan describes every instance of the namespace, notices reclaims and
// checks that the LockReason filter (in the case sent) missed none.
func (w *Watcher) fullScan(ctx context.Context, filter string, seen map[string]bool) {
	e := w.r.env
	all, err := e.Instances.DescribeInstances(ctx, ecs.InstanceFilter{Tags: e.Namespace})
	if err != nil {
		e.Log.WithError(err).WithField("action", "watch").Warn("full describe failed")
		return
	}
	missed := 0
	for i := range all {
		inst := &all[i]
		w.r.noteSeen(inst)
		if !IsSpot(inst) || !Reclaimed(inst) {
			continue
		}
		if !seen[inst.ID] {
			missed++
		}
		w.r.Observe(inst, "watcher")
	}
	if missed == 0 {
		return
	}
	other := otherLockCase(filter)
	e.Log.WithFields(log.Fields{"action": "watch", "missed": missed, "filter": filter, "now": other}).
		Info("the LockReason filter missed reclaimed instances a full describe shows; switching its case")
	w.mu.Lock()
	if w.lockFilter == filter {
		w.lockFilter = other
	}
	w.mu.Unlock()
}

// otherLockCase is the other spelling of the Recycling lock.
func otherLockCase(v string) string {
	if v == LockRecycling {
		return strings.ToLower(LockRecycling)
	}
	return LockRecycling
}

// isParamError reports an ECS refusal of a parameter's value.
func isParamError(err error) bool {
	c := ecs.ErrorCode(err)
	return strings.HasPrefix(c, "InvalidParameter") || strings.HasPrefix(c, "InvalidLockReason")
}

// cleanupImages deletes kept images once they are no longer needed: when
// the replacement that claimed one is Running (its disk is made), when its
// group was destroyed (released), when a newer image exists for the same
// logical ID, or when it is older than keptImageMaxAge.
func (c *cleaner) cleanupImages(ctx context.Context) error {
	if c.Kept == nil {
		return nil
	}
	images, err := c.Kept.DescribeImages(ctx, ecs.ImageFilter{Tags: c.Namespace})
	if err != nil {
		return fmt.Errorf("list kept images: %w", err)
	}
	kept, claimers := keptImages(images, nil)
	if len(kept) == 0 {
		return nil
	}
	live, err := c.liveClaimers(ctx, claimers)
	if err != nil {
		return fmt.Errorf("check claims on kept images: %w", err)
	}
	newest := newestPerSlot(kept)
	now := c.Now()
	for _, im := range kept {
		t := im.TagMap()
		why := ""
		claimer := t[TagClaimedBy]
		switch {
		case claimer != "" && live[claimer] == "Running":
			why = "replacement " + claimer + " is running"
		case claimer != "" && live[claimer] != "":
			continue // the replacement still boots from it
		case t[TagKeepStep] == KeepStepReleased:
			// The Destroy of the group's last live member released it.
			why = "released: group " + t[TagGroup] + " was destroyed"
		case t[TagLogicalID] != "" && im.CreationTime < newest[t[TagGroup]+"\x00"+t[TagLogicalID]]:
			why = "a newer image exists for logical id " + t[TagLogicalID]
		default:
			if created, ok := parseECSTime(im.CreationTime); ok && now.Sub(created) > keptImageMaxAge {
				why = "unclaimed for " + keptImageMaxAge.String()
			}
		}
		if why == "" {
			continue
		}
		if err := c.Kept.DeleteImage(ctx, im.ID, true); err != nil && !ecs.IsNotFound(err) && ecs.ErrorCode(err) != "InvalidImageId.NotFound" {
			return fmt.Errorf("delete kept image %s: %w", im.ID, err)
		}
		c.Log.WithFields(log.Fields{"action": "cleanup", "image": im.ID, "from": t[TagPreemptedFrom], "reason": why}).Info("deleted kept image")
	}
	return nil
}

// newestPerSlot is the newest creation time of the kept images of each
// pet (group/logical ID).
func newestPerSlot(kept []ecs.Image) map[string]string {
	newest := map[string]string{}
	for _, im := range kept {
		t := im.TagMap()
		if t[TagLogicalID] == "" {
			continue
		}
		slot := t[TagGroup] + "\x00" + t[TagLogicalID]
		if im.CreationTime > newest[slot] {
			newest[slot] = im.CreationTime
		}
	}
	return newest
}

// CleanImages is the image part of Once: kept images no longer needed are
// deleted.
func (w *Watcher) CleanImages(ctx context.Context) error { return w.clean.cleanupImages(ctx) }
