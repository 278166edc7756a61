package instance

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"time"

	log "github.com/Sirupsen/logrus"
	"github.com/docker/infrakit/pkg/spi/instance"

	"infrakit.aliyun/internal/ecs"
	"infrakit.aliyun/plugin/instance/groupspec"
)

// Spot interruption handling.
//
// A reclaimed spot instance keeps running for about five minutes with
// OperationLocks Recycling, then ECS releases it. The plugin notices the
// lock in any DescribeInstances it makes (the group's polls and a
// background watcher), and from then on leaves the instance out of group
// describes, so InfraKit's group plugin provisions the replacement at the
// notice rather than at release. A pushed CloudMonitor event only makes the
// plugin look the instance up sooner, within a budget (push.go): nothing is
// hidden or kept until ECS shows the lock.
//
// Everything that must survive the plugin is in ECS tags; the in-memory
// "doomed" set only remembers what was already noticed, so it is rebuilt by
// the next describe after a restart.

// Tag keys and values of interruption handling.
const (
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
	// SpotNotice is how long ECS keeps a reclaimed instance before releasing it.
	SpotNotice = 5 * time.Minute
	// DefaultSpotWatchInterval is the watcher's period when the daemon
	// does not choose one.
	DefaultSpotWatchInterval = 30 * time.Second
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
// instance/interrupting event and of the metadata under spot/.
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

// doomed is one noticed instance (ECS showed its Recycling lock). ready is
// closed once its data is saved (or nothing was to be saved); until then
// Provision in its group waits.
type doomed struct {
	info  Interruption
	ready chan struct{}
}

// spotState is the plugin's in-memory interruption and InfraKit-surface state.
type spotState struct {
	events *eventHub
	lost   *lostTracker

	mu         sync.Mutex
	doomed     map[string]*doomed
	lastNotice *Interruption
	stockOut   *StockOut
	fallback   *Fallback
	snapshot   *instanceSnapshot
	zones      []string
	zonesAt    time.Time
	groupLocks map[string]*sync.Mutex
	watchDone  chan struct{}                       // set once the watcher runs; closed when it stops
	lockFilter string                              // the LockReason value the watcher sends (watchOnce)
	orphans    map[string]time.Time                // kept disk -> first seen orphaned (keepdisks.go)
	keepHook   func(point, instanceID string) bool // tests: "kill" this copy at a step
	watchTicks int
	push       pushState // push.go

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	work   sync.WaitGroup
}

func newSpotState(now func() time.Time) *spotState {
	ctx, cancel := context.WithCancel(context.Background())
	return &spotState{
		events:     newEventHub(now),
		lost:       newLostTracker(),
		doomed:     map[string]*doomed{},
		groupLocks: map[string]*sync.Mutex{},
		push:       newPushState(),
		lockFilter: LockRecycling,
		orphans:    map[string]time.Time{},
		ctx:        ctx,
		cancel:     cancel,
	}
}

// keeper returns the ECS calls of KeepData; ok is false for an API without
// them (a test fake), and KeepData is then skipped.
func (p *Plugin) keeper() (ecs.SpotAPI, bool) { return p.spotCalls, p.spotCalls != nil }

func hasLock(inst *ecs.Instance, reason string) bool {
	for _, l := range inst.Locks {
		// Without case: the API models spell it Recycling and recycling.
		if strings.EqualFold(l, reason) {
			return true
		}
	}
	return false
}

func isSpot(inst *ecs.Instance) bool {
	return inst.SpotStrategy != "" && inst.SpotStrategy != "NoSpot"
}

// observe is called for every instance any describe returns: an instance
// with the Recycling lock is noticed (once).
func (p *Plugin) observe(inst *ecs.Instance, source string) {
	p.noteSeen(inst)
	if hasLock(inst, LockRecycling) {
		p.notice(inst, source)
	}
}

// isDoomed reports whether the instance was noticed as reclaimed.
func (p *Plugin) isDoomed(id string) bool {
	p.spot.mu.Lock()
	defer p.spot.mu.Unlock()
	_, ok := p.spot.doomed[id]
	return ok
}

func interruptionOf(inst *ecs.Instance) Interruption {
	t := inst.TagMap()
	return Interruption{
		InstanceId:   inst.ID,
		Group:        t[tagGroup],
		LogicalID:    t[TagLogicalID],
		PrivateIP:    inst.PrivateIP(),
		InstanceType: inst.Type,
		ZoneId:       inst.Zone,
		VSwitchId:    inst.VSwitch,
		KeepData:     t[TagKeepData],
	}
}

// notice records a reclaimed instance, publishes instance/interrupting and
// starts saving its data. Later calls for the same instance do nothing.
func (p *Plugin) notice(inst *ecs.Instance, source string) {
	s := p.spot
	now := p.now()
	s.mu.Lock()
	if s.doomed[inst.ID] != nil {
		s.mu.Unlock()
		return
	}
	s.forgetLocked(now)
	info := interruptionOf(inst)
	info.Source, info.NoticedAt, info.ReleaseBy = source, now, now.Add(SpotNotice)
	d := &doomed{info: info, ready: make(chan struct{})}
	s.doomed[inst.ID] = d
	s.lastNotice = &info
	s.mu.Unlock()

	p.log.WithFields(log.Fields{"action": "interruption", "instance": info.InstanceId, "group": info.Group,
		"logical_id": info.LogicalID, "source": info.Source, "keep_data": info.KeepData}).
		Warn("spot instance is being reclaimed: no longer reported to its group, a replacement will be provisioned")
	s.events.publish(TopicInterrupting, EventTypeInterrupting,
		fmt.Sprintf("instance %s of group %q is being reclaimed (released by %s)", info.InstanceId, info.Group, info.ReleaseBy.Format(time.RFC3339)), info)

	if info.KeepData == "" {
		close(d.ready)
		return
	}
	s.work.Add(1)
	go func() {
		defer s.work.Done()
		defer close(d.ready)
		p.keepData(s.ctx, d)
	}()
}

// forgetLocked drops noticed instances older than doomedForget; ECS
// released them long ago.
func (s *spotState) forgetLocked(now time.Time) {
	for id, d := range s.doomed {
		if now.Sub(d.info.NoticedAt) > doomedForget {
			delete(s.doomed, id)
		}
	}
}

// keepData saves what the instance's spec asked to keep. Errors are logged
// and recorded: a replacement without the data is better than none.
func (p *Plugin) keepData(ctx context.Context, d *doomed) {
	info := d.info
	logger := p.log.WithFields(log.Fields{"action": "keep-data", "instance": info.InstanceId, "group": info.Group, "keep_data": info.KeepData})
	k, ok := p.keeper()
	if !ok {
		logger.Warn("this ECS client cannot keep data; the replacement starts empty")
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var (
		image string
		disks []string
		err   error
	)
	switch info.KeepData {
	case groupspec.KeepDataImage:
		image, err = p.keepImage(ctx, k, info)
	case groupspec.KeepDataDisks:
		disks, err = p.keepDisks(ctx, k, info)
	default:
		err = fmt.Errorf("unknown KeepData %q", info.KeepData)
	}
	p.spot.mu.Lock()
	d.info.Image, d.info.Disks = image, disks
	if err != nil {
		d.info.Error = err.Error()
	}
	p.spot.mu.Unlock()
	if err != nil {
		logger.WithError(err).Error("could not keep the data of a reclaimed instance")
		return
	}
	logger.WithFields(log.Fields{"image": image, "disks": strings.Join(disks, ",")}).Info("kept the data of a reclaimed instance")
}

// keptTags are the tags of a kept image or disk: the namespace (so only this
// plugin's copies touch it), the group and logical ID (so the right
// replacement finds it) and the reclaimed instance.
func (p *Plugin) keptTags(info Interruption) map[string]string {
	t := mergeTags(p.namespace, map[string]string{TagPreemptedFrom: info.InstanceId})
	if info.Group != "" {
		t[tagGroup] = info.Group
	}
	if info.LogicalID != "" {
		t[TagLogicalID] = info.LogicalID
	}
	if info.VSwitchId != "" {
		t[TagSourceVSwitch] = info.VSwitchId
	}
	return t
}

// keepImage starts a CreateImage of the reclaimed instance. The ClientToken
// is derived from the instance, so a second notice (another copy of the
// plugin, a restart) gets the same image instead of a second one.
func (p *Plugin) keepImage(ctx context.Context, k ecs.SpotAPI, info Interruption) (string, error) {
	existing, err := k.DescribeImages(ctx, ecs.ImageFilter{Tags: mergeTags(p.namespace, map[string]string{TagPreemptedFrom: info.InstanceId})})
	if err != nil {
		return "", fmt.Errorf("find image of instance %s: %w", info.InstanceId, err)
	}
	if len(existing) > 0 {
		return existing[0].ID, nil
	}
	tags := p.keptTags(info)
	if info.InstanceType != "" {
		tags[TagSourceType] = info.InstanceType
	}
	sum := sha256.Sum256([]byte("infrakit-aliyun/preempt-image/" + info.InstanceId))
	id, err := k.CreateImage(ctx, ecs.CreateImageRequest{
		InstanceID:  info.InstanceId,
		ImageName:   "infrakit-preempted-" + info.InstanceId,
		Description: fmt.Sprintf("system disk of reclaimed spot instance %s (group %s), kept by infrakit-instance-aliyun", info.InstanceId, info.Group),
		Tags:        tags,
		ClientToken: hex.EncodeToString(sum[:16]),
	})
	if err != nil {
		return "", fmt.Errorf("create image of instance %s: %w", info.InstanceId, err)
	}
	return id, nil
}

// --- Provision side ----------------------------------------------------------

// ErrKeptDataNotReady is wrapped by Provision errors that only mean "retry
// shortly": the data of a reclaimed instance is still being saved, or the
// logical ID's private IP is still held by a reclaimed instance.
var ErrKeptDataNotReady = errors.New("retry shortly")

// replacement is what Provision found for a new instance: kept data of a
// reclaimed one. release must be called once Provision is done with it.
type replacement struct {
	image  *ecs.Image
	disks  []ecs.Disk
	from   string
	unlock func()
}

// keptDisks are the kept data disks to attach to the new instance (nil-safe).
func (r *replacement) keptDisks() []ecs.Disk {
	if r == nil {
		return nil
	}
	return r.disks
}

func (r *replacement) release() {
	if r != nil && r.unlock != nil {
		r.unlock()
		r.unlock = nil
	}
}

func (s *spotState) groupLock(group string) *sync.Mutex {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.groupLocks[group]
	if m == nil {
		m = &sync.Mutex{}
		s.groupLocks[group] = m
	}
	return m
}

// prepareReplacement runs in Provision once the RunInstances request is
// built. It refuses (fail fast, ErrKeptDataNotReady) a logical ID whose IP
// a reclaimed instance still holds, tags the instance with its KeepData,
// and, when kept data of a reclaimed instance of the group exists, changes
// the request (and the capacity choices in props) to use it: the kept
// image as ImageId in the reclaimed instance's type, or no new data disks
// (Provision attaches the kept ones), always in the reclaimed instance's
// vswitch. The caller must call release on the result (nil-safe).
func (p *Plugin) prepareReplacement(ctx context.Context, spec instance.Spec, props *groupspec.Properties, req *runRequest) (*replacement, error) {
	group := spec.Tags[tagGroup]
	logical := ""
	if spec.LogicalID != nil {
		logical = string(*spec.LogicalID)
	}
	if err := p.checkLogicalIDFree(ctx, logical); err != nil {
		return nil, err
	}
	if props.Preemption == nil || props.Preemption.KeepData == "" {
		return nil, nil
	}
	if req.Tags == nil {
		req.Tags = map[string]string{}
	}
	req.Tags[TagKeepData] = props.Preemption.KeepData
	if n := len(req.Tags); n > groupspec.MaxTags {
		return nil, fmt.Errorf("tags: %d tags with %s, at most %d per instance", n, TagKeepData, groupspec.MaxTags)
	}
	k, ok := p.keeper()
	if !ok {
		return nil, nil
	}
	if err := p.waitKeep(ctx, group, logical); err != nil {
		return nil, err
	}
	lock := p.spot.groupLock(group)
	lock.Lock()
	rep := &replacement{unlock: lock.Unlock}
	var err error
	switch props.Preemption.KeepData {
	case groupspec.KeepDataImage:
		err = p.findKeptImage(ctx, k, group, logical, rep)
	case groupspec.KeepDataDisks:
		err = p.findKeptDisks(ctx, group, logical, rep)
	}
	if err != nil || (rep.image == nil && len(rep.disks) == 0) {
		rep.release()
		return nil, err
	}
	if len(rep.disks) > 0 {
		// Written before the first step: the instance carries the set it
		// takes from its first moment (RunInstances tags), and the disks
		// say a Provision is taking them (keepdisks.go).
		req.Tags[TagReplaces] = rep.from
		if n := len(req.Tags); n > groupspec.MaxTags {
			rep.release()
			return nil, fmt.Errorf("tags: %d tags with %s, at most %d per instance", n, TagReplaces, groupspec.MaxTags)
		}
		if err := p.markClaiming(ctx, k, rep); err != nil {
			rep.release()
			return nil, err
		}
	}
	switch {
	case rep.image != nil:
		t := rep.image.TagMap()
		req.Args.ImageId = rep.image.ID
		props.RunInstances.ImageId = rep.image.ID
		if it := t[TagSourceType]; it != "" {
			useFirst(&props.RunInstances.InstanceType, &props.InstanceTypes, it)
			req.Args.InstanceType = it
		}
		useVSwitch(props, req, t[TagSourceVSwitch])
	default:
		req.Args.DataDisk = nil // the kept ones replace them
		props.RunInstances.DataDisk = nil
		useVSwitch(props, req, rep.disks[0].TagMap()[TagSourceVSwitch])
	}
	p.log.WithFields(log.Fields{"action": "provision", "group": group, "logical_id": logical, "from": rep.from,
		"image": req.Args.ImageId, "disks": len(rep.disks)}).Info("replacing a reclaimed instance with its kept data")
	return rep, nil
}

// useVSwitch runs the replacement in the reclaimed instance's vswitch only
// (and so its zone, where kept disks are): the capacity fallbacks over
// other vswitches are dropped for it.
func useVSwitch(props *groupspec.Properties, req *runRequest, vsw string) {
	if vsw == "" {
		return
	}
	if vsw != req.Args.VSwitchId {
		req.Args.ZoneId = "" // ECS takes the zone from the vswitch
		props.RunInstances.ZoneId = ""
	}
	req.Args.VSwitchId = vsw
	props.RunInstances.VSwitchId = vsw
	props.VSwitchIds = nil
}

// useFirst makes v the first choice of a (single, fallback list) pair,
// keeping the others as fallbacks.
func useFirst(single *string, list *[]string, v string) {
	if *single == v {
		return
	}
	rest := []string{}
	if *single != "" {
		rest = append(rest, *single)
	}
	for _, x := range *list {
		if x != v {
			rest = append(rest, x)
		}
	}
	*single = v
	if len(*list) > 0 || len(rest) > 0 {
		*list = rest
	}
}

// checkLogicalIDFree fails fast while a reclaimed instance still holds the
// private IP that a logical ID asks for: ECS would refuse the duplicate
// address anyway, and the group plugin retries on its next poll, so the
// replacement starts as soon as ECS releases the old one.
func (p *Plugin) checkLogicalIDFree(ctx context.Context, logical string) error {
	ip := net.ParseIP(logical)
	if ip == nil || ip.To4() == nil {
		return nil
	}
	var holders []Interruption
	p.spot.mu.Lock()
	for _, d := range p.spot.doomed {
		if d.info.PrivateIP == ip.String() || d.info.LogicalID == logical {
			holders = append(holders, d.info)
		}
	}
	p.spot.mu.Unlock()
	for _, h := range holders {
		list, err := p.api.DescribeInstances(ctx, ecs.InstanceFilter{InstanceIDs: []string{h.InstanceId}})
		if err != nil {
			return fmt.Errorf("check instance %s holding %s: %w", h.InstanceId, logical, err)
		}
		for _, inst := range list {
			if inst.ID == h.InstanceId && !skippedStatus[inst.Status] {
				return fmt.Errorf("logical id %s: private ip still held by reclaimed instance %s until ECS releases it (by %s): %w",
					logical, h.InstanceId, h.ReleaseBy.Format(time.RFC3339), ErrKeptDataNotReady)
			}
		}
	}
	return nil
}

// waitKeep waits (bounded) until the data of every noticed instance of the
// group has been saved.
func (p *Plugin) waitKeep(ctx context.Context, group, logical string) error {
	var waits []*doomed
	p.spot.mu.Lock()
	for _, d := range p.spot.doomed {
		// Only confirmed notices are here (a push adds nothing before ECS
		// shows the lock), so an unconfirmed push never delays a Provision.
		if d.info.Group == group && d.info.KeepData != "" && (logical == "" || d.info.LogicalID == logical) {
			waits = append(waits, d)
		}
	}
	p.spot.mu.Unlock()
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

// liveClaimers returns which of the given instance IDs still exist. ECS
// takes at most 100 InstanceIds per DescribeInstances, so they are asked
// for in pages of 100.
func (p *Plugin) liveClaimers(ctx context.Context, ids []string) (map[string]string, error) {
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
		found, err := p.api.DescribeInstances(ctx, ecs.InstanceFilter{InstanceIDs: page})
		if err != nil {
			return nil, err
		}
		for _, inst := range found {
			if !skippedStatus[inst.Status] {
				out[inst.ID] = inst.Status
			}
		}
	}
	return out, nil
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

func (p *Plugin) findKeptImage(ctx context.Context, k ecs.SpotAPI, group, logical string, rep *replacement) error {
	images, err := k.DescribeImages(ctx, ecs.ImageFilter{Tags: mergeTags(p.namespace, map[string]string{tagGroup: group})})
	if err != nil {
		return fmt.Errorf("find kept images of group %s: %w", group, err)
	}
	cands, claimers := keptImages(images, func(t map[string]string) bool { return matchesSlot(t, logical) })
	if len(cands) == 0 {
		return nil
	}
	live, err := p.liveClaimers(ctx, claimers)
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
	now := p.now()
	for i := range cands {
		im := &cands[i]
		t := im.TagMap()
		if c := t[TagClaimedBy]; c != "" && live[c] != "" {
			continue
		}
		if im.Status != "Available" {
			if created, ok := parseECSTime(im.CreationTime); ok && now.Sub(created) > imageReadyLimit {
				continue // stuck; boot from the spec's image rather than never
			}
			return fmt.Errorf("image %s of reclaimed instance %s is %s: %w", im.ID, t[TagPreemptedFrom], im.Status, ErrKeptDataNotReady)
		}
		rep.image, rep.from = im, t[TagPreemptedFrom]
		return nil
	}
	return nil
}

// --- background watcher and image cleanup -------------------------------------

// StartWatcher starts the background watcher: every interval it describes
// the namespace's instances, notices reclaimed spot instances, refreshes the
// metadata counts and deletes kept images that are no longer needed. It is
// stopped by Close. interval <= 0 means DefaultSpotWatchInterval.
func (p *Plugin) StartWatcher(interval time.Duration) {
	if interval <= 0 {
		interval = DefaultSpotWatchInterval
	}
	t := time.NewTicker(interval)
	p.startWatcher(t.C, t.Stop)
}

// startWatcher runs the watcher on any tick channel (tests send ticks).
func (p *Plugin) startWatcher(ticks <-chan time.Time, stop func()) {
	s := p.spot
	s.mu.Lock()
	if s.watchDone != nil { // already running
		s.mu.Unlock()
		stop()
		return
	}
	ctx := s.ctx // Close cancels it
	done := make(chan struct{})
	s.watchDone = done
	s.mu.Unlock()
	go func() {
		defer close(done)
		defer stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-ticks:
				p.watchOnce(ctx)
			}
		}
	}()
}

// watchOnce is one watcher tick. It asks ECS for the namespace's reclaimed
// instances only: one call whatever the namespace's size, where a full scan
// would cost ceil(N/100) calls every tick (100 at 10,000 instances).
// Metadata's counts by status refresh themselves when read (snapshotTTL).
//
// The LockReason value's case is not settled: the official API models
// disagree ("Recycling" in one, "recycling" in two), and a filter in the
// case ECS does not accept either fails with InvalidParameter or silently
// matches nothing. So the watcher sends one case (lockFilter, "Recycling"
// first) and switches, and remembers, when ECS rejects it, or when the full
// scan it makes every fullScanEvery ticks sees a Recycling lock (compared
// without case) that the filtered call of the same tick missed. The common
// case costs one call per tick as before, plus ceil(N/100) calls every
// fullScanEvery ticks (which also refresh what pushes are checked against).
func (p *Plugin) watchOnce(ctx context.Context) {
	s := p.spot
	s.mu.Lock()
	filter := s.lockFilter
	s.watchTicks++
	full := s.watchTicks%fullScanEvery == 0
	s.mu.Unlock()
	logger := p.log.WithField("action", "watch")

	list, err := p.api.DescribeInstances(ctx, ecs.InstanceFilter{Tags: p.namespace, LockReason: filter})
	if err != nil && isParamError(err) {
		other := otherLockCase(filter)
		logger.WithError(err).WithFields(log.Fields{"rejected": filter, "now": other}).Info("ECS refused the LockReason filter's case; switching")
		filter = other
		s.mu.Lock()
		s.lockFilter = other
		s.mu.Unlock()
		list, err = p.api.DescribeInstances(ctx, ecs.InstanceFilter{Tags: p.namespace, LockReason: filter})
	}
	seen := map[string]bool{}
	if err != nil {
		logger.WithError(err).Warn("describe failed")
	} else {
		for i := range list {
			seen[list[i].ID] = true
			if isSpot(&list[i]) {
				p.observe(&list[i], "watcher")
			}
		}
	}
	if full && err == nil {
		p.fullScan(ctx, filter, seen)
	}
	if err := p.cleanupImages(ctx); err != nil && ctx.Err() == nil {
		logger.WithError(err).Warn("image cleanup failed")
	}
	if err := p.resumeKeptDisks(ctx); err != nil && ctx.Err() == nil {
		logger.WithError(err).Warn("kept disks: could not finish moves")
	}
}

// fullScanEvery is how many watcher ticks pass between two full scans
// (every 10 minutes at the default 30 s interval).
const fullScanEvery = 20

// fullScan describes every instance of the namespace, notices reclaims and
// checks that the LockReason filter (in the case sent) missed none.
func (p *Plugin) fullScan(ctx context.Context, filter string, seen map[string]bool) {
	all, err := p.api.DescribeInstances(ctx, ecs.InstanceFilter{Tags: p.namespace})
	if err != nil {
		p.log.WithError(err).WithField("action", "watch").Warn("full describe failed")
		return
	}
	missed := 0
	for i := range all {
		inst := &all[i]
		p.noteSeen(inst)
		if !isSpot(inst) || !hasLock(inst, LockRecycling) {
			continue
		}
		if !seen[inst.ID] {
			missed++
		}
		p.observe(inst, "watcher")
	}
	if missed == 0 {
		return
	}
	other := otherLockCase(filter)
	p.log.WithFields(log.Fields{"action": "watch", "missed": missed, "filter": filter, "now": other}).
		Info("the LockReason filter missed reclaimed instances a full describe shows; switching its case")
	p.spot.mu.Lock()
	if p.spot.lockFilter == filter {
		p.spot.lockFilter = other
	}
	p.spot.mu.Unlock()
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
// the replacement that claimed one is Running (its disk is made), when a
// newer image exists for the same logical ID, or when nobody claimed one
// for keptImageMaxAge.
func (p *Plugin) cleanupImages(ctx context.Context) error {
	k, ok := p.keeper()
	if !ok {
		return nil
	}
	images, err := k.DescribeImages(ctx, ecs.ImageFilter{Tags: p.namespace})
	if err != nil {
		return fmt.Errorf("list kept images: %w", err)
	}
	kept, claimers := keptImages(images, nil)
	if len(kept) == 0 {
		return nil
	}
	live, err := p.liveClaimers(ctx, claimers)
	if err != nil {
		return fmt.Errorf("check claims on kept images: %w", err)
	}
	newest := map[string]string{} // group/logical -> newest creation time (pets only)
	for _, im := range kept {
		t := im.TagMap()
		if t[TagLogicalID] == "" {
			continue
		}
		slot := t[tagGroup] + "\x00" + t[TagLogicalID]
		if im.CreationTime > newest[slot] {
			newest[slot] = im.CreationTime
		}
	}
	now := p.now()
	groupLive := map[string]bool{}
	for _, im := range kept {
		t := im.TagMap()
		why := ""
		claimer := t[TagClaimedBy]
		switch {
		case claimer != "" && live[claimer] == "Running":
			why = "replacement " + claimer + " is running"
		case claimer != "" && live[claimer] != "":
			continue // the replacement still boots from it
		case claimer != "" && p.groupGoneFor(ctx, im.ID, t[tagGroup], groupLive, now):
			// Its replacement and its whole group are gone: InfraKit's
			// group destroy. No replacement will ever boot from it.
			why = "replacement " + claimer + " and every instance of group " + t[tagGroup] + " are gone"
		case t[TagLogicalID] != "" && im.CreationTime < newest[t[tagGroup]+"\x00"+t[TagLogicalID]]:
			why = "a newer image exists for logical id " + t[TagLogicalID]
		default:
			if created, ok := parseECSTime(im.CreationTime); ok && now.Sub(created) > keptImageMaxAge {
				why = "unclaimed for " + keptImageMaxAge.String()
			}
		}
		if why == "" {
			continue
		}
		if err := k.DeleteImage(ctx, im.ID, true); err != nil && !ecs.IsNotFound(err) && ecs.ErrorCode(err) != "InvalidImageId.NotFound" {
			return fmt.Errorf("delete kept image %s: %w", im.ID, err)
		}
		p.log.WithFields(log.Fields{"action": "cleanup", "image": im.ID, "from": t[TagPreemptedFrom], "reason": why}).Info("deleted kept image")
	}
	return nil
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

// Close stops the watcher and the interruption work in flight, and the
// event relay. The daemon calls it on shutdown.
func (p *Plugin) Close() error {
	s := p.spot
	s.cancel()
	s.mu.Lock()
	done := s.watchDone
	s.mu.Unlock()
	if done != nil {
		<-done
	}
	s.work.Wait()
	s.events.close()
	return nil
}

// --- describe side -------------------------------------------------------------

// afterDescribe post-processes a DescribeInstances result (fresh or cached):
// group describes leave out instances being reclaimed, and members that
// vanished since the last describe of the same filter are published as lost.
func (p *Plugin) afterDescribe(tags map[string]string, out []instance.Description) []instance.Description {
	if _, isGroup := tags[tagGroup]; !isGroup {
		return out
	}
	kept := out[:0]
	for _, d := range out {
		if !p.isDoomed(string(d.ID)) {
			kept = append(kept, d)
		}
	}
	members := make(map[string]string, len(kept))
	for _, d := range kept {
		l := ""
		if d.LogicalID != nil {
			l = string(*d.LogicalID)
		}
		members[string(d.ID)] = l
	}
	for _, l := range p.spot.lost.update(describeKey(tags, false), members, p.now(), p.isDoomed) {
		l.Group = tags[tagGroup]
		p.log.WithFields(log.Fields{"action": "describe", "instance": l.InstanceId, "group": l.Group}).Warn("instance vanished outside InfraKit")
		p.spot.events.publish(TopicLost, EventTypeLost, fmt.Sprintf("instance %s of group %q vanished outside InfraKit", l.InstanceId, l.Group), l)
	}
	return kept
}

// noteDestroyed remembers that this plugin destroyed an instance, so its
// disappearance is not reported as lost.
func (p *Plugin) noteDestroyed(id string) { p.spot.lost.noteDestroyed(id, p.now()) }
