package instance

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	log "github.com/Sirupsen/logrus"
	"github.com/docker/infrakit/pkg/spi/instance"

	"infrakit.aliyun/internal/ecs"
	"infrakit.aliyun/internal/metrics"
	"infrakit.aliyun/plugin/instance/capacity"
)

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

// notice reports a reclaim spot noticed: log, event, metric.
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
// vanished since the last describe of the same filter (key) are published
// as lost.
func (v *views) afterDescribe(tags map[string]string, key string, out []instance.Description) []instance.Description {
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
	for _, l := range v.lost.update(key, members, v.now(), v.spot.Noticed) {
		l.Group = tags[tagGroup]
		v.log.WithFields(log.Fields{"action": "describe", "instance": l.InstanceId, "group": l.Group}).Warn("instance vanished outside InfraKit")
		v.events.publish(TopicLost, EventTypeLost, fmt.Sprintf("instance %s of group %q vanished outside InfraKit", l.InstanceId, l.Group), l)
	}
	return kept
}

// noteDestroyed remembers that this plugin destroyed an instance, so its
// disappearance is not reported as lost.
func (v *views) noteDestroyed(id string) { v.lost.noteDestroyed(id, v.now()) }

// noteGone is noteDestroyed for an instance ECS no longer knows (a Destroy
// of an ID the client may have made up): remembered only if it was listed.
func (v *views) noteGone(id string) { v.lost.noteDestroyedIfListed(id, v.now()) }
