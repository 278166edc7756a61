package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/Sirupsen/logrus"
	"github.com/spf13/pflag"

	ecsplugin "infrakit.aliyun/plugin/instance"
)

// InterruptionEventName is the CloudMonitor system event of a spot reclaim.
const InterruptionEventName = "Instance:PreemptibleInstanceInterruption"

// maxEventBody bounds a pushed event; CloudMonitor events are a few hundred bytes.
const maxEventBody = 64 << 10

// spotOptions are the daemon's spot interruption flags.
type spotOptions struct {
	watchInterval time.Duration
	eventsListen  string
	allowRemote   bool
	limits        Limits // zero fields: DefaultEventsLimits
}

func addSpotFlags(f *pflag.FlagSet, o *spotOptions) {
	f.DurationVar(&o.watchInterval, "spot-watch-interval", ecsplugin.DefaultSpotWatchInterval,
		"how often the namespace's spot instances are checked for a reclaim notice (Recycling), 0 to disable")
	f.StringVar(&o.eventsListen, "events-listen", "",
		"host:port to accept CloudMonitor "+InterruptionEventName+" events on (HTTP POST), e.g. 127.0.0.1:8087; empty disables")
	f.BoolVar(&o.allowRemote, "events-allow-remote", false, "allow --events-listen on a non-loopback address")
}

// interruptMarker is what the listener needs from the plugin. A push is
// only a hint (see plugin/instance/push.go): MarkInterrupting answers what
// it did with it (instance.PushChecking, PushUnknown, ...), and nothing is
// hidden or kept before ECS shows the Recycling lock.
type interruptMarker interface {
	MarkInterrupting(id, source string) (string, error)
}

type watcher interface{ StartWatcher(interval time.Duration) }

// startSpot starts the plugin's spot watcher and the optional events
// listener; the returned function stops the listener (the plugin's Close
// stops the watcher).
func startSpot(o spotOptions, p interface{}, log *logrus.Logger) (func(), error) {
	if o.watchInterval < 0 {
		return nil, errors.New("--spot-watch-interval must be 0 (off) or a positive duration")
	}
	if w, ok := p.(watcher); ok && o.watchInterval > 0 {
		w.StartWatcher(o.watchInterval)
	}
	if o.eventsListen == "" {
		return func() {}, nil
	}
	m, ok := p.(interruptMarker)
	if !ok {
		return nil, errors.New("--events-listen: this plugin cannot take interruption events")
	}
	l, err := ListenEvents(o.eventsListen, o.allowRemote)
	if err != nil {
		return nil, err
	}
	stop := serveEvents(l, NewEventsHandler(m, log), o.limits, log)
	log.WithField("address", l.Addr().String()).Info("Accepting CloudMonitor interruption events")
	return stop, nil
}

// serveEvents serves h on l with read, header and idle timeouts and a
// connection cap (limits.go; zero fields take DefaultEventsLimits), so a
// half-sent body cannot hold a descriptor for long, nor can a thousand of
// them starve the process. It returns a function that stops serving.
func serveEvents(l net.Listener, h http.Handler, limits Limits, log *logrus.Logger) func() {
	limits = limits.withDefaults(DefaultEventsLimits())
	srv := limits.server(h, log)
	go func() { _ = srv.Serve(limits.listener(l, "events listener")) }()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}
}

// ListenEvents listens on addr for pushed events. A non-loopback address
// (or an empty host, meaning every interface) is refused unless
// allowRemote: the endpoint has no authentication of its own.
//
// No shared secret or signature is checked, on purpose: CloudMonitor's
// webhook push channel and URL callback sign nothing and send no
// configurable secret header (its documentation offers only source CIDR
// blocks to allow), so a secret could only ride in the URL, where proxies
// and access logs keep it. What makes a forged push harmless is the
// plugin: a push only asks for a budgeted, coalesced ECS look-up of a
// spot instance it already knows, and nothing happens unless ECS itself
// shows the reclaim.
func ListenEvents(addr string, allowRemote bool) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("--events-listen %q: %w", addr, err)
	}
	if !allowRemote && !isLoopback(host) {
		return nil, fmt.Errorf("--events-listen %q is not a loopback address; put a proxy in front or pass --events-allow-remote", addr)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen for events on %s: %w", addr, err)
	}
	return l, nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// cloudMonitorEvent is the part of a CloudMonitor system event we read.
// content is an object in pushed events, and a JSON string in some
// forwarding setups; both are accepted.
type cloudMonitorEvent struct {
	Product string          `json:"product"`
	Name    string          `json:"name"`
	Content json.RawMessage `json:"content"`
}

type interruptionContent struct {
	InstanceID string `json:"instanceId"`
	Action     string `json:"action"`
}

// NewEventsHandler accepts CloudMonitor Instance:PreemptibleInstanceInterruption
// events by POST on any path and hands the instance ID to the plugin as a
// hint. Answers: 202 with the plugin's "status" (checking, coalesced,
// already-noticed, over-budget) when taken; 200 with "ignored" for another
// event or an instance the plugin does not know as one of its spot
// instances; 400 for a body that is not such an event (naming the
// problem); 405, 413 as usual. Every 2xx tells CloudMonitor not to retry.
func NewEventsHandler(m interruptMarker, log *logrus.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			replyJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "POST a CloudMonitor event"})
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxEventBody))
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				replyJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": fmt.Sprintf("event body over %d bytes", maxEventBody)})
				return
			}
			replyJSON(w, http.StatusBadRequest, map[string]string{"error": "read event body: " + err.Error()})
			return
		}
		var ev cloudMonitorEvent
		if err := json.Unmarshal(body, &ev); err != nil {
			replyJSON(w, http.StatusBadRequest, map[string]string{"error": "event is not valid JSON: " + err.Error()})
			return
		}
		if ev.Name != InterruptionEventName {
			log.WithField("event", ev.Name).Debug("Ignored a CloudMonitor event")
			replyJSON(w, http.StatusOK, map[string]string{"ignored": fmt.Sprintf("event %q is not %s", ev.Name, InterruptionEventName)})
			return
		}
		if ev.Product != "" && !strings.EqualFold(ev.Product, "ECS") {
			replyJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("product %q, want ECS", ev.Product)})
			return
		}
		var c interruptionContent
		raw := ev.Content
		var s string
		if json.Unmarshal(raw, &s) == nil {
			raw = json.RawMessage(s)
		}
		if err := json.Unmarshal(raw, &c); err != nil || strings.TrimSpace(c.InstanceID) == "" {
			replyJSON(w, http.StatusBadRequest, map[string]string{"error": "event content has no instanceId"})
			return
		}
		status, err := m.MarkInterrupting(c.InstanceID, "cloudmonitor")
		if err != nil {
			replyJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		fields := logrus.Fields{"instance": c.InstanceID, "action": c.Action, "status": status}
		if status == ecsplugin.PushUnknown {
			// Debug: anyone can send these; an info line each would let
			// them fill the log.
			log.WithFields(fields).Debug("CloudMonitor: interruption push for an instance that is not a known spot instance; ignored")
			replyJSON(w, http.StatusOK, map[string]string{"instanceId": c.InstanceID,
				"ignored": "not a spot instance of this plugin's namespace seen by a recent describe"})
			return
		}
		log.WithFields(fields).Debug("CloudMonitor: spot instance interruption push")
		replyJSON(w, http.StatusAccepted, map[string]string{"instanceId": c.InstanceID, "status": status})
	})
}

func replyJSON(w http.ResponseWriter, status int, v interface{}) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
