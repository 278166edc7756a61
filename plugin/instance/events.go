package instance

import (
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/docker/infrakit/pkg/spi/event"
	"github.com/docker/infrakit/pkg/types"
)

// Event topics the plugin publishes, relative to the plugin's socket: a
// subscriber of the plugin named instance-aliyun sees them as
// instance-aliyun/instance/interrupting and so on.
const (
	// TopicInterrupting: a spot instance got its interruption notice
	// (OperationLocks Recycling, seen by a describe, the watcher, or the
	// lookup a pushed CloudMonitor event triggers). Data is an Interruption.
	TopicInterrupting = "instance/interrupting"
	// TopicLost: an instance a group describe listed before is gone, and
	// neither this plugin destroyed it nor was it reclaimed. Data is a LostInstance.
	TopicLost = "instance/lost"
	// TopicNoStock: RunInstances found no stock (from the capacity
	// fallback loop). Data is a StockOut.
	TopicNoStock = "instance/no-stock"
)

// Event types (event.Event.Type).
const (
	EventTypeInterrupting = "Interrupting"
	EventTypeLost         = "Lost"
	EventTypeNoStock      = "NoStock"
)

var eventTopics = []string{TopicInterrupting, TopicLost, TopicNoStock}

// eventQueueSize bounds the events waiting for the server's relay; the
// plugin never blocks on a slow relay, it drops and counts instead.
const eventQueueSize = 256

// eventHub is the plugin's Event SPI side: it implements event.Plugin,
// event.Publisher and event.Validator for infrakit's rpc event server.
// Publishing never blocks the caller.
type eventHub struct {
	now func() time.Time

	mu        sync.Mutex
	queue     chan *event.Event // nil until PublishOn
	stop      chan struct{}
	published map[string]int
	dropped   int
	seq       int
}

func newEventHub(now func() time.Time) *eventHub {
	return &eventHub{now: now, published: map[string]int{}, stop: make(chan struct{})}
}

var (
	_ event.Plugin    = (*eventHub)(nil)
	_ event.Publisher = (*eventHub)(nil)
	_ event.Validator = (*eventHub)(nil)
)

// List implements event.Plugin: "." lists "instance", "instance" lists the topics.
func (h *eventHub) List(topic types.Path) ([]string, error) {
	topic = topic.Clean()
	children := map[string]bool{}
	for _, t := range eventTopics {
		tp := types.PathFromString(t)
		if topic.Len() == 0 || (topic.Len() == 1 && *topic.Index(0) == ".") {
			children[*tp.Index(0)] = true
			continue
		}
		if tp.Len() > topic.Len() && tp[:topic.Len()].Equal(topic) {
			children[*tp.Index(topic.Len())] = true
		}
	}
	out := make([]string, 0, len(children))
	for c := range children {
		out = append(out, c)
	}
	sort.Strings(out)
	return out, nil
}

// Validate implements event.Validator.
func (h *eventHub) Validate(topic types.Path) error {
	s := topic.Clean().String()
	for _, t := range eventTopics {
		if s == t || s == "instance" {
			return nil
		}
	}
	return fmt.Errorf("validate topic %s: not one of %v", s, eventTopics)
}

// PublishOn implements event.Publisher: from now on events go to c, in
// order, through a bounded queue. Calling it again replaces c.
func (h *eventHub) PublishOn(c chan<- *event.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	q := make(chan *event.Event, eventQueueSize)
	old := h.queue
	h.queue = q
	if old != nil {
		close(old)
	}
	go func() {
		for e := range q {
			select {
			case c <- e:
			case <-h.stop:
				return
			}
		}
	}()
}

// close stops the relay goroutine; later publishes are counted and dropped.
func (h *eventHub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	select {
	case <-h.stop:
	default:
		close(h.stop)
	}
	if h.queue != nil {
		close(h.queue)
		h.queue = nil
	}
}

// publish queues an event; with no server attached it is only counted.
func (h *eventHub) publish(topic, typ, message string, data interface{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seq++
	now := h.now()
	e := &event.Event{
		Topic:     types.PathFromString(topic),
		Type:      event.Type(typ),
		ID:        fmt.Sprintf("%s-%d-%d", typ, now.UnixNano(), h.seq),
		Message:   message,
		Timestamp: now,
	}
	if data != nil {
		e.WithDataMust(data)
	}
	h.published[topic]++
	if h.queue == nil {
		return
	}
	select {
	case h.queue <- e:
	default:
		h.dropped++
	}
}

// counts returns how many events were published per topic, and dropped.
func (h *eventHub) counts() (map[string]interface{}, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string]interface{}{}
	for _, t := range eventTopics {
		out[t] = h.published[t]
	}
	return out, h.dropped
}

// EventPlugin returns the plugin's Event SPI (topics instance/interrupting,
// instance/lost, instance/no-stock), for serving beside the Instance SPI.
func (p *Plugin) EventPlugin() event.Plugin { return p.views.events }

// LostInstance is the data of an instance/lost event.
type LostInstance struct {
	InstanceId string
	Group      string `json:",omitempty"`
	LogicalID  string `json:",omitempty"`
	LastSeen   time.Time
	NoticedAt  time.Time
}

// lostTracker remembers the members each group describe returned, to notice
// members that vanished between two describes without Destroy or a
// reclaim notice. It is only a hint: its memory is bounded and a restart
// forgets it.
type lostTracker struct {
	mu        sync.Mutex
	seen      map[string]lostSet   // filter key -> the members its last describe listed
	destroyed map[string]time.Time // ids this plugin destroyed
}

// lostSet is what one describe listed: id -> logical ID, and when. (One
// time for the lot, not one per member: at 10,000 members that is a few
// hundred KB less for as long as the plugin runs.)
type lostSet struct {
	members map[string]string
	at      time.Time
}

const maxLostFilters = 256

func newLostTracker() *lostTracker {
	return &lostTracker{seen: map[string]lostSet{}, destroyed: map[string]time.Time{}}
}

func (l *lostTracker) noteDestroyed(id string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for k, at := range l.destroyed {
		if now.Sub(at) > time.Hour {
			delete(l.destroyed, k)
		}
	}
	l.destroyed[id] = now
}

// noteDestroyedIfListed is noteDestroyed for an ID that ECS no longer
// knows: it is remembered only if a group describe listed it (only such a
// member could be reported lost), so IDs a client makes up cost no memory.
func (l *lostTracker) noteDestroyedIfListed(id string, now time.Time) {
	l.mu.Lock()
	listed := false
	for _, s := range l.seen {
		if _, ok := s.members[id]; ok {
			listed = true
			break
		}
	}
	l.mu.Unlock()
	if listed {
		l.noteDestroyed(id, now)
	}
}

// update records the members (id -> logical ID) of one describe and
// returns those that were listed last time and are gone now, except
// destroyed or excluded ones. It keeps members: the caller must not use
// the map afterwards.
func (l *lostTracker) update(key string, members map[string]string, now time.Time, excluded func(id string) bool) []LostInstance {
	l.mu.Lock()
	defer l.mu.Unlock()
	prev, known := l.seen[key]
	if !known && len(l.seen) >= maxLostFilters {
		return nil // do not grow without bound on arbitrary filters
	}
	l.seen[key] = lostSet{members: members, at: now}
	var lost []LostInstance
	for id, logical := range prev.members {
		if _, still := members[id]; still {
			continue
		}
		if _, ok := l.destroyed[id]; ok || excluded(id) {
			continue
		}
		lost = append(lost, LostInstance{InstanceId: id, LogicalID: logical, LastSeen: prev.at, NoticedAt: now})
	}
	sort.Slice(lost, func(i, j int) bool { return lost[i].InstanceId < lost[j].InstanceId })
	return lost
}
