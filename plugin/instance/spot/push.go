package spot

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	log "github.com/Sirupsen/logrus"

	"infrakit.aliyun/internal/ecs"
)

// Pushed interruption notices (CloudMonitor Instance:PreemptibleInstanceInterruption,
// via the daemon's --events-listen) are hints, never proof.
//
// Anyone who can reach the listener can send one: CloudMonitor's webhook
// push channel and its URL callback do not sign the body or send a
// configurable secret header (Alibaba's documentation offers only a list
// of source CIDR blocks to allow), so there is nothing to verify. Instead a
// push can do nothing a forger could use:
//   - nothing is hidden, delayed or spent on it before ECS itself shows the
//     Recycling lock: the instance stays in group describes, Provision does
//     not wait for it, no data is kept;
//   - an ID that no recent describe showed as a spot instance of this
//     plugin's namespace (on-demand members, other clusters' instances,
//     made-up IDs) is dropped without any ECS call;
//   - the look-ups are coalesced per instance (one per instance per
//     PushRecheckAfter), batched (up to 100 IDs per DescribeInstances) and
//     paid from a token bucket (PushCallsPerSecond, PushBurst); a push over
//     budget is left to the watcher, whose filtered describe sees every
//     Recycling lock of the namespace anyway.
//
// So a forged push costs at most the budget's ECS calls, and a real push
// only makes the notice come sooner than the watcher's next tick.

// Budget of pushed-notice look-ups.
const (
	// PushCallsPerSecond is the steady rate of DescribeInstances calls
	// pushes may cause; PushBurst how many may be spent at once.
	PushCallsPerSecond = 1.0
	PushBurst          = 3
	// PushRecheckAfter is how long an instance ECS did not confirm is not
	// looked up again on a push (the watcher still checks it every tick).
	PushRecheckAfter = 30 * time.Second
	// PushKnownFor is how long an instance seen by a describe as a spot
	// instance of the namespace counts as one for pushes.
	PushKnownFor = time.Hour
)

// Answers of Push: what was done with a push.
const (
	// PushChecking: the instance is being looked up with ECS.
	PushChecking = "checking"
	// PushCoalesced: a look-up of the instance is pending or was made
	// within PushRecheckAfter; this push adds nothing.
	PushCoalesced = "coalesced"
	// PushNoticed: the reclaim is already noticed.
	PushNoticed = "already-noticed"
	// PushOverBudget: the look-up budget is spent; the watcher's next
	// tick checks the instance (its Recycling lock is seen there).
	PushOverBudget = "over-budget"
	// PushUnknown: no recent describe showed the instance as a spot
	// instance of this plugin's namespace; dropped without an ECS call.
	PushUnknown = "unknown"
)

// tokenBucket is a token bucket on an injected clock (the plugin's now).
type tokenBucket struct {
	rate, burst float64
	tokens      float64
	last        time.Time
}

// take spends one token if there is one.
func (b *tokenBucket) take(now time.Time) bool {
	switch {
	case b.last.IsZero():
		b.tokens = b.burst
		b.last = now
	case now.After(b.last):
		b.tokens += now.Sub(b.last).Seconds() * b.rate
		if b.tokens > b.burst {
			b.tokens = b.burst
		}
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true
	}
	return false
}

// PushStats counts what happened to pushed notices.
type PushStats struct {
	Received, Unknown, Coalesced, OverBudget, Noticed int
	// Calls is the DescribeInstances calls pushes caused.
	Calls int
	// Known is the instances a push is looked up for (seen as the
	// namespace's spot instances within PushKnownFor).
	Known int
}

// pushState is the push side of Reclaims; guarded by Reclaims.mu.
type pushState struct {
	bucket     tokenBucket
	known      map[string]time.Time // namespace spot instances -> last seen by a describe
	pending    map[string]string    // id -> source, waiting for a look-up
	checked    map[string]time.Time // id -> when a look-up was started
	confirming bool
	prunedAt   time.Time
	stats      PushStats
}

func newPushState() pushState {
	return pushState{
		bucket:  tokenBucket{rate: PushCallsPerSecond, burst: PushBurst},
		known:   map[string]time.Time{},
		pending: map[string]string{},
		checked: map[string]time.Time{},
	}
}

// pruneLocked forgets what is too old to matter, so the maps stay bounded
// by the namespace's spot instances. It walks them at most every
// PushRecheckAfter (not on every push: a push storm must not buy a scan of
// 10,000 entries each); a checked entry up to twice that old still
// coalesces, which only saves calls.
func (ps *pushState) pruneLocked(now time.Time) {
	if now.Sub(ps.prunedAt) < PushRecheckAfter {
		return
	}
	ps.prunedAt = now
	for id, at := range ps.known {
		if now.Sub(at) > PushKnownFor {
			delete(ps.known, id)
		}
	}
	for id, at := range ps.checked {
		if now.Sub(at) > PushRecheckAfter {
			delete(ps.checked, id)
		}
	}
}

// noteSeen records what a describe showed about an instance of the
// namespace. It runs for every instance of every describe, so it reads the
// tag list in place rather than building a map.
func (r *Reclaims) noteSeen(inst *ecs.Instance) {
	if !inNamespace(inst, r.env.Namespace) {
		return
	}
	now := r.env.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if IsSpot(inst) {
		r.push.known[inst.ID] = now
	} else {
		delete(r.push.known, inst.ID)
	}
}

// inNamespace reports whether the instance carries every namespace tag.
func inNamespace(inst *ecs.Instance, ns map[string]string) bool {
	for k, v := range ns {
		found := false
		for _, t := range inst.Tags {
			if t.Key == k && t.Value == v {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// validInstanceID is a cheap shape check of an ECS instance ID, so junk
// from the listener is refused before it reaches any map.
func validInstanceID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// Push takes a pushed reclaim notice (the CloudMonitor event
// Instance:PreemptibleInstanceInterruption) as a hint: see the top of
// push.go. It answers what it did with it (Push*); nothing is hidden or
// kept unless a look-up shows ECS's Recycling lock, after which the
// instance is handled like one any describe noticed.
func (r *Reclaims) Push(id, source string) (string, error) {
	if !validInstanceID(id) {
		return "", fmt.Errorf("mark instance %q interrupting: not an instance id (1-64 letters, digits, '-' or '_')", id)
	}
	now := r.env.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	ps := &r.push
	ps.stats.Received++
	ps.pruneLocked(now)
	if _, ok := r.doomed[id]; ok {
		ps.stats.Noticed++
		return PushNoticed, nil
	}
	if _, ok := ps.known[id]; !ok {
		ps.stats.Unknown++
		return PushUnknown, nil
	}
	if _, ok := ps.pending[id]; ok {
		ps.stats.Coalesced++
		return PushCoalesced, nil
	}
	if at, ok := ps.checked[id]; ok && now.Sub(at) < PushRecheckAfter {
		ps.stats.Coalesced++
		return PushCoalesced, nil
	}
	if ps.confirming {
		ps.pending[id] = source // the running look-up takes it next, budget permitting
		return PushChecking, nil
	}
	if r.ctx.Err() != nil || !ps.bucket.take(now) {
		ps.stats.OverBudget++
		return PushOverBudget, nil
	}
	ps.pending[id] = source
	ps.confirming = true
	r.work.Add(1)
	go func() {
		defer r.work.Done()
		r.confirmPushes(r.ctx)
	}()
	return PushChecking, nil
}

// confirmPushes looks pending pushes up, up to 100 per DescribeInstances,
// for as long as there are some and the budget allows; what is left waits
// for the next push or the watcher. It runs once at a time (confirming).
func (r *Reclaims) confirmPushes(ctx context.Context) {
	s := r
	for {
		s.mu.Lock()
		now := r.env.Now()
		batch := make([]string, 0, len(s.push.pending))
		for id := range s.push.pending {
			batch = append(batch, id)
		}
		sort.Strings(batch)
		if len(batch) > maxIDsPerDescribe {
			batch = batch[:maxIDsPerDescribe]
		}
		sources := make(map[string]string, len(batch))
		for _, id := range batch {
			sources[id] = s.push.pending[id]
			delete(s.push.pending, id)
			s.push.checked[id] = now
		}
		s.push.stats.Calls++
		s.mu.Unlock()

		r.lookUpPushed(ctx, batch, sources)

		s.mu.Lock()
		if len(s.push.pending) == 0 || ctx.Err() != nil || !s.push.bucket.take(r.env.Now()) {
			// Left to the watcher: kept here they would coalesce every
			// later push of theirs into a look-up that never comes.
			s.push.stats.OverBudget += len(s.push.pending)
			for id := range s.push.pending {
				delete(s.push.pending, id)
			}
			s.push.confirming = false
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
	}
}

// lookUpPushed makes one DescribeInstances for the batch and notices the
// instances ECS shows with the Recycling lock.
func (r *Reclaims) lookUpPushed(ctx context.Context, batch []string, sources map[string]string) {
	list, err := r.env.Instances.DescribeInstances(ctx, ecs.InstanceFilter{InstanceIDs: batch, Tags: r.env.Namespace})
	if err != nil {
		if !errors.Is(err, context.Canceled) {
			r.env.Log.WithError(err).WithFields(log.Fields{"action": "interruption", "instances": len(batch)}).
				Warn("could not check pushed interruptions with ECS; the watcher will")
		}
		return
	}
	confirmed := map[string]bool{}
	for i := range list {
		inst := &list[i]
		if sources[inst.ID] == "" || !hasTags(inst.TagMap(), r.env.Namespace) || !IsSpot(inst) || !Reclaimed(inst) {
			continue
		}
		confirmed[inst.ID] = true
		r.notice(inst, sources[inst.ID])
	}
	for _, id := range batch {
		if !confirmed[id] {
			r.env.Log.WithFields(log.Fields{"action": "interruption", "instance": id, "source": sources[id]}).
				Info("pushed interruption not confirmed: ECS shows no Recycling lock on the instance; ignored")
		}
	}
}

// PushStats returns the push counters; Known is how many instances count
// as the namespace's spot instances for pushes now.
func (r *Reclaims) PushStats() PushStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.push.stats
	st.Known = len(r.push.known)
	return st
}
