package rpcserver

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/Sirupsen/logrus"
	rpcbase "github.com/docker/infrakit/pkg/rpc"
	rpcinstance "github.com/docker/infrakit/pkg/rpc/instance"
	rpcserver "github.com/docker/infrakit/pkg/rpc/server"
	"github.com/docker/infrakit/pkg/spi"
	"github.com/docker/infrakit/pkg/spi/instance"
	"github.com/docker/infrakit/pkg/types"
	"github.com/gorilla/rpc/v2"

	"infrakit.aliyun/internal/redact"
)

type callInfoKey struct{}

type callInfo struct {
	start  time.Time
	method string
	err    error
	done   bool
}

// NewHandler returns the HTTP handler of the plugin: JSON-RPC 2.0 on POST /
// (Instance.*; Handshake.Hello, .Implements and .Types; Plugin.Implements),
// GET /info/api.json and GET /info/functions.json. Error messages sent back
// to callers are scrubbed of URL query strings, credential-like parameters
// and the given secret values.
func NewHandler(p instance.Plugin, log *logrus.Logger, secrets ...string) (*Handler, error) {
	return newHandler(p, log, nil, secrets)
}

// CallObserver is told of each dispatched JSON-RPC call: its method (one
// the server registered, e.g. "Instance.Provision"), the error it answered
// (nil for success) and how long it took. Requests rejected before
// dispatch (unknown method, bad params, batches) are not calls: their
// method names are the client's and unbounded. It must not block.
type CallObserver func(method string, err error, d time.Duration)

func newHandler(p instance.Plugin, log *logrus.Logger, observe CallObserver, secrets []string) (*Handler, error) {
	if p == nil {
		return nil, errors.New("no plugin")
	}
	if log == nil {
		log = discardLogger()
	}

	server := rpc.NewServer()
	server.RegisterCodec(newParamsCodec(), "application/json")

	inst := rpcinstance.PluginServer(scrubbed{p: p, secrets: secrets})
	if err := server.RegisterService(inst, ""); err != nil {
		return nil, err
	}
	objects := map[spi.InterfaceSpec]func() []rpcbase.Object{inst.ImplementedInterface(): inst.Objects}
	streams, err := registerExtraSPIs(server, p, objects, log) // spis.go: Event and Metadata, when p has them
	if err != nil {
		return nil, err
	}
	hs := newHandshake(objects) // handshake.go
	if err := server.RegisterService(hs, "Handshake"); err != nil {
		return nil, err
	}
	if err := server.RegisterService(&PluginImplements{h: hs}, "Plugin"); err != nil {
		return nil, err
	}

	// Clients before master (v0.3.0 to v0.5) send Destroy without a
	// Context: it means terminate, the only destroy they knew.
	server.RegisterValidateRequestFunc(func(_ *rpc.RequestInfo, args interface{}) error {
		if d, ok := args.(*rpcinstance.DestroyRequest); ok && d.Context.Reason == "" {
			d.Context = instance.Termination
		}
		return nil
	})
	server.RegisterInterceptFunc(func(i *rpc.RequestInfo) *http.Request {
		if ci, ok := i.Request.Context().Value(callInfoKey{}).(*callInfo); ok {
			ci.method = i.Method
		}
		return nil
	})
	server.RegisterAfterFunc(func(i *rpc.RequestInfo) {
		if ci, ok := i.Request.Context().Value(callInfoKey{}).(*callInfo); ok {
			ci.method, ci.err, ci.done = i.Method, i.Error, true
		}
	})

	info, err := rpcserver.NewPluginInfo(inst)
	if err != nil {
		return nil, err
	}

	mux := http.NewServeMux()
	mux.HandleFunc(rpcbase.URLAPI, info.ShowAPI)
	mux.HandleFunc(rpcbase.URLFunctions, info.ShowTemplateFunctions)
	if streams != nil {
		mux.Handle(rpcbase.URLEventsPrefix, streams)
	}
	mux.Handle("/", logCalls(server, log, observe))
	return &Handler{Handler: mux, streams: streams}, nil
}

// logCalls logs each RPC's method, duration and outcome, never its
// payload, and tells observe (if set) of each dispatched call.
func logCalls(next http.Handler, log *logrus.Logger, observe CallObserver) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ci := &callInfo{start: time.Now()}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), callInfoKey{}, ci)))
		if observe != nil && ci.done {
			observe(ci.method, ci.err, time.Since(ci.start))
		}
		if ci.err == nil && log.Level < logrus.DebugLevel {
			return // what follows is a debug line: skip building it on every call
		}
		if !ci.done {
			log.WithFields(logrus.Fields{"method": ci.method, "http_method": r.Method}).Debug("Rejected RPC request")
			return
		}
		e := log.WithFields(logrus.Fields{"method": ci.method, "duration": time.Since(ci.start).String()})
		if ci.err != nil {
			e.WithError(ci.err).Warn("RPC call failed")
			return
		}
		e.Debug("RPC call")
	})
}

// scrubbed wraps the plugin so errors sent back over RPC (and so into the
// caller's logs) carry no signed URLs or credential-like parameters: an
// aliyungo transport error embeds the full signed request URL.
type scrubbed struct {
	p       instance.Plugin
	secrets []string
}

func (s scrubbed) Validate(req *types.Any) error { return s.scrub(s.p.Validate(req)) }

// Provision never answers a null ID without an error: the client takes
// that as success, and the group plugins of v0.4.1 and v0.5 then
// dereference the ID to log it and crash.
func (s scrubbed) Provision(spec instance.Spec) (*instance.ID, error) {
	id, err := s.p.Provision(spec)
	if err == nil && (id == nil || *id == "") {
		return nil, errNoInstanceID
	}
	return id, s.scrub(err)
}

var errNoInstanceID = errors.New("provision instance: the plugin returned no instance ID and no error")

func (s scrubbed) Label(id instance.ID, labels map[string]string) error {
	return s.scrub(s.p.Label(id, labels))
}

func (s scrubbed) Destroy(id instance.ID, ctx instance.Context) error {
	return s.scrub(s.p.Destroy(id, ctx))
}

func (s scrubbed) DescribeInstances(tags map[string]string, properties bool) ([]instance.Description, error) {
	d, err := s.p.DescribeInstances(tags, properties)
	return d, s.scrub(err)
}

// VendorInfo forwards the wrapped plugin's vendor info, if any.
func (s scrubbed) VendorInfo() *spi.VendorInfo {
	if v, ok := s.p.(spi.Vendor); ok {
		return v.VendorInfo()
	}
	return nil
}

// ExampleProperties forwards the wrapped plugin's example, if any.
func (s scrubbed) ExampleProperties() *types.Any {
	if v, ok := s.p.(spi.InputExample); ok {
		return v.ExampleProperties()
	}
	return nil
}

// scrub removes secrets from an error before it is sent back; the result
// deliberately does not unwrap to the original.
func (s scrubbed) scrub(err error) error { return redact.Error(err, s.secrets...) }
