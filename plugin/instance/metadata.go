package instance

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	metadata_plugin "github.com/docker/infrakit/pkg/plugin/metadata"
	"github.com/docker/infrakit/pkg/spi/metadata"
	"github.com/docker/infrakit/pkg/types"

	"infrakit.aliyun/internal/ecs"
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
func (p *Plugin) recordCapacity(o capacity.Outcome) {
	if o.StockOut != nil {
		p.onStockOut(*o.StockOut)
	}
	if o.Fallback != nil {
		p.onFallback(*o.Fallback)
	}
}

// onStockOut publishes instance/no-stock and sets capacity/last-stock-out
// for a Provision that met stock-outs.
func (p *Plugin) onStockOut(i capacity.StockOut) {
	r := StockOut{Group: i.Group, Exhausted: i.Exhausted, At: i.Time}
	var names []string
	for _, a := range i.StockOuts {
		r.StockOuts = append(r.StockOuts, choiceOf(a.Choice, a.Code))
		names = append(names, a.Choice.String())
	}
	p.views.mu.Lock()
	p.views.stockOut = &r
	p.views.mu.Unlock()
	msg := fmt.Sprintf("group %q: no stock for %s", i.Group, strings.Join(names, ", "))
	if i.Exhausted {
		msg += "; no choice left, the instance was not created"
	}
	p.views.events.publish(TopicNoStock, EventTypeNoStock, msg, r)
}

// onFallback sets capacity/last-fallback for a Provision that used a
// fallback.
func (p *Plugin) onFallback(i capacity.Fallback) {
	r := Fallback{Group: i.Group, InstanceId: i.InstanceID, Wanted: choiceOf(i.Wanted, ""), Chosen: choiceOf(i.Chosen, ""),
		Fallback: i.Fallback, At: i.Time}
	p.views.mu.Lock()
	p.views.fallback = &r
	p.views.mu.Unlock()
}

// views is what the plugin's events and metadata show: events, lost
// members, the last capacity outcomes and namespace counts.
type views struct {
	events *eventHub
	lost   *lostTracker

	mu       sync.Mutex
	stockOut *StockOut
	fallback *Fallback
	snapshot *instanceSnapshot
	zones    []string
	zonesAt  time.Time

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
}

func newViews(now func() time.Time) *views {
	ctx, cancel := context.WithCancel(context.Background())
	return &views{events: newEventHub(now), lost: newLostTracker(), ctx: ctx, cancel: cancel}
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

func (p *Plugin) setSnapshot(list []ecs.Instance) {
	s := &instanceSnapshot{at: p.now(), byStatus: map[string]int{}, byZone: map[string]int{}}
	for i := range list {
		inst := &list[i]
		if skippedStatus[inst.Status] || !hasTags(inst.TagMap(), p.namespace) {
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
	p.views.mu.Lock()
	p.views.snapshot = s
	p.views.mu.Unlock()
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
func (p *Plugin) MetadataPlugin() metadata.Plugin { return metadataView{p} }

type metadataView struct{ p *Plugin }

var _ metadata.Plugin = metadataView{}

func (m metadataView) Keys(path types.Path) ([]string, error) {
	return metadata_plugin.NewPluginFromData(m.p.metadataTree()).Keys(path)
}

func (m metadataView) Get(path types.Path) (*types.Any, error) {
	return metadata_plugin.NewPluginFromData(m.p.metadataTree()).Get(path)
}

// metadataTree builds the metadata document; counts come from the last
// namespace describe, refreshed when older than snapshotTTL.
func (p *Plugin) metadataTree() map[string]interface{} {
	ctx, cancel := context.WithTimeout(p.views.ctx, 10*time.Second)
	defer cancel()
	now := p.now()

	p.views.mu.Lock()
	snap := p.views.snapshot
	zones, zonesAt := p.views.zones, p.views.zonesAt
	p.views.mu.Unlock()
	if snap == nil || now.Sub(snap.at) > snapshotTTL {
		if list, err := p.api.DescribeInstances(ctx, ecs.InstanceFilter{Tags: p.namespace}); err == nil {
			p.setSnapshot(list)
		}
	}
	if zones == nil || now.Sub(zonesAt) > time.Hour {
		if p.zoneCalls != nil {
			if z, err := p.zoneCalls.DescribeZones(ctx); err == nil {
				sort.Strings(z)
				p.views.mu.Lock()
				p.views.zones, p.views.zonesAt = z, now
				p.views.mu.Unlock()
			}
		}
	}

	interrupting, last := p.spot.Interrupting()
	s := p.views
	s.mu.Lock()
	defer s.mu.Unlock()
	tree := map[string]interface{}{"region": p.region}
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
