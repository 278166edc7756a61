package instance

import (
	"context"
	"sort"
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
