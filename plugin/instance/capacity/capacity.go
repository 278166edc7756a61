// Package capacity decides where a Provision's instance goes: ordered
// fallbacks over instance types and vswitches (zones), the opt-in
// same-memory fallback, spot -> on-demand, and spreading a group over its
// vswitches. It makes no RunInstances call itself: Planner.Run hands each
// choice to the plugin's Try and returns what it met (stock-outs, the
// fallback chosen) for the plugin to publish.
package capacity

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

	"infrakit.aliyun/internal/ecs"
	"infrakit.aliyun/internal/metrics"
	"infrakit.aliyun/plugin/instance/groupspec"
)

// TagFallback records on an instance which fallback Provision used to
// create it (e.g. "zone", "instance-type+zone", "same-memory", "on-demand").
// It is set only when the instance's tags stay within MaxTags.
const TagFallback = "infrakit-aliyun.fallback"

// Capacity limits: the group plugin's Provision RPC times out after 15 s.
const (
	// maxAttempts bounds RunInstances calls in one Provision.
	maxAttempts = 12
	// budget: no new (type, zone) attempt starts after this much
	// time has passed since Provision began.
	budget = 9 * time.Second
	// recentTTL is how long a created instance counts for the zone spread
	// even if DescribeInstances does not list it yet.
	recentTTL = 2 * time.Minute
	// tallyTTL is how long a group's members as last listed (by a spread
	// lookup or any describe scan that covered the group, see Observe)
	// answer the spread without a new scan. Between scans the planner's
	// own creations (recent, pending) and destroys (Forget) are the
	// deltas, so one-at-a-time Provisions do not rescan the group each
	// time. It is below recentTTL, so no creation made after a tally's
	// scan expires from recent while that tally is in use.
	tallyTTL = time.Minute
)

// Error codes meaning "this (type, zone) has no capacity, try another".
const (
	CodeNoStock          = "OperationDenied.NoStock"
	CodeZoneNotOnSale    = "Zone.NotOnSale"
	CodeZoneNotSupported = "InvalidInstanceType.ZoneNotSupported"
)

// isCapacityError tells whether err means the (type, zone) pair has no
// capacity, so Provision may try the next pair.
func IsCapacityError(err error) bool {
	switch ecs.ErrorCode(err) {
	case CodeNoStock, CodeZoneNotOnSale, CodeZoneNotSupported:
		return true
	}
	return false
}

// catalogueAPI returns the catalogue and stock calls; ok is false without
// them (a test fake): no same-memory fallback, zones not named.
func (pl *Planner) catalogueAPI() (ecs.CapacityAPI, bool) {
	return pl.cfg.Catalogue, pl.cfg.Catalogue != nil
}

// --- what a Provision met, for events and metadata ---------------------------

// Attempt is one RunInstances attempt that found no capacity.
type Attempt struct {
	Choice Choice
	Code   string // ECS error code, e.g. OperationDenied.NoStock
}

// StockOut is a Provision's stock-outs, whether or not a fallback then
// succeeded.
type StockOut struct {
	Group     string
	StockOuts []Attempt // in the order tried
	// Exhausted is true when no choice had stock and Provision failed.
	Exhausted bool
	Time      time.Time
}

// Fallback is a Provision that created an instance with a choice other
// than its first.
type Fallback struct {
	Group      string
	InstanceID string
	Wanted     Choice // the first choice tried
	Chosen     Choice
	Fallback   string // as in the TagFallback tag, e.g. "instance-type+zone"
	Time       time.Time
}

// Outcome is what one Provision's walk over its choices met, for
// the plugin to publish (metadata.go): the stock-outs (nil when none) and
// the fallback that created the instance (nil when the first choice did).
type Outcome struct {
	StockOut *StockOut
	Fallback *Fallback
}

// Config is what a Planner needs from the plugin.
type Config struct {
	// Catalogue is the catalogue and stock calls; nil (a test fake): no
	// same-memory fallback, zones not named.
	Catalogue ecs.CapacityAPI
	// Members lists a group's live members as instance ID -> vswitch, for
	// the spread.
	Members func(ctx context.Context, group string) (map[string]string, error)
	Log     *log.Logger
	Now     func() time.Time
	// Metrics counts capacity fallbacks; nil records nothing.
	Metrics *metrics.Metrics
}

// Planner holds the capacity bookkeeping of one plugin: the cached instance
// type catalogue and vswitch zones (both immutable in ECS), in-flight and
// recent creations per group for the zone spread.
type Planner struct {
	cfg Config

	mu      sync.Mutex
	zones   map[string]string         // vswitch -> zone
	pending map[string]map[string]int // group -> vswitch -> Provisions using it now
	recent  map[string]map[string]recentInstance
	tallies map[string]tally // group -> members as last listed
	// talliesPruned is when tallies older than tallyTTL were last dropped
	// (groups are callers' input: the map must not keep every one).
	talliesPruned time.Time
	gone          map[string]time.Time // instance -> when this plugin destroyed it

	catalogueMu sync.Mutex                  // serialises the one catalogue fetch
	catalogue   map[string]ecs.InstanceType // under catalogueMu; nil until fetched once
}

// New returns a Planner.
func New(cfg Config) *Planner { return &Planner{cfg: cfg} }

// tally is a group's live members (instance -> vswitch) as one scan
// listed them.
type tally struct {
	at      time.Time
	members map[string]string
}

type recentInstance struct {
	vswitch string
	at      time.Time
}

// --- choices -------------------------------------------------------------------

// Choice is one (instance type, vswitch/zone, spot) combination.
type Choice struct {
	InstanceType string
	VSwitchId    string // "" when the spec names no vswitch
	ZoneId       string // when known: RunInstances.ZoneId or the vswitch's zone
	Spot         bool   // false: on-demand (NoSpot)
	SameMemory   bool   // picked by SameMemoryFallback
}

func (c Choice) String() string {
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
func fallbackLabel(first, c Choice) string {
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
	Attempts []Attempt
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
		fmt.Fprintf(&b, "; %d more not tried (at most %d attempts within %v per Provision)", e.Untried, maxAttempts, budget)
	}
	for _, n := range e.Notes {
		b.WriteString("; ")
		b.WriteString(n)
	}
	return b.String()
}

func (e *NoCapacityError) Unwrap() error { return e.last }

// --- Provision -------------------------------------------------------------------

// run is the state of one Provision's walk over its choices.
type run struct {
	pl       *Planner
	ctx      context.Context
	req      Request
	props    groupspec.Properties
	group    string
	start    time.Time
	logger   *log.Entry
	first    *Choice
	failed   []Attempt
	notes    []string
	lastErr  error
	attempts int
	untried  int
	reserved string // vswitch holding this Provision's pending mark
}

// Request is one Provision's walk over its choices.
type Request struct {
	Group string
	Props groupspec.Properties
	// Disks are the disks the instance will get (attachments, kept data):
	// their zone narrows the vswitches.
	Disks []ecs.Disk
	Start time.Time // when the Provision began (the time budget)
	// BaseToken is the Provision's ClientToken; later attempts derive
	// their own from it.
	BaseToken string
	// Try makes one RunInstances attempt for c with ClientToken token and
	// the TagFallback label fallback ("" for the first choice).
	Try func(ctx context.Context, c Choice, token, fallback string) (string, error)
}

// Run makes the RunInstances call(s) for one Provision through req.Try. With a
// single type and vswitch it is one call with the Provision's ClientToken.
// Otherwise it walks the vswitches (ordered by the group's spread) and,
// within each, the instance types, moving on only on a capacity error
// (OperationDenied.NoStock, InvalidInstanceType.ZoneNotSupported,
// Zone.NotOnSale skipping the rest of that zone); then the same-memory
// fallback; then, for spot with SpotFallbackOnDemand, all of it again as
// on-demand. Each attempt has its own ClientToken (derived from the
// Provision's), reused by the adapter's retries of that attempt.
func (pl *Planner) Run(ctx context.Context, req Request) (string, Outcome, error) {
	r := &run{pl: pl, ctx: ctx, req: req, props: req.Props, group: req.Group, start: req.Start}
	r.logger = pl.cfg.Log.WithFields(log.Fields{"action": "provision", "group": r.group})
	props, disks := req.Props, req.Disks

	vsws := props.VSwitchChoices()
	if len(vsws) > 1 {
		vsws = r.filterByDiskZone(vsws, disks)
	}
	if len(vsws) > 1 {
		vsws = pl.spreadOrder(ctx, r.group, vsws, r.logger)
		r.reserved = vsws[0]
	} else if len(vsws) == 1 {
		pl.reserve(r.group, vsws[0])
		r.reserved = vsws[0]
	}
	defer func() {
		if r.reserved != "" {
			pl.release(r.group, r.reserved)
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
			return "", r.outcome("", Choice{}, false), err
		}
		if id != "" {
			return id, r.outcome(id, chosen, false), nil
		}
	}
	return "", r.outcome("", Choice{}, true), &NoCapacityError{Attempts: r.failed, Notes: r.notes, Untried: r.untried, last: r.lastErr}
}

// pass tries every listed (vswitch, type) pair, then the same-memory
// fallback, with one spot setting. It returns an ID, or "" and nil when
// nothing had capacity, or a non-capacity error.
func (r *run) pass(vsws []string, spot bool) (string, Choice, error) {
	types := r.props.InstanceTypeChoices()
	var choices []Choice
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
	more, note := r.pl.sameMemoryChoices(r.ctx, types, zonesOf, r.props, spot)
	if note != "" {
		r.notes = append(r.notes, note)
	}
	return r.tryAll(more)
}

func (r *run) choice(t, vsw string, spot, sameMemory bool) Choice {
	c := Choice{InstanceType: t, VSwitchId: vsw, Spot: spot, SameMemory: sameMemory, ZoneId: r.props.RunInstances.ZoneId}
	if vsw != "" {
		c.ZoneId = r.pl.cachedZone(vsw)
	}
	return c
}

func (r *run) tryAll(choices []Choice) (string, Choice, error) {
	notOnSale := map[string]bool{}
	for i, c := range choices {
		if notOnSale[c.VSwitchId+"|"+c.ZoneId] {
			continue
		}
		if r.attempts > 0 && (r.attempts >= maxAttempts || r.pl.cfg.Now().Sub(r.start) >= budget) {
			r.untried += len(choices) - i
			return "", Choice{}, nil
		}
		id, err := r.try(c)
		if err == nil {
			return id, c, nil
		}
		if !IsCapacityError(err) {
			return "", c, err
		}
		code := ecs.ErrorCode(err)
		if code == CodeZoneNotOnSale {
			notOnSale[c.VSwitchId+"|"+c.ZoneId] = true
		}
		r.failed = append(r.failed, Attempt{Choice: c, Code: code})
		r.lastErr = err
		r.logger.WithFields(log.Fields{"code": code, "choice": c.String()}).Info("no capacity, trying the next choice")
	}
	return "", Choice{}, nil
}

// try makes one RunInstances attempt for c.
func (r *run) try(c Choice) (string, error) {
	if r.first == nil {
		first := c
		r.first = &first
	}
	if c.VSwitchId != "" && c.VSwitchId != r.reserved {
		if r.reserved != "" {
			r.pl.release(r.group, r.reserved)
		}
		r.pl.reserve(r.group, c.VSwitchId)
		r.reserved = c.VSwitchId
	}
	token := r.req.BaseToken
	if r.attempts > 0 {
		token = attemptToken(r.req.BaseToken, c)
	}
	r.attempts++
	return r.req.Try(r.ctx, c, token, fallbackLabel(*r.first, c))
}

// attemptToken derives an attempt's ClientToken from the Provision's, so
// attempts with different parameters never share one (ECS would answer
// IdempotentParameterMismatch) while retries of one attempt do.
func attemptToken(base string, c Choice) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s|%s|%s|%t|%t", base, c.InstanceType, c.VSwitchId, c.Spot, c.SameMemory)
	return hex.EncodeToString(h.Sum(nil))
}

// outcome records a new instance for the spread, names the zones of the
// failed attempts (best effort, cached), and returns what the Provision
// met. id is "" when Provision fails; exhausted when it fails for lack of
// capacity.
func (r *run) outcome(id string, chosen Choice, exhausted bool) Outcome {
	pl := r.pl
	ok := id != ""
	if ok && r.reserved != "" {
		pl.remember(r.group, id, r.reserved) // and releases the reservation
		r.reserved = ""
	}
	// Name the zones only for specs with capacity keys: a plain spec keeps
	// its one ECS call per Provision.
	if r.props.UsesCapacity() {
		for i := range r.failed {
			c := &r.failed[i].Choice
			if c.ZoneId == "" && c.VSwitchId != "" {
				if z, err := pl.vswitchZone(r.ctx, c.VSwitchId); err == nil {
					c.ZoneId = z
				}
			}
		}
	}
	now := pl.cfg.Now()
	var out Outcome
	if len(r.failed) > 0 {
		out.StockOut = &StockOut{Group: r.group, StockOuts: append([]Attempt(nil), r.failed...), Exhausted: exhausted, Time: now}
	}
	if !ok || r.first == nil {
		return out
	}
	label := fallbackLabel(*r.first, chosen)
	if label == "" {
		return out
	}
	r.logger.WithFields(log.Fields{"instance": id, "fallback": label, "wanted": r.first.String(), "chosen": chosen.String()}).Warn("provisioned with a fallback")
	out.Fallback = &Fallback{Group: r.group, InstanceID: id, Wanted: *r.first, Chosen: chosen, Fallback: label, Time: now}
	pl.cfg.Metrics.Fallback(label)
	return out
}

// filterByDiskZone keeps the vswitches in the zone of the attached disks
// (when that zone and the vswitches' zones are known).
func (r *run) filterByDiskZone(vsws []string, disks []ecs.Disk) []string {
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
		z, err := r.pl.vswitchZone(r.ctx, v)
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
// (fewest first, ties in list order), counting the members as last listed
// (a tally younger than tallyTTL, else a new lookup through Members), less
// the ones this plugin destroyed since, plus instances this plugin created
// that the listing does not hold yet, plus Provisions in flight. It marks
// the first vswitch as in flight for group.
func (pl *Planner) spreadOrder(ctx context.Context, group string, vsws []string, logger *log.Entry) []string {
	var listed map[string]string // instance -> vswitch
	if group != "" {
		listed = pl.tally(group)
		if listed == nil {
			members, err := pl.cfg.Members(ctx, group)
			if err != nil {
				logger.WithError(err).WithField("code", ecs.ErrorCode(err)).Warn("could not count the group's instances per zone; using the listed order")
			} else {
				pl.Observe(group, members)
			}
			listed = members
		}
	}
	now := pl.cfg.Now()
	pl.mu.Lock()
	defer pl.mu.Unlock()
	counts := map[string]int{}
	for id, v := range listed {
		if _, destroyed := pl.gone[id]; !destroyed {
			counts[v]++
		}
	}
	for id, ri := range pl.recent[group] {
		if now.Sub(ri.at) > recentTTL {
			delete(pl.recent[group], id)
			continue
		}
		if _, ok := listed[id]; !ok {
			if _, destroyed := pl.gone[id]; !destroyed {
				counts[ri.vswitch]++
			}
		}
	}
	for id, at := range pl.gone {
		if now.Sub(at) > recentTTL {
			delete(pl.gone, id)
		}
	}
	for v, n := range pl.pending[group] {
		counts[v] += n
	}
	out := append([]string(nil), vsws...)
	sort.SliceStable(out, func(i, j int) bool { return counts[out[i]] < counts[out[j]] })
	pl.reserveLocked(group, out[0])
	return out
}

// tally returns the group's members as last listed, if that listing is
// younger than tallyTTL; nil otherwise. The map is not to be written.
func (pl *Planner) tally(group string) map[string]string {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	t, ok := pl.tallies[group]
	if !ok || pl.cfg.Now().Sub(t.at) >= tallyTTL {
		return nil
	}
	return t.members
}

// Observe records a group's live members (instance -> vswitch) as a scan
// that began no earlier than now listed them: the scan is the truth, and
// the planner's own creations and destroys are deltas on it until the next
// one. The plugin calls it for every describe scan that covered the group,
// so the spread usually costs no ECS call at all. The map is kept, not
// copied: callers hand over a map they no longer write.
func (pl *Planner) Observe(group string, members map[string]string) {
	if group == "" || members == nil {
		return
	}
	pl.mu.Lock()
	defer pl.mu.Unlock()
	if pl.tallies == nil {
		pl.tallies = map[string]tally{}
	}
	now := pl.cfg.Now()
	if now.Sub(pl.talliesPruned) >= tallyTTL { // a walk per tallyTTL, not per call
		pl.talliesPruned = now
		for g, t := range pl.tallies {
			if now.Sub(t.at) >= tallyTTL {
				delete(pl.tallies, g) // unused by tally() anyway
			}
		}
	}
	pl.tallies[group] = tally{at: now, members: members}
}

// Forget records that this plugin destroyed an instance: the spread stops
// counting it before the next scan says it is gone.
func (pl *Planner) Forget(id string) {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	if pl.gone == nil {
		pl.gone = map[string]time.Time{}
	}
	pl.gone[id] = pl.cfg.Now()
}

func (pl *Planner) reserve(group, vsw string) {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	pl.reserveLocked(group, vsw)
}

func (pl *Planner) reserveLocked(group, vsw string) {
	if pl.pending == nil {
		pl.pending = map[string]map[string]int{}
	}
	if pl.pending[group] == nil {
		pl.pending[group] = map[string]int{}
	}
	pl.pending[group][vsw]++
}

func (pl *Planner) release(group, vsw string) {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	pl.releaseLocked(group, vsw)
}

func (pl *Planner) releaseLocked(group, vsw string) {
	if m := pl.pending[group]; m != nil {
		if m[vsw]--; m[vsw] <= 0 {
			delete(m, vsw)
		}
		if len(m) == 0 {
			delete(pl.pending, group)
		}
	}
}

// remember counts a new instance for the spread until DescribeInstances
// lists it, and releases the Provision's reservation of vsw in the same
// step, so no spread decision counts the instance twice or not at all.
func (pl *Planner) remember(group, id, vsw string) {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	pl.releaseLocked(group, vsw)
	if pl.recent == nil {
		pl.recent = map[string]map[string]recentInstance{}
	}
	if pl.recent[group] == nil {
		pl.recent[group] = map[string]recentInstance{}
	}
	pl.recent[group][id] = recentInstance{vswitch: vsw, at: pl.cfg.Now()}
}

// --- catalogue, zones, same-memory fallback ---------------------------------

func (pl *Planner) cachedZone(vsw string) string {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	return pl.zones[vsw]
}

// vswitchZone returns the zone of a vswitch, cached for the plugin's life.
func (pl *Planner) vswitchZone(ctx context.Context, vsw string) (string, error) {
	if z := pl.cachedZone(vsw); z != "" {
		return z, nil
	}
	cp, ok := pl.catalogueAPI()
	if !ok {
		return "", errors.New("look up vswitch zones: not supported by this ECS client")
	}
	z, err := cp.DescribeVSwitchZone(ctx, vsw)
	if err != nil {
		return "", fmt.Errorf("look up zone of vswitch %s: %w", vsw, err)
	}
	pl.mu.Lock()
	if pl.zones == nil {
		pl.zones = map[string]string{}
	}
	pl.zones[vsw] = z
	pl.mu.Unlock()
	return z, nil
}

// instanceTypeCatalogue returns the region's instance types, fetched once
// per plugin (a failed fetch is retried by the next caller).
func (pl *Planner) instanceTypeCatalogue(ctx context.Context) (map[string]ecs.InstanceType, error) {
	pl.catalogueMu.Lock()
	defer pl.catalogueMu.Unlock()
	if cat := pl.catalogue; cat != nil {
		return cat, nil
	}
	cp, ok := pl.catalogueAPI()
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
	pl.catalogue = cat
	return cat, nil
}

// sameMemoryChoices picks, for each vswitch (zone) in order, the type with
// stock that has the memory (and GPU count) of the first listed type and
// the fewest vCPUs at or above its count; ties go to the same family, then
// by name. Listed types are excluded. The note explains an empty result.
func (pl *Planner) sameMemoryChoices(ctx context.Context, listed []string, vsws []string, props groupspec.Properties, spot bool) ([]Choice, string) {
	fail := func(format string, args ...interface{}) ([]Choice, string) {
		return nil, "same-memory fallback: " + fmt.Sprintf(format, args...)
	}
	if len(listed) == 0 {
		return fail("no instance type listed")
	}
	cat, err := pl.instanceTypeCatalogue(ctx)
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
	cp, _ := pl.catalogueAPI() // the catalogue came from it
	avail, err := cp.DescribeAvailableInstanceTypes(ctx, props.RunInstances.ZoneId, strategy)
	if err != nil {
		return fail("describe available resources: %v", err)
	}
	var out []Choice
	for _, v := range vsws {
		zone := props.RunInstances.ZoneId
		if v != "" {
			if zone, err = pl.vswitchZone(ctx, v); err != nil {
				pl.cfg.Log.WithError(err).Warn("same-memory fallback skips a vswitch")
				continue
			}
		}
		for _, t := range cands {
			if hasStock(avail, zone, t.InstanceTypeId) {
				out = append(out, Choice{InstanceType: t.InstanceTypeId, VSwitchId: v, ZoneId: zone, Spot: spot, SameMemory: true})
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

// Reserved is how many groups have Provisions holding a vswitch for the
// spread right now (0 once every Provision has ended).
func (pl *Planner) Reserved() int {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	return len(pl.pending)
}
