package rpcserver

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Sirupsen/logrus"
	broker "github.com/docker/infrakit/pkg/broker/server"
	rpcbase "github.com/docker/infrakit/pkg/rpc"
	rpcevent "github.com/docker/infrakit/pkg/rpc/event"
	rpcmetadata "github.com/docker/infrakit/pkg/rpc/metadata"
	"github.com/docker/infrakit/pkg/spi"
	"github.com/docker/infrakit/pkg/spi/event"
	"github.com/docker/infrakit/pkg/spi/metadata"
	"github.com/gorilla/rpc/v2"
)

// Optional SPIs a plugin may offer beside Instance; the ECS plugin has both.
type (
	eventSource    interface{ EventPlugin() event.Plugin }
	metadataSource interface{ MetadataPlugin() metadata.Plugin }
)

// registerExtraSPIs serves the plugin's Event and Metadata SPIs on the same
// JSON-RPC server as Instance (infrakit's own rpc/event and rpc/metadata
// services) and adds them to the handshake objects. Events flow through
// infrakit's broker, returned for mounting at /events (rpc.URLEventsPrefix),
// where infrakit's event client subscribes. It returns nil streams when the
// plugin has no events.
func registerExtraSPIs(server *rpc.Server, p interface{}, objects map[spi.InterfaceSpec]func() []rpcbase.Object, log *logrus.Logger) (*eventStreams, error) {
	if m, ok := p.(metadataSource); ok {
		svc := rpcmetadata.Server(m.MetadataPlugin())
		if err := server.RegisterService(svc, ""); err != nil {
			return nil, err
		}
		objects[svc.ImplementedInterface()] = svc.Objects
	}
	es, ok := p.(eventSource)
	if !ok {
		return nil, nil
	}
	svc := rpcevent.PluginServer(es.EventPlugin())
	if err := server.RegisterService(svc, ""); err != nil {
		return nil, err
	}
	objects[svc.ImplementedInterface()] = svc.Objects
	s := &eventStreams{broker: broker.NewBroker(), active: map[*streamWriter]string{}, stop: make(chan struct{}), log: log}
	ch := make(chan *event.Event)
	svc.PublishOn(ch)
	go s.relay(ch)
	return s, nil
}

// eventStreams serves event subscriptions with infrakit's broker and makes
// them end on shutdown. The broker's handler waits for the next message
// before it looks at its CloseNotify channel, and http.Server.Shutdown waits
// for handlers, so without help one idle subscriber would hold the daemon's
// shutdown for the whole timeout.
type eventStreams struct {
	broker *broker.Broker
	log    *logrus.Logger
	stop   chan struct{}

	mu     sync.Mutex
	active map[*streamWriter]string // subscriber -> broker topic
	closed bool
}

func (s *eventStreams) relay(ch <-chan *event.Event) {
	for {
		select {
		case <-s.stop:
			return
		case e := <-ch:
			if e.Timestamp.IsZero() {
				e.Now()
			}
			if err := s.broker.Publish(e.Topic.String(), e, time.Second); err != nil {
				s.log.WithError(err).WithField("topic", e.Topic.String()).Warn("Dropped an event")
			}
		}
	}
}

// brokerTopic is the topic key the broker files a subscription under.
func brokerTopic(q url.Values) string {
	t := q.Get("topic")
	if t == "" || t == "." {
		return "/"
	}
	if !strings.HasPrefix(t, "/") {
		t = "/" + t
	}
	return t
}

func (s *eventStreams) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		http.Error(w, "plugin is stopping", http.StatusServiceUnavailable)
		return
	}
	sw := &streamWriter{ResponseWriter: w, gone: make(chan bool, 1)}
	s.active[sw] = brokerTopic(r.URL.Query())
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.active, sw)
		s.mu.Unlock()
	}()
	go func() {
		<-r.Context().Done()
		sw.leave()
	}()
	s.broker.ServeHTTP(sw, r)
}

// subscribers is the number of subscriptions the broker has registered.
func (s *eventStreams) subscribers() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for sw := range s.active {
		if sw.registered.Load() {
			n++
		}
	}
	return n
}

// close ends every subscription: each is told its client is gone, then its
// topic gets one "closing" event so the broker's handler wakes up, sees
// that and returns.
func (s *eventStreams) close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	topics := map[string]bool{}
	for sw, t := range s.active {
		sw.leave()
		topics[t] = true
	}
	s.mu.Unlock()
	for t := range topics {
		e := event.Event{Type: "closing", Message: "the plugin is stopping"}.Init().WithTopic(strings.TrimPrefix(t, "/"))
		_ = s.broker.Publish(t, e, time.Second)
	}
	close(s.stop)
}

// streamWriter is the broker's ResponseWriter with a CloseNotify the
// daemon controls.
type streamWriter struct {
	http.ResponseWriter
	gone       chan bool
	once       sync.Once
	registered atomic.Bool
}

func (w *streamWriter) leave() { w.once.Do(func() { w.gone <- true; close(w.gone) }) }

// CloseNotify implements http.CloseNotifier, which the broker requires. The
// broker asks for it right after registering the subscription, so this is
// where the response headers go out: the subscriber sees the stream open
// before any event arrives.
func (w *streamWriter) CloseNotify() <-chan bool {
	w.registered.Store(true)
	w.Flush()
	return w.gone
}

// Flush implements http.Flusher, which the broker requires.
func (w *streamWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Handler is the plugin's HTTP handler (see NewHandler).
type Handler struct {
	http.Handler
	streams *eventStreams
}

// CloseStreams ends the event subscriptions, so a graceful shutdown does
// not wait for idle subscribers; new ones are refused.
func (h *Handler) CloseStreams() {
	if h.streams != nil {
		h.streams.close()
	}
}

// Subscribers is the number of event subscriptions registered.
func (h *Handler) Subscribers() int {
	if h.streams == nil {
		return 0
	}
	return h.streams.subscribers()
}
