package instance

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	log "github.com/Sirupsen/logrus"
	"github.com/docker/infrakit/pkg/spi/instance"

	"infrakit.aliyun/internal/ecs"
	"infrakit.aliyun/plugin/instance/groupspec"
)

// Capacity: ordered fallbacks over instance types and vswitches (zones),
// an opt-in same-memory fallback, spot -> on-demand fallback, and spreading
// a group's instances over its vswitches. See doc.go "Capacity".

// TagFallback records on an instance which fallback Provision used to
// create it (e.g. "zone", "instance-type+zone", "same-memory", "on-demand").
// It is set only when the instance's tags stay within MaxTags.
const TagFallback = "infrakit-aliyun.fallback"

// Capacity limits: the group plugin's Provision RPC times out after 15 s.
const (
	// maxCapacityAttempts bounds RunInstances calls in one Provision.
	maxCapacityAttempts = 12
	// capacityBudget: no new (type, zone) attempt starts after this much
	// time has passed since Provision began.
	capacityBudget = 9 * time.Second
	// recentTTL is how long a created instance counts for the zone spread
	// even if DescribeInstances does not list it yet.
	recentTTL = 2 * time.Minute
)

// Error codes meaning "this (type, zone) has no capacity, try another".
const (
	CodeNoStock          = "OperationDenied.NoStock"
	CodeZoneNotOnSale    = "Zone.NotOnSale"
	CodeZoneNotSupported = "InvalidInstanceType.ZoneNotSupported"
)

// isCapacityError tells whether err means the (type, zone) pair has no
// capacity, so Provision may try the next pair.
func isCapacityError(err error) bool {
	switch ecs.ErrorCode(err) {
	case CodeNoStock, CodeZoneNotOnSale, CodeZoneNotSupported:
		return true
	}
	return false
}

// --- ECS calls for capacity --------------------------------------------------

// The catalogue and stock calls are ecs.CapacityAPI; an API without them
// (a test fake) simply gets no same-memory fallback.

// capacityAPI returns the catalogue and stock calls; ok is false for an
// API without them (a test fake).
func (p *Plugin) capacityAPI() (ecs.CapacityAPI, bool) {
	return p.capacityCalls, p.capacityCalls != nil
}

// --- what a Provision met, for events and metadata ---------------------------

// capacityAttempt is one RunInstances attempt that found no capacity.
type capacityAttempt struct {
	Choice capacityChoice
	Code   string // ECS error code, e.g. OperationDenied.NoStock
}

// stockOutInfo is a Provision's stock-outs, whether or not a fallback then
// succeeded.
type stockOutInfo struct {
	Group     string
	StockOuts []capacityAttempt // in the order tried
	// Exhausted is true when no choice had stock and Provision failed.
	Exhausted bool
	Time      time.Time
}

// fallbackInfo is a Provision that created an instance with a choice other
// than its first.
type fallbackInfo struct {
	Group      string
	InstanceID string
	Wanted     capacityChoice // the first choice tried
	Chosen     capacityChoice
	Fallback   string // as in the TagFallback tag, e.g. "instance-type+zone"
	Time       time.Time
}

// capacityOutcome is what one Provision's walk over its choices met, for
// the plugin to publish (metadata.go): the stock-outs (nil when none) and
// the fallback that created the instance (nil when the first choice did).
type capacityOutcome struct {
	StockOut *stockOutInfo
	Fallback *fallbackInfo
}

// capacityState is the plugin's capacity bookkeeping: the cached instance
// type catalogue and vswitch zones (both immutable in ECS), in-flight and
// recent creations per group for the zone spread.
type capacityState struct {
	mu      sync.Mutex
	zones   map[string]string         // vswitch -> zone
	pending map[string]map[string]int // group -> vswitch -> Provisions using it now
	recent  map[string]map[string]recentInstance

	catalogueMu sync.Mutex                  // serialises the one catalogue fetch
	catalogue   map[string]ecs.InstanceType // under catalogueMu; nil until fetched once
}

type recentInstance struct {
	vswitch string
	at      time.Time
}

// --- choices -------------------------------------------------------------------

// capacityChoice is one (instance type, vswitch/zone, spot) combination.
type capacityChoice struct {
	InstanceType string
	VSwitchId    string // "" when the spec names no vswitch
	ZoneId       string // when known: RunInstances.ZoneId or the vswitch's zone
	Spot         bool   // false: on-demand (NoSpot)
	SameMemory   bool   // picked by SameMemoryFallback
}

func (c capacityChoice) String() string {
	var b strings.Builder
	if c.Spot {
		b.WriteString("spot ")
	}
	b.WriteString(c.InstanceType)
	switch {
	case c.ZoneId != "" && c.VSwitchId != "":
		fmt.Fprintf(&b, " in %s (%s)", c.ZoneId, c.VSwitchId)
	case c.ZoneId != "":
		fmt.Fprintf(&b, " in %s", c.ZoneId)
	case c.VSwitchId != "":
		fmt.Fprintf(&b, " in %s", c.VSwitchId)
	}
	return b.String()
}

// fallbackLabel says how c differs from the first choice; "" if it does not.
func fallbackLabel(first, c capacityChoice) string {
	var parts []string
	if c.SameMemory {
		parts = append(parts, "same-memory")
	} else if c.InstanceType != first.InstanceType {
		parts = append(parts, "instance-type")
	}
	if c.VSwitchId != first.VSwitchId {
		parts = append(parts, "zone")
	}
	if first.Spot && !c.Spot {
		parts = append(parts, "on-demand")
	}
	return strings.Join(parts, "+")
}

// NoCapacityError is returned by Provision when no (instance type, zone)
// choice had capacity. It unwraps to the last ECS error, so ErrorCode
// returns e.g. OperationDenied.NoStock.
type NoCapacityError struct {
	Attempts []capacityAttempt
	Notes    []string // e.g. why the same-memory fallback found nothing
	Untried  int      // choices left when the attempt or time limit was hit
	last     error
}

func (e *NoCapacityError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "no stock for any of %d choices:", len(e.Attempts))
	for i, a := range e.Attempts {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, " %s (%s)", a.Choice, a.Code)
	}
	var ae *ecs.APIError
	if errors.As(e.last, &ae) && ae.RequestID != "" {
		fmt.Fprintf(&b, " (last request id %s)", ae.RequestID)
	}
	if e.Untried > 0 {
		fmt.Fprintf(&b, "; %d more not tried (at most %d attempts within %v per Provision)", e.Untried, maxCapacityAttempts, capacityBudget)
	}
	for _, n := range e.Notes {
		b.WriteString("; ")
		b.WriteString(n)
	}
	return b.String()
}

func (e *NoCapacityError) Unwrap() error { return e.last }

// --- Provision -------------------------------------------------------------------

// capacityRun is the state of one Provision's walk over its choices.
type capacityRun struct {
	p        *Plugin
	ctx      context.Context
	base     *runRequest
	props    groupspec.Properties
	group    string
	start    time.Time
	logger   *log.Entry
	first    *capacityChoice
	failed   []capacityAttempt
	notes    []string
	lastErr  error
	attempts int
	untried  int
	reserved string // vswitch holding this Provision's pending mark
}

// runWithCapacity makes the RunInstances call(s) for one Provision. With a
// single type and vswitch it is one call with the Provision's ClientToken.
// Otherwise it walks the vswitches (ordered by the group's spread) and,
// within each, the instance types, moving on only on a capacity error
// (OperationDenied.NoStock, InvalidInstanceType.ZoneNotSupported,
// Zone.NotOnSale skipping the rest of that zone); then the same-memory
// fallback; then, for spot with SpotFallbackOnDemand, all of it again as
// on-demand. Each attempt has its own ClientToken (derived from the
// Provision's), reused by the adapter's retries of that attempt.
func (p *Plugin) runWithCapacity(ctx context.Context, spec instance.Spec, props groupspec.Properties, base *runRequest, disks []ecs.Disk, start time.Time) (string, capacityOutcome, error) {
	r := &capacityRun{p: p, ctx: ctx, base: base, props: props, group: spec.Tags[tagGroup], start: start}
	r.logger = p.log.WithFields(log.Fields{"action": "provision", "group": r.group})

	vsws := props.VSwitchChoices()
	if len(vsws) > 1 {
		vsws = r.filterByDiskZone(vsws, disks)
	}
	if len(vsws) > 1 {
		vsws = p.spreadOrder(ctx, r.group, vsws, r.logger)
		r.reserved = vsws[0]
	} else if len(vsws) == 1 {
		p.reserve(r.group, vsws[0])
		r.reserved = vsws[0]
	}
	defer func() {
		if r.reserved != "" {
			p.release(r.group, r.reserved)
		}
	}()

	spot := props.RunInstances.SpotStrategy != "NoSpot"
	passes := []bool{spot}
	if spot && props.SpotFallbackOnDemand {
		passes = append(passes, false)
	}
	for _, asSpot := range passes {
		id, chosen, err := r.pass(vsws, asSpot)
		if err != nil {
			return "", r.outcome("", capacityChoice{}, false), err
		}
		if id != "" {
			return id, r.outcome(id, chosen, false), nil
		}
	}
	return "", r.outcome("", capacityChoice{}, true), &NoCapacityError{Attempts: r.failed, Notes: r.notes, Untried: r.untried, last: r.lastErr}
}

// pass tries every listed (vswitch, type) pair, then the same-memory
// fallback, with one spot setting. It returns an ID, or "" and nil when
// nothing had capacity, or a non-capacity error.
func (r *capacityRun) pass(vsws []string, spot bool) (string, capacityChoice, error) {
	types := r.props.InstanceTypeChoices()
	var choices []capacityChoice
	zonesOf := vsws
	if len(zonesOf) == 0 {
		zonesOf = []string{""}
	}
	for _, v := range zonesOf {
		for _, t := range types {
			choices = append(choices, r.choice(t, v, spot, false))
		}
	}
	id, c, err := r.tryAll(choices)
	if id != "" || err != nil || !r.props.SameMemoryFallback {
		return id, c, err
	}
	more, note := r.p.sameMemoryChoices(r.ctx, types, zonesOf, r.props, spot)
	if note != "" {
		r.notes = append(r.notes, note)
	}
	return r.tryAll(more)
}

func (r *capacityRun) choice(t, vsw string, spot, sameMemory bool) capacityChoice {
	c := capacityChoice{InstanceType: t, VSwitchId: vsw, Spot: spot, SameMemory: sameMemory, ZoneId: r.props.RunInstances.ZoneId}
	if vsw != "" {
		c.ZoneId = r.p.cachedZone(vsw)
	}
	return c
}

func (r *capacityRun) tryAll(choices []capacityChoice) (string, capacityChoice, error) {
	notOnSale := map[string]bool{}
	for i, c := range choices {
		if notOnSale[c.VSwitchId+"|"+c.ZoneId] {
			continue
		}
		if r.attempts > 0 && (r.attempts >= maxCapacityAttempts || r.p.now().Sub(r.start) >= capacityBudget) {
			r.untried += len(choices) - i
			return "", capacityChoice{}, nil
		}
		id, err := r.try(c)
		if err == nil {
			return id, c, nil
		}
		if !isCapacityError(err) {
			return "", c, err
		}
		code := ecs.ErrorCode(err)
		if code == CodeZoneNotOnSale {
			notOnSale[c.VSwitchId+"|"+c.ZoneId] = true
		}
		r.failed = append(r.failed, capacityAttempt{Choice: c, Code: code})
		r.lastErr = err
		r.logger.WithFields(log.Fields{"code": code, "choice": c.String()}).Info("no capacity, trying the next choice")
	}
	return "", capacityChoice{}, nil
}

// try makes one RunInstances attempt for c.
func (r *capacityRun) try(c capacityChoice) (string, error) {
	if r.first == nil {
		first := c
		r.first = &first
	}
	req := *r.base
	req.Args.InstanceType = c.InstanceType
	if c.VSwitchId != "" {
		req.Args.VSwitchId = c.VSwitchId
		if c.VSwitchId != r.reserved {
			if r.reserved != "" {
				r.p.release(r.group, r.reserved)
			}
			r.p.reserve(r.group, c.VSwitchId)
			r.reserved = c.VSwitchId
		}
	}
	if !c.Spot {
		req.Args.SpotStrategy = "NoSpot"
		req.Args.SpotPriceLimit = nil
		req.Args.SpotDuration = nil
		req.Args.SpotInterruptionBehavior = ""
	}
	if r.attempts > 0 {
		req.ClientToken = attemptToken(r.base.ClientToken, c)
	}
	if label := fallbackLabel(*r.first, c); label != "" {
		if _, has := req.Tags[TagFallback]; has || len(req.Tags) < groupspec.MaxTags {
			req.Tags = mergeTags(req.Tags, map[string]string{TagFallback: label})
		}
	}
	r.attempts++
	return r.p.runInstances(r.ctx, &req) // truth.go: a lost answer is asked again
}

// attemptToken derives an attempt's ClientToken from the Provision's, so
// attempts with different parameters never share one (ECS would answer
// IdempotentParameterMismatch) while retries of one attempt do.
func attemptToken(base string, c capacityChoice) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s|%s|%s|%t|%t", base, c.InstanceType, c.VSwitchId, c.Spot, c.SameMemory)
	return hex.EncodeToString(h.Sum(nil))
}

// outcome records a new instance for the spread, names the zones of the
// failed attempts (best effort, cached), and returns what the Provision
// met. id is "" when Provision fails; exhausted when it fails for lack of
// capacity.
func (r *capacityRun) outcome(id string, chosen capacityChoice, exhausted bool) capacityOutcome {
	p := r.p
	ok := id != ""
	if ok && r.reserved != "" {
		p.remember(r.group, id, r.reserved) // and releases the reservation
		r.reserved = ""
	}
	// Name the zones only for specs with capacity keys: a plain spec keeps
	// its one ECS call per Provision.
	if r.props.UsesCapacity() {
		for i := range r.failed {
			c := &r.failed[i].Choice
			if c.ZoneId == "" && c.VSwitchId != "" {
				if z, err := p.vswitchZone(r.ctx, c.VSwitchId); err == nil {
					c.ZoneId = z
				}
			}
		}
	}
	now := p.now()
	var out capacityOutcome
	if len(r.failed) > 0 {
		out.StockOut = &stockOutInfo{Group: r.group, StockOuts: append([]capacityAttempt(nil), r.failed...), Exhausted: exhausted, Time: now}
	}
	if !ok || r.first == nil {
		return out
	}
	label := fallbackLabel(*r.first, chosen)
	if label == "" {
		return out
	}
	r.logger.WithFields(log.Fields{"instance": id, "fallback": label, "wanted": r.first.String(), "chosen": chosen.String()}).Warn("provisioned with a fallback")
	out.Fallback = &fallbackInfo{Group: r.group, InstanceID: id, Wanted: *r.first, Chosen: chosen, Fallback: label, Time: now}
	return out
}

// filterByDiskZone keeps the vswitches in the zone of the attached disks
// (when that zone and the vswitches' zones are known).
func (r *capacityRun) filterByDiskZone(vsws []string, disks []ecs.Disk) []string {
	zone := ""
	for _, d := range disks {
		if d.Zone != "" {
			zone = d.Zone
			break
		}
	}
	if zone == "" {
		return vsws
	}
	var out []string
	for _, v := range vsws {
		z, err := r.p.vswitchZone(r.ctx, v)
		if err != nil || z == "" || z == zone {
			out = append(out, v)
		}
	}
	if len(out) == 0 {
		return vsws // let ECS report the mismatch
	}
	return out
}

// --- zone spread -------------------------------------------------------------------

// spreadOrder orders vswitches by the group's current members in each
// (fewest first, ties in list order), counting instances listed by
// DescribeInstances, instances this plugin created recently, and
// Provisions in flight. It marks the first vswitch as in flight for group.
func (p *Plugin) spreadOrder(ctx context.Context, group string, vsws []string, logger *log.Entry) []string {
	listed := map[string]string{} // instance -> vswitch
	if group != "" {
		want := mergeTags(p.namespace, map[string]string{tagGroup: group})
		found, err := p.api.DescribeInstances(ctx, ecs.InstanceFilter{Tags: want})
		if err != nil {
			logger.WithError(err).WithField("code", ecs.ErrorCode(err)).Warn("could not count the group's instances per zone; using the listed order")
		}
		for i := range found {
			inst := &found[i]
			if skippedStatus[inst.Status] || hasLock(inst, LockRecycling) || !hasTags(inst.TagMap(), want) {
				continue
			}
			listed[inst.ID] = inst.VSwitch
		}
	}
	now := p.now()
	p.capacity.mu.Lock()
	defer p.capacity.mu.Unlock()
	counts := map[string]int{}
	for _, v := range listed {
		counts[v]++
	}
	for id, ri := range p.capacity.recent[group] {
		if now.Sub(ri.at) > recentTTL {
			delete(p.capacity.recent[group], id)
			continue
		}
		if _, ok := listed[id]; !ok {
			counts[ri.vswitch]++
		}
	}
	for v, n := range p.capacity.pending[group] {
		counts[v] += n
	}
	out := append([]string(nil), vsws...)
	sort.SliceStable(out, func(i, j int) bool { return counts[out[i]] < counts[out[j]] })
	p.reserveLocked(group, out[0])
	return out
}

func (p *Plugin) reserve(group, vsw string) {
	p.capacity.mu.Lock()
	defer p.capacity.mu.Unlock()
	p.reserveLocked(group, vsw)
}

func (p *Plugin) reserveLocked(group, vsw string) {
	if p.capacity.pending == nil {
		p.capacity.pending = map[string]map[string]int{}
	}
	if p.capacity.pending[group] == nil {
		p.capacity.pending[group] = map[string]int{}
	}
	p.capacity.pending[group][vsw]++
}

func (p *Plugin) release(group, vsw string) {
	p.capacity.mu.Lock()
	defer p.capacity.mu.Unlock()
	p.releaseLocked(group, vsw)
}

func (p *Plugin) releaseLocked(group, vsw string) {
	if m := p.capacity.pending[group]; m != nil {
		if m[vsw]--; m[vsw] <= 0 {
			delete(m, vsw)
		}
		if len(m) == 0 {
			delete(p.capacity.pending, group)
		}
	}
}

// remember counts a new instance for the spread until DescribeInstances
// lists it, and releases the Provision's reservation of vsw in the same
// step, so no spread decision counts the instance twice or not at all.
func (p *Plugin) remember(group, id, vsw string) {
	p.capacity.mu.Lock()
	defer p.capacity.mu.Unlock()
	p.releaseLocked(group, vsw)
	if p.capacity.recent == nil {
		p.capacity.recent = map[string]map[string]recentInstance{}
	}
	if p.capacity.recent[group] == nil {
		p.capacity.recent[group] = map[string]recentInstance{}
	}
	p.capacity.recent[group][id] = recentInstance{vswitch: vsw, at: p.now()}
}

// --- catalogue, zones, same-memory fallback ---------------------------------

func (p *Plugin) cachedZone(vsw string) string {
	p.capacity.mu.Lock()
	defer p.capacity.mu.Unlock()
	return p.capacity.zones[vsw]
}

// vswitchZone returns the zone of a vswitch, cached for the plugin's life.
func (p *Plugin) vswitchZone(ctx context.Context, vsw string) (string, error) {
	if z := p.cachedZone(vsw); z != "" {
		return z, nil
	}
	cp, ok := p.capacityAPI()
	if !ok {
		return "", errors.New("look up vswitch zones: not supported by this ECS client")
	}
	z, err := cp.DescribeVSwitchZone(ctx, vsw)
	if err != nil {
		return "", fmt.Errorf("look up zone of vswitch %s: %w", vsw, err)
	}
	p.capacity.mu.Lock()
	if p.capacity.zones == nil {
		p.capacity.zones = map[string]string{}
	}
	p.capacity.zones[vsw] = z
	p.capacity.mu.Unlock()
	return z, nil
}

// instanceTypeCatalogue returns the region's instance types, fetched once
// per plugin (a failed fetch is retried by the next caller).
func (p *Plugin) instanceTypeCatalogue(ctx context.Context) (map[string]ecs.InstanceType, error) {
	p.capacity.catalogueMu.Lock()
	defer p.capacity.catalogueMu.Unlock()
	if cat := p.capacity.catalogue; cat != nil {
		return cat, nil
	}
	cp, ok := p.capacityAPI()
	if !ok {
		return nil, errors.New("describe instance types: not supported by this ECS client")
	}
	list, err := cp.DescribeInstanceTypes(ctx)
	if err != nil {
		return nil, fmt.Errorf("describe instance types: %w", err)
	}
	cat := make(map[string]ecs.InstanceType, len(list))
	for _, t := range list {
		cat[t.InstanceTypeId] = t
	}
	p.capacity.catalogue = cat
	return cat, nil
}

// sameMemoryChoices picks, for each vswitch (zone) in order, the type with
// stock that has the memory (and GPU count) of the first listed type and
// the fewest vCPUs at or above its count; ties go to the same family, then
// by name. Listed types are excluded. The note explains an empty result.
func (p *Plugin) sameMemoryChoices(ctx context.Context, listed []string, vsws []string, props groupspec.Properties, spot bool) ([]capacityChoice, string) {
	fail := func(format string, args ...interface{}) ([]capacityChoice, string) {
		return nil, "same-memory fallback: " + fmt.Sprintf(format, args...)
	}
	if len(listed) == 0 {
		return fail("no instance type listed")
	}
	cat, err := p.instanceTypeCatalogue(ctx)
	if err != nil {
		return fail("%v", err)
	}
	orig, ok := cat[listed[0]]
	if !ok {
		return fail("%s is not in the region's instance type catalogue", listed[0])
	}
	var cands []ecs.InstanceType
	for _, t := range cat {
		if t.MemorySize == orig.MemorySize && t.CpuCoreCount >= orig.CpuCoreCount && t.GPUAmount == orig.GPUAmount && !slices.Contains(listed, t.InstanceTypeId) {
			cands = append(cands, t)
		}
	}
	sort.Slice(cands, func(i, j int) bool {
		a, b := cands[i], cands[j]
		if a.CpuCoreCount != b.CpuCoreCount {
			return a.CpuCoreCount < b.CpuCoreCount
		}
		if fa, fb := a.InstanceTypeFamily == orig.InstanceTypeFamily, b.InstanceTypeFamily == orig.InstanceTypeFamily; fa != fb {
			return fa
		}
		return a.InstanceTypeId < b.InstanceTypeId
	})
	what := fmt.Sprintf("no other type with %v GiB and at least %d vCPUs", orig.MemorySize, orig.CpuCoreCount)
	if len(cands) == 0 {
		return fail("%s in the catalogue", what)
	}
	strategy := props.RunInstances.SpotStrategy
	if !spot {
		strategy = "NoSpot"
	}
	cp, _ := p.capacityAPI() // the catalogue came from it
	avail, err := cp.DescribeAvailableInstanceTypes(ctx, props.RunInstances.ZoneId, strategy)
	if err != nil {
		return fail("describe available resources: %v", err)
	}
	var out []capacityChoice
	for _, v := range vsws {
		zone := props.RunInstances.ZoneId
		if v != "" {
			if zone, err = p.vswitchZone(ctx, v); err != nil {
				p.log.WithError(err).Warn("same-memory fallback skips a vswitch")
				continue
			}
		}
		for _, t := range cands {
			if hasStock(avail, zone, t.InstanceTypeId) {
				out = append(out, capacityChoice{InstanceType: t.InstanceTypeId, VSwitchId: v, ZoneId: zone, Spot: spot, SameMemory: true})
				break
			}
		}
	}
	if len(out) == 0 {
		return fail("%s has stock", what)
	}
	return out, ""
}

// hasStock: zone "" means any zone.
func hasStock(avail map[string]map[string]bool, zone, t string) bool {
	if zone != "" {
		return avail[zone][t]
	}
	for _, types := range avail {
		if types[t] {
			return true
		}
	}
	return false
}
