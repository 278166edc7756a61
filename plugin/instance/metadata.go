package instance

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	log "github.com/Sirupsen/logrus"
	metadata_plugin "github.com/docker/infrakit/pkg/plugin/metadata"
	"github.com/docker/infrakit/pkg/spi/instance"
	"github.com/docker/infrakit/pkg/spi/metadata"
	"github.com/docker/infrakit/pkg/types"

	"infrakit.aliyun/internal/ecs"
	"infrakit.aliyun/internal/metrics"
	"infrakit.aliyun/plugin/instance/capacity"
	"infrakit.aliyun/plugin/instance/spot"
)

// CapacityChoice is one (instance type, zone, spot) combination Provision tried.
type CapacityChoice struct {
	InstanceType string
	ZoneId       string `json:",omitempty"`
	VSwitchId    string `json:",omitempty"`
	Spot         bool
	// Code is the ECS error code of a choice that had no capacity.
	Code string `json:",omitempty"`
}

// StockOut is the data of the instance/no-stock event and of metadata
// capacity/last-stock-out: one Provision that met stock-outs.
type StockOut struct {
	Group     string `json:",omitempty"`
	StockOuts []CapacityChoice
	// Exhausted is true when no choice had stock and Provision failed.
	Exhausted bool
	At        time.Time
}

// Fallback is metadata capacity/last-fallback: a Provision that succeeded
// with a choice other than its first.
type Fallback struct {
	Group      string `json:",omitempty"`
	InstanceId string
	Wanted     CapacityChoice
	Chosen     CapacityChoice
	Fallback   string // e.g. "instance-type+zone", "on-demand"
	At         time.Time
}

func choiceOf(c capacity.Choice, code string) CapacityChoice {
	return CapacityChoice{InstanceType: c.InstanceType, ZoneId: c.ZoneId, VSwitchId: c.VSwitchId, Spot: c.Spot, Code: code}
}

// recordCapacity publishes what a Provision's capacity walk met.
func (v *views) recordCapacity(o capacity.Outcome) {
	if o.StockOut != nil {
		v.onStockOut(*o.StockOut)
	}
	if o.Fallback != nil {
		v.onFallback(*o.Fallback)
	}
}

// onStockOut publishes instance/no-stock and sets capacity/last-stock-out
// for a Provision that met stock-outs.
func (v *views) onStockOut(i capacity.StockOut) {
	r := StockOut{Group: i.Group, Exhausted: i.Exhausted, At: i.Time}
	var names []string
	for _, a := range i.StockOuts {
		r.StockOuts = append(r.StockOuts, choiceOf(a.Choice, a.Code))
		names = append(names, a.Choice.String())
	}
	v.mu.Lock()
	v.stockOut = &r
	v.mu.Unlock()
	msg := fmt.Sprintf("group %q: no stock for %s", i.Group, strings.Join(names, ", "))
	if i.Exhausted {
		msg += "; no choice left, the instance was not created"
	}
	v.events.publish(TopicNoStock, EventTypeNoStock, msg, r)
}

// onFallback sets capacity/last-fallback for a Provision that used a
// fallback.
func (v *views) onFallback(i capacity.Fallback) {
	r := Fallback{Group: i.Group, InstanceId: i.InstanceID, Wanted: choiceOf(i.Wanted, ""), Chosen: choiceOf(i.Chosen, ""),
		Fallback: i.Fallback, At: i.Time}
	v.mu.Lock()
	v.fallback = &r
	v.mu.Unlock()
}

// views is what the plugin's events and metadata show: events, lost
// members, spot notices, the last capacity outcomes and namespace counts.
// Its own ECS calls are the metadata's namespace describe and zone list.
type views struct {
	events    *eventHub
	lost      *lostTracker
	now       func() time.Time
	region    string
	namespace map[string]string
	api       ecs.InstanceAPI // namespace describes for the counts
	zoneCalls ecs.SpotAPI     // DescribeZones; nil in some test fakes
	log       *log.Logger
	metrics   *metrics.Metrics // nil records nothing
	// spot is the reclaim state (interrupting instances, the last notice),
	// set once spot.Reclaims is built with notice as its Notify.
	spot interface {
		Interrupting() ([]string, *Interruption)
		Noticed(id string) bool
	}

	mu       sync.Mutex
	stockOut *StockOut
	fallback *Fallback
	snapshot *instanceSnapshot
	zones    []string
	zonesAt  time.Time

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
}

// viewsConfig is what newViews needs; eventsNow is the events' clock.
type viewsConfig struct {
	now, eventsNow func() time.Time
	region         string
	namespace      map[string]string
	api            ecs.InstanceAPI
	zoneCalls      ecs.SpotAPI
	log            *log.Logger
	metrics        *metrics.Metrics
}

func newViews(c viewsConfig) *views {
	ctx, cancel := context.WithCancel(context.Background())
	return &views{events: newEventHub(c.eventsNow), lost: newLostTracker(), now: c.now, region: c.region,
		namespace: c.namespace, api: c.api, zoneCalls: c.zoneCalls, log: c.log, metrics: c.metrics, ctx: ctx, cancel: cancel}
}

// instanceSnapshot is the last namespace-wide describe, for metadata.
type instanceSnapshot struct {
	at       time.Time
	byStatus map[string]int
	byZone   map[string]int
	spot     int
	total    int
}

// snapshotTTL is how old the counts may be before a metadata read
// describes again (the watcher usually keeps them fresh).
const snapshotTTL = 10 * time.Second

func (v *views) setSnapshot(list []ecs.Instance) {
	s := &instanceSnapshot{at: v.now(), byStatus: map[string]int{}, byZone: map[string]int{}}
	for i := range list {
		inst := &list[i]
		if skippedStatus[inst.Status] || !hasTags(inst.TagMap(), v.namespace) {
			continue
		}
		s.total++
		s.byStatus[inst.Status]++
		if inst.Zone != "" {
			s.byZone[inst.Zone]++
		}
		if spot.IsSpot(inst) {
			s.spot++
		}
	}
	v.mu.Lock()
	v.snapshot = s
	v.mu.Unlock()
}

// MetadataPlugin returns the plugin's read-only Metadata SPI:
//
//	region                          the plugin's region
//	zones                           the region's zones
//	instances/total, instances/spot, instances/interrupting
//	instances/by-status/<Status>, instances/by-zone/<ZoneId>
//	spot/interrupting               IDs being reclaimed
//	spot/last-interruption          an Interruption
//	capacity/last-stock-out         a StockOut
//	capacity/last-fallback          a Fallback
//	events/<topic>                  events published per topic, events/dropped
func (p *Plugin) MetadataPlugin() metadata.Plugin { return metadataView{p.views} }

type metadataView struct{ v *views }

var _ metadata.Plugin = metadataView{}

func (m metadataView) Keys(path types.Path) ([]string, error) {
	return metadata_plugin.NewPluginFromData(m.v.metadataTree()).Keys(path)
}

func (m metadataView) Get(path types.Path) (*types.Any, error) {
	return metadata_plugin.NewPluginFromData(m.v.metadataTree()).Get(path)
}

// metadataTree builds the metadata document; counts come from the last
// namespace describe, refreshed when older than snapshotTTL.
func (v *views) metadataTree() map[string]interface{} {
	ctx, cancel := context.WithTimeout(v.ctx, 10*time.Second)
	defer cancel()
	now := v.now()

	v.mu.Lock()
	snap := v.snapshot
	zones, zonesAt := v.zones, v.zonesAt
	v.mu.Unlock()
	if snap == nil || now.Sub(snap.at) > snapshotTTL {
		if list, err := v.api.DescribeInstances(ctx, ecs.InstanceFilter{Tags: v.namespace}); err == nil {
			v.setSnapshot(list)
		}
	}
	if zones == nil || now.Sub(zonesAt) > time.Hour {
		if v.zoneCalls != nil {
			if z, err := v.zoneCalls.DescribeZones(ctx); err == nil {
				sort.Strings(z)
				v.mu.Lock()
				v.zones, v.zonesAt = z, now
				v.mu.Unlock()
			}
		}
	}

	interrupting, last := v.spot.Interrupting()
	s := v
	s.mu.Lock()
	defer s.mu.Unlock()
	tree := map[string]interface{}{"region": v.region}
	if s.zones != nil {
		tree["zones"] = append([]string(nil), s.zones...)
	} else {
		tree["zones"] = []string{}
	}
	inst := map[string]interface{}{"interrupting": len(interrupting)}
	byStatus, byZone := map[string]interface{}{}, map[string]interface{}{}
	if snap := s.snapshot; snap != nil {
		inst["total"], inst["spot"] = snap.total, snap.spot
		for k, v := range snap.byStatus {
			byStatus[k] = v
		}
		for k, v := range snap.byZone {
			byZone[k] = v
		}
		inst["as-of"] = snap.at
	}
	inst["by-status"], inst["by-zone"] = byStatus, byZone
	tree["instances"] = inst

	spotTree := map[string]interface{}{"interrupting": interrupting}
	if last != nil {
		spotTree["last-interruption"] = *last
	}
	tree["spot"] = spotTree

	capacity := map[string]interface{}{}
	if s.stockOut != nil {
		capacity["last-stock-out"] = *s.stockOut
	}
	if s.fallback != nil {
		capacity["last-fallback"] = *s.fallback
	}
	tree["capacity"] = capacity

	// Every topic is instance/<name>: "instance/no-stock" becomes
	// events/instance/no-stock.
	counts, dropped := s.events.counts()
	byTopic := map[string]interface{}{}
	for topic, n := range counts {
		byTopic[types.PathFromString(topic).Base()] = n
	}
	tree["events"] = map[string]interface{}{"dropped": dropped, "instance": byTopic}
	return tree
}

// onNotice reports a reclaim spot noticed: log, event, metric.
func (v *views) notice(info Interruption) {
	v.metrics.SpotNotice(info.Source) // "cloudmonitor" counts as "push"
	v.log.WithFields(log.Fields{"action": "interruption", "instance": info.InstanceId, "group": info.Group,
		"logical_id": info.LogicalID, "source": info.Source, "keep_data": info.KeepData}).
		Warn("spot instance is being reclaimed: no longer reported to its group, a replacement will be provisioned")
	v.events.publish(TopicInterrupting, EventTypeInterrupting,
		fmt.Sprintf("instance %s of group %q is being reclaimed (released by %s)", info.InstanceId, info.Group, info.ReleaseBy.Format(time.RFC3339)), info)
}

// afterDescribe post-processes a DescribeInstances result (fresh or cached):
// group describes leave out instances being reclaimed, and members that
// vanished since the last describe of the same filter are published as lost.
func (v *views) afterDescribe(tags map[string]string, out []instance.Description) []instance.Description {
	if _, isGroup := tags[tagGroup]; !isGroup {
		return out
	}
	kept := out[:0]
	for _, d := range out {
		if !v.spot.Noticed(string(d.ID)) {
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
	for _, l := range v.lost.update(describeKey(tags, false), members, v.now(), v.spot.Noticed) {
		l.Group = tags[tagGroup]
		v.log.WithFields(log.Fields{"action": "describe", "instance": l.InstanceId, "group": l.Group}).Warn("instance vanished outside InfraKit")
		v.events.publish(TopicLost, EventTypeLost, fmt.Sprintf("instance %s of group %q vanished outside InfraKit", l.InstanceId, l.Group), l)
	}
	return kept
}

// noteDestroyed remembers that this plugin destroyed an instance, so its
// disappearance is not reported as lost.
func (v *views) noteDestroyed(id string) { v.lost.noteDestroyed(id, v.now()) }
