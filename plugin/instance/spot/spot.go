package spot

import (
	"context"
	"sort"
	"strings"
	"sync"
	"time"

	log "github.com/Sirupsen/logrus"

	"infrakit.aliyun/internal/ecs"
)

// A reclaimed spot instance keeps running for about five minutes with
// OperationLocks Recycling, then ECS releases it. The plugin notices the
// lock in any DescribeInstances it makes (the group's polls and the
// Watcher), and from then on leaves the instance out of group describes, so
// InfraKit's group plugin provisions the replacement at the notice rather
// than at release. A pushed CloudMonitor event only makes Reclaims look the
// instance up sooner, within a budget (push.go): nothing is hidden or kept
// until ECS shows the lock.
//
// Everything that must survive the plugin is in ECS tags; the in-memory
// "doomed" set only remembers what was already noticed, so it is rebuilt by
// the next describe after a restart.

// Tag keys and values of interruption handling.
const (
	// TagGroup and TagLogicalID are InfraKit's tags, read from reclaimed
	// instances and put on what is kept from them.
	TagGroup     = "infrakit.group"
	TagLogicalID = "infrakit.logical_id"
	// TagAttachment marks an operator's disk that Spec.Attachments names
	// (the plugin's TagAttachment): it is never kept data.
	TagAttachment = "infrakit.attachment"
	// TagKeepData is put on instances whose spec has Preemption.KeepData,
	// so the notice (which carries no spec) knows what to keep.
	TagKeepData = "infrakit-aliyun.keep-data"
	// TagPreemptedFrom is put on the images and data disks kept for a
	// replacement: the ID of the reclaimed instance.
	TagPreemptedFrom = "infrakit-aliyun.preempted-from"
	// TagClaimedBy is put on kept images and disks when a replacement is
	// created with them, so two Provisions never take the same ones.
	TagClaimedBy = "infrakit-aliyun.claimed-by"
	// TagSourceVSwitch and TagSourceType record where the reclaimed
	// instance ran, so the replacement runs in the same place.
	TagSourceVSwitch = "infrakit-aliyun.vswitch"
	TagSourceType    = "infrakit-aliyun.instance-type"

	// LockRecycling is the OperationLocks reason of a reclaimed spot instance.
	LockRecycling = "Recycling"
)

// Timing of interruption handling.
const (
	// Notice is how long ECS keeps a reclaimed instance before releasing it.
	Notice = 5 * time.Minute
	// DefaultWatchInterval is the watcher's period when the daemon does
	// not choose one.
	DefaultWatchInterval = 30 * time.Second
	// keepWait bounds how long Provision waits for the data of a reclaimed
	// instance of its group to be saved before failing fast (the group
	// plugin retries on its next poll).
	keepWait = 5 * time.Second
	// imageReadyLimit is how long a kept image may stay Creating before
	// Provision gives up on it and uses the spec's image.
	imageReadyLimit = 30 * time.Minute
	// keptImageMaxAge is when an image nobody claimed is deleted.
	keptImageMaxAge = 24 * time.Hour
	// doomedForget is how long a noticed instance is remembered.
	doomedForget = time.Hour
)

// Interruption describes a reclaimed instance; it is the data of the
// plugin's instance/interrupting event and of its metadata under spot/.
type Interruption struct {
	InstanceId   string
	Group        string `json:",omitempty"`
	LogicalID    string `json:",omitempty"`
	PrivateIP    string `json:",omitempty"`
	InstanceType string `json:",omitempty"`
	ZoneId       string `json:",omitempty"`
	VSwitchId    string `json:",omitempty"`
	KeepData     string `json:",omitempty"`
	// Source is how the plugin learned of it: "describe", "watcher" or "cloudmonitor".
	Source    string
	NoticedAt time.Time
	// ReleaseBy is when ECS is expected to release it (notice + 5 min).
	ReleaseBy time.Time
	// Image and Disks are what was kept, once known.
	Image string   `json:",omitempty"`
	Disks []string `json:",omitempty"`
	Error string   `json:",omitempty"`
}

// Instances is the subset of ecs.InstanceAPI reclaim handling uses.
type Instances interface {
	DescribeInstances(ctx context.Context, f ecs.InstanceFilter) ([]ecs.Instance, error)
	DescribeDisks(ctx context.Context, f ecs.DiskFilter) ([]ecs.Disk, error)
	ModifyDiskAttribute(ctx context.Context, diskID string, deleteWithInstance bool) error
	AttachDisk(ctx context.Context, instanceID, diskID string, deleteWithInstance bool) error
	TagResources(ctx context.Context, id string, tags map[string]string) error
}

// Config is what Reclaims needs from the plugin.
type Config struct {
	// Instances is required; Kept may be nil (a test fake without the
	// calls): KeepData is then skipped.
	Instances Instances
	Kept      ecs.SpotAPI
	// Namespace is the plugin's namespace tags: only instances, disks and
	// images carrying all of them are ever looked at or touched.
	Namespace map[string]string
	Now       func() time.Time
	Log       *log.Logger
	// Sleep waits on the retry policy's (injectable) timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// Detached is a context for a call that records a side effect already
	// made (a claim after RunInstances), free of the Provision's deadline.
	Detached func(ctx context.Context) (context.Context, context.CancelFunc)
	// ClaimingTTL is how long a Provision may still be in RunInstances
	// after tagging kept disks claiming (and a Destroy still before its
	// DeleteInstance after tagging its instance destroying).
	ClaimingTTL func() time.Duration
	// Notify is called once per noticed reclaim (the plugin logs it,
	// publishes its event and counts it); it must not block.
	Notify func(Interruption)
}

// doomed is one noticed instance (ECS showed its Recycling lock). ready is
// closed once its data is saved (or nothing was to be saved); until then
// Provision in its group waits.
type doomed struct {
	info  Interruption
	ready chan struct{}
}

// Reclaims is the reclaim state of one copy of the plugin.
type Reclaims struct {
	env   *env
	keep  *keeper
	Watch *Watcher

	mu         sync.Mutex
	doomed     map[string]*doomed
	lastNotice *Interruption
	groupLocks map[string]*groupLock
	stopHook   func(point, instanceID string) bool // tests: "kill" this copy at a step
	push       pushState                           // push.go

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	work   sync.WaitGroup
}

// New returns the reclaim handling of one plugin copy.
func New(cfg Config) *Reclaims {
	ctx, cancel := context.WithCancel(context.Background())
	if cfg.Notify == nil {
		cfg.Notify = func(Interruption) {}
	}
	e := &env{Config: cfg}
	r := &Reclaims{
		env:        e,
		keep:       &keeper{env: e},
		doomed:     map[string]*doomed{},
		groupLocks: map[string]*groupLock{},
		push:       newPushState(),
		ctx:        ctx,
		cancel:     cancel,
	}
	r.Watch = &Watcher{r: r, lockFilter: LockRecycling, clean: &cleaner{env: e, keep: r.keep}}
	return r
}

// HasLock reports whether ECS shows the lock reason on the instance.
func HasLock(inst *ecs.Instance, reason string) bool {
	for _, l := range inst.Locks {
		// Without case: the API models spell it Recycling and recycling.
		if strings.EqualFold(l, reason) {
			return true
		}
	}
	return false
}

// Reclaimed reports whether ECS shows the instance's reclaim lock.
func Reclaimed(inst *ecs.Instance) bool { return HasLock(inst, LockRecycling) }

// IsSpot reports whether the instance is a spot instance.
func IsSpot(inst *ecs.Instance) bool {
	return inst.SpotStrategy != "" && inst.SpotStrategy != "NoSpot"
}

// Observe is called for every instance any describe returns: an instance
// with the Recycling lock is noticed (once).
func (r *Reclaims) Observe(inst *ecs.Instance, source string) {
	r.noteSeen(inst)
	if Reclaimed(inst) {
		r.notice(inst, source)
	}
}

// Noticed reports whether the instance was noticed as reclaimed (group
// describes leave it out).
func (r *Reclaims) Noticed(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.doomed[id]
	return ok
}

// Interrupting lists the noticed instances (sorted), and the last notice
// with what was kept, if any.
func (r *Reclaims) Interrupting() ([]string, *Interruption) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ids := make([]string, 0, len(r.doomed))
	for id := range r.doomed {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	if r.lastNotice == nil {
		return ids, nil
	}
	last := *r.lastNotice
	if d := r.doomed[last.InstanceId]; d != nil {
		last = d.info // with what was kept, once known
	}
	return ids, &last
}

func interruptionOf(inst *ecs.Instance) Interruption {
	t := inst.TagMap()
	return Interruption{
		InstanceId:   inst.ID,
		Group:        t[TagGroup],
		LogicalID:    t[TagLogicalID],
		PrivateIP:    inst.PrivateIP(),
		InstanceType: inst.Type,
		ZoneId:       inst.Zone,
		VSwitchId:    inst.VSwitch,
		KeepData:     t[TagKeepData],
	}
}

// notice records a reclaimed instance, reports it (Config.Notify) and
// starts saving its data. Later calls for the same instance do nothing.
func (r *Reclaims) notice(inst *ecs.Instance, source string) {
	now := r.env.Now()
	r.mu.Lock()
	if r.doomed[inst.ID] != nil {
		r.mu.Unlock()
		return
	}
	r.forgetLocked(now)
	info := interruptionOf(inst)
	info.Source, info.NoticedAt, info.ReleaseBy = source, now, now.Add(Notice)
	d := &doomed{info: info, ready: make(chan struct{})}
	r.doomed[inst.ID] = d
	r.lastNotice = &info
	r.mu.Unlock()

	r.env.Notify(info)
	if info.KeepData == "" {
		close(d.ready)
		return
	}
	r.work.Add(1)
	go func() {
		defer r.work.Done()
		defer close(d.ready)
		image, disks, err := r.keep.keepData(r.ctx, info)
		r.mu.Lock()
		d.info.Image, d.info.Disks = image, disks
		if err != nil {
			d.info.Error = err.Error()
		}
		r.mu.Unlock()
	}()
}

// forgetLocked drops noticed instances older than doomedForget; ECS
// released them long ago.
func (r *Reclaims) forgetLocked(now time.Time) {
	for id, d := range r.doomed {
		if now.Sub(d.info.NoticedAt) > doomedForget {
			delete(r.doomed, id)
		}
	}
}

// Close stops the watcher and the work in flight (kept-data saves,
// attaches, push look-ups). The plugin's Close calls it.
func (r *Reclaims) Close() {
	r.cancel()
	r.Watch.wait()
	r.work.Wait()
}

// Wait waits for the work in flight (tests: a notice's data is kept, an
// attach is done).
func (r *Reclaims) Wait() { r.work.Wait() }

// Stopping is closed once Close has begun.
func (r *Reclaims) Stopping() <-chan struct{} { return r.ctx.Done() }

// Context is cancelled by Close; the plugin's metadata reads use it.
func (r *Reclaims) Context() context.Context { return r.ctx }

// Points at which a test may stop a copy of the plugin as if killed.
const (
	StopAfterRun     = "run"     // after RunInstances, before the claim tags
	StopAfterClaimed = "claimed" // after the claim tags, before AttachDisk
)

// SetStopHook lets a test "kill" this copy at a point (Stop*): when h
// answers true, the copy leaves the move there, as kill -9 would.
func (r *Reclaims) SetStopHook(h func(point, instanceID string) bool) {
	r.mu.Lock()
	r.stopHook = h
	r.mu.Unlock()
}

// stopAt reports whether the test hook says this copy "dies" here.
func (r *Reclaims) stopAt(point, id string) bool {
	r.mu.Lock()
	h := r.stopHook
	r.mu.Unlock()
	return h != nil && h(point, id)
}

// env is the configuration and the small helpers every part shares.
type env struct {
	Config
}

func (e *env) logf(fields log.Fields) *log.Entry { return e.Log.WithFields(fields) }

// keptTags are the tags of a kept image or disk: the namespace (so only this
// plugin's copies touch it), the group and logical ID (so the right
// replacement finds it) and the reclaimed instance.
func (e *env) keptTags(info Interruption) map[string]string {
	t := mergeTags(e.Namespace, map[string]string{TagPreemptedFrom: info.InstanceId})
	if info.Group != "" {
		t[TagGroup] = info.Group
	}
	if info.LogicalID != "" {
		t[TagLogicalID] = info.LogicalID
	}
	if info.VSwitchId != "" {
		t[TagSourceVSwitch] = info.VSwitchId
	}
	return t
}

// maxIDsPerDescribe is the most InstanceIds DescribeInstances takes.
const maxIDsPerDescribe = 100

// gone are states of instances that are on their way out.
var gone = map[string]bool{"Deleted": true, "Deleting": true, "Released": true}

// liveClaimers returns which of the given instance IDs still exist. ECS
// takes at most 100 InstanceIds per DescribeInstances, so they are asked
// for in pages of 100.
func (e *env) liveClaimers(ctx context.Context, ids []string) (map[string]string, error) {
	out := map[string]string{}
	uniq := map[string]bool{}
	var list []string
	for _, id := range ids {
		if id != "" && !uniq[id] {
			uniq[id] = true
			list = append(list, id)
		}
	}
	sort.Strings(list)
	for len(list) > 0 {
		n := len(list)
		if n > maxIDsPerDescribe {
			n = maxIDsPerDescribe
		}
		page := list[:n]
		list = list[n:]
		found, err := e.Instances.DescribeInstances(ctx, ecs.InstanceFilter{InstanceIDs: page})
		if err != nil {
			return nil, err
		}
		for _, inst := range found {
			if !gone[inst.Status] {
				out[inst.ID] = inst.Status
			}
		}
	}
	return out, nil
}

func mergeTags(maps ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range maps {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

func hasTags(have, want map[string]string) bool {
	for k, v := range want {
		if h, ok := have[k]; !ok || h != v {
			return false
		}
	}
	return true
}

// parseECSTime parses ECS's CreationTime forms (2024-01-02T03:04Z and RFC 3339).
func parseECSTime(s string) (time.Time, bool) {
	for _, layout := range []string{"2006-01-02T15:04Z", "2006-01-02T15:04:05Z", time.RFC3339} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}
