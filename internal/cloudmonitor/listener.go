// Package cloudmonitor is the HTTP listener for CloudMonitor's
// Instance:PreemptibleInstanceInterruption events (--events-listen): it
// takes pushed events by POST, with tight limits on every client, and hands
// the instance ID to the plugin as a hint through the small Marker
// interface. It knows nothing of ECS beyond the event's shape.
package cloudmonitor

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

	"infrakit.aliyun/internal/httplimit"
)

// InterruptionEventName is the CloudMonitor system event of a spot reclaim.
const InterruptionEventName = "Instance:PreemptibleInstanceInterruption"

// MaxBody bounds a pushed event; CloudMonitor events are a few hundred bytes.
const MaxBody = 64 << 10

// Unknown is the status a Marker answers for an instance it does not know
// as one of its spot instances (plugin/instance.PushUnknown): such a push
// is answered 200 "ignored" and logged at debug level only.
const Unknown = "unknown"

// Marker is what the listener needs from the plugin. A push is only a
// hint: MarkInterrupting answers what it did with it ("checking",
// "coalesced", Unknown, ...), and nothing is hidden or kept before ECS
// shows the Recycling lock.
type Marker interface {
	MarkInterrupting(id, source string) (string, error)
}

// DefaultLimits are the listener's: events are a few hundred bytes, so a
// client gets 5 s to send one and 10 s until it has taken the answer, and
// 64 connections at most, one over that answered 503 at once.
func DefaultLimits() httplimit.Limits {
	return httplimit.Limits{ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 5 * time.Second, IdleTimeout: 30 * time.Second,
		WriteTimeout: 10 * time.Second, MaxHeaderBytes: 16 << 10, MaxConns: 64}
}

// Results of a request, as told to an Observe function besides the
// Marker's own answers (PushChecking and the others of plugin/instance,
// Unknown).
const (
	// ResultIgnored: a CloudMonitor event other than InterruptionEventName.
	ResultIgnored = "ignored"
	// ResultInvalid: not a POSTed interruption event with an instance ID
	// (405, 413, 400), or one the Marker refused.
	ResultInvalid = "invalid"
)

// Option configures NewHandler and Start.
type Option func(*handlerOptions)

type handlerOptions struct{ observe func(result string) }

// Observe has f told what became of each request: the Marker's answer
// (e.g. "checking", Unknown), ResultIgnored or ResultInvalid. The
// daemon counts them (metrics.SpotPush). f must not block.
func Observe(f func(result string)) Option {
	return func(o *handlerOptions) { o.observe = f }
}

// Start listens on addr (see Listen) and serves NewHandler(m, log, opts...)
// there with limits (zero fields take DefaultLimits). It returns the
// listener's address and a function that stops serving.
func Start(addr string, allowRemote bool, m Marker, limits httplimit.Limits, log *logrus.Logger, opts ...Option) (net.Addr, func(), error) {
	l, err := Listen(addr, allowRemote)
	if err != nil {
		return nil, nil, err
	}
	return l.Addr(), Serve(l, NewHandler(m, log, opts...), limits, log), nil
}

// Serve serves h on l with read, header and idle timeouts and a
// connection cap (zero fields take DefaultLimits), so a
// half-sent body cannot hold a descriptor for long, nor can a thousand of
// them starve the process. It returns a function that stops serving.
func Serve(l net.Listener, h http.Handler, limits httplimit.Limits, log *logrus.Logger) func() {
	limits = limits.WithDefaults(DefaultLimits())
	srv := limits.Server(h, log)
	go func() { _ = srv.Serve(limits.Listener(l, "events listener")) }()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}
}

// Listen listens on addr for pushed events. A non-loopback address
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
func Listen(addr string, allowRemote bool) (net.Listener, error) {
	return httplimit.ListenLocal(addr, allowRemote, "--events-listen", "--events-allow-remote")
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

// NewHandler accepts CloudMonitor Instance:PreemptibleInstanceInterruption
// events by POST on any path and hands the instance ID to the plugin as a
// hint. Answers: 202 with the plugin's "status" (checking, coalesced,
// already-noticed, over-budget) when taken; 200 with "ignored" for another
// event or an instance the plugin does not know as one of its spot
// instances; 400 for a body that is not such an event (naming the
// problem); 405, 413 as usual. Every 2xx tells CloudMonitor not to retry.
func NewHandler(m Marker, log *logrus.Logger, opts ...Option) http.Handler {
	var o handlerOptions
	for _, opt := range opts {
		opt(&o)
	}
	h := handle(m, log)
	if o.observe == nil {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h(w, r) })
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { o.observe(h(w, r)) })
}

// handle serves one request and returns its result for Observe.
func handle(m Marker, log *logrus.Logger) func(w http.ResponseWriter, r *http.Request) string {
	return func(w http.ResponseWriter, r *http.Request) string {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			replyJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "POST a CloudMonitor event"})
			return ResultInvalid
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				replyJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": fmt.Sprintf("event body over %d bytes", MaxBody)})
				return ResultInvalid
			}
			replyJSON(w, http.StatusBadRequest, map[string]string{"error": "read event body: " + err.Error()})
			return ResultInvalid
		}
		var ev cloudMonitorEvent
		if err := json.Unmarshal(body, &ev); err != nil {
			replyJSON(w, http.StatusBadRequest, map[string]string{"error": "event is not valid JSON: " + err.Error()})
			return ResultInvalid
		}
		if ev.Name != InterruptionEventName {
			log.WithField("event", ev.Name).Debug("Ignored a CloudMonitor event")
			replyJSON(w, http.StatusOK, map[string]string{"ignored": fmt.Sprintf("event %q is not %s", ev.Name, InterruptionEventName)})
			return ResultIgnored
		}
		if ev.Product != "" && !strings.EqualFold(ev.Product, "ECS") {
			replyJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("product %q, want ECS", ev.Product)})
			return ResultInvalid
		}
		var c interruptionContent
		raw := ev.Content
		var s string
		if json.Unmarshal(raw, &s) == nil {
			raw = json.RawMessage(s)
		}
		if err := json.Unmarshal(raw, &c); err != nil || strings.TrimSpace(c.InstanceID) == "" {
			replyJSON(w, http.StatusBadRequest, map[string]string{"error": "event content has no instanceId"})
			return ResultInvalid
		}
		status, err := m.MarkInterrupting(c.InstanceID, "cloudmonitor")
		if err != nil {
			replyJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return ResultInvalid
		}
		fields := logrus.Fields{"instance": c.InstanceID, "action": c.Action, "status": status}
		if status == Unknown {
			// Debug: anyone can send these; an info line each would let
			// them fill the log.
			log.WithFields(fields).Debug("CloudMonitor: interruption push for an instance that is not a known spot instance; ignored")
			replyJSON(w, http.StatusOK, map[string]string{"instanceId": c.InstanceID,
				"ignored": "not a spot instance of this plugin's namespace seen by a recent describe"})
			return status
		}
		log.WithFields(fields).Debug("CloudMonitor: spot instance interruption push")
		replyJSON(w, http.StatusAccepted, map[string]string{"instanceId": c.InstanceID, "status": status})
		return status
	}
}

func replyJSON(w http.ResponseWriter, status int, v interface{}) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
