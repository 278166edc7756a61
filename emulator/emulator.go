package emulator

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"infrakit.aliyun/emulator/internal/state"
)

// Defaults.
const (
	DefaultAccessKeyID     = "emulator"
	DefaultAccessKeySecret = "emulator"
	DefaultRegion          = "cn-hangzhou"
	// APIVersion is the only ECS API version served.
	APIVersion           = "2014-05-26"
	DefaultListen        = "127.0.0.1:0"
	DefaultBootTime      = 30 * time.Second
	DefaultStopTime      = 15 * time.Second
	DefaultPreemptNotice = 5 * time.Minute
	// ImageCreateTime is how long (emulated) a CreateImage stays Creating.
	ImageCreateTime = time.Minute

	// Listener limits (Options.ReadHeaderTimeout and so on). A request is
	// at most 1 MiB, so 30 s to read one is generous even on a slow link.
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = 30 * time.Second
	DefaultIdleTimeout       = 2 * time.Minute
	DefaultMaxConns          = 512
)

// STSCredential is a temporary (STS) credential: requests signed with its
// AccessKeyId must carry SecurityToken (fields: AccessKeySecret,
// SecurityToken, Expiration; a zero Expiration never expires).
type STSCredential = state.Credential

// Options configure a Server. The zero value is usable.
type Options struct {
	Listen      string // default 127.0.0.1:0
	AllowRemote bool   // allow a non-loopback Listen address
	// AccessKeys maps AccessKeyId to AccessKeySecret; nil means
	// {DefaultAccessKeyID: DefaultAccessKeySecret}.
	AccessKeys map[string]string
	// STSKeys maps a temporary AccessKeyId to its secret and SecurityToken.
	STSKeys map[string]STSCredential
	// STSNow is the clock temporary credentials are issued and expire by
	// (default Now); tests age credentials with it without upsetting the
	// request Timestamp check.
	STSNow  func() time.Time
	Catalog *Catalog // nil: DefaultCatalog()
	// BootTime is Pending+Starting (Pending is the first third) and StopTime
	// is Stopping, both in emulated time. Zero means the default; a negative
	// value means instantaneous.
	BootTime, StopTime time.Duration
	// TimeScale is emulated seconds per real second (default 1).
	TimeScale float64
	// Now is the real clock (default time.Now). Timestamps, nonces and rate
	// limits use it directly; the emulated clock is derived from it.
	Now func() time.Time
	// Latency is added (in real time) to every ECS API answer.
	Latency time.Duration
	// StateFile, when set, is loaded at start and rewritten atomically after
	// every change, before the change is answered (see state.Persister).
	StateFile string
	// PreemptNotice is the emulated time between a spot interruption notice
	// and the release (default 5 min).
	PreemptNotice time.Duration
	// Seed seeds IDs and fault injection, for reproducible runs.
	Seed   int64
	Logger *slog.Logger // default: discard

	// Limits of the listener, so slow or idle clients cannot starve it
	// (zero: the Default* value). A connection that has not sent its
	// headers within ReadHeaderTimeout, or its whole request within
	// ReadTimeout, is closed; an idle keep-alive connection is closed after
	// IdleTimeout; at most MaxConns connections are open at once (further
	// ones wait in the kernel's accept queue). There is no write timeout:
	// injected latency (Latency, fault latency_ms) may hold an answer for
	// minutes on purpose.
	ReadHeaderTimeout, ReadTimeout, IdleTimeout time.Duration
	MaxConns                                    int
}

// Server is a running emulator.
type Server struct {
	opts    Options
	log     *slog.Logger
	cat     *catalog
	clock   *clock
	st      *store
	nonces  nonceCache
	sgs     *state.SecGroups  // security groups and their rules
	issued  *state.IssuedKeys // temporary keys from AssumeRole / IssueSTSCredential
	faults  faultState
	stats   statsCounter
	actions map[string]actionFunc
	persist *state.Persister // nil without a state file

	ln      net.Listener
	srv     *http.Server
	handler http.Handler

	// strict re-raises action panics instead of answering InternalError
	// (set by the fuzz test so bugs are not hidden).
	strict bool

	closeOnce sync.Once
	closeErr  error
}

// New validates opts, loads the state file if any, and starts listening.
func New(opts Options) (*Server, error) {
	if opts.Listen == "" {
		opts.Listen = DefaultListen
	}
	if err := checkListen(opts.Listen, opts.AllowRemote); err != nil {
		return nil, err
	}
	s, err := newServer(opts)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		return nil, fmt.Errorf("emulator: listen: %w", err)
	}
	s.ln = ln
	o := s.opts
	s.srv = &http.Server{Handler: s.handler, ReadHeaderTimeout: o.ReadHeaderTimeout, ReadTimeout: o.ReadTimeout,
		IdleTimeout: o.IdleTimeout, MaxHeaderBytes: maxHeaderBytes,
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	go s.srv.Serve(newLimitListener(ln, o.MaxConns))
	s.log.Info("ecs emulator listening", "url", s.URL())
	return s, nil
}

// newServer builds everything but the listener (also used by fuzz tests).
func newServer(opts Options) (*Server, error) {
	if opts.AccessKeys == nil {
		opts.AccessKeys = map[string]string{DefaultAccessKeyID: DefaultAccessKeySecret}
	}
	if opts.Catalog == nil {
		opts.Catalog = DefaultCatalog()
	}
	if opts.BootTime == 0 {
		opts.BootTime = DefaultBootTime
	}
	if opts.StopTime == 0 {
		opts.StopTime = DefaultStopTime
	}
	opts.BootTime, opts.StopTime = max(opts.BootTime, 0), max(opts.StopTime, 0)
	if math.IsNaN(opts.TimeScale) || math.IsInf(opts.TimeScale, 0) {
		return nil, fmt.Errorf("emulator: TimeScale %v: must be a finite number", opts.TimeScale)
	}
	if opts.TimeScale <= 0 {
		opts.TimeScale = 1
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.PreemptNotice <= 0 {
		opts.PreemptNotice = DefaultPreemptNotice
	}
	opts.ReadHeaderTimeout = orDefault(opts.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	opts.ReadTimeout = orDefault(opts.ReadTimeout, DefaultReadTimeout)
	opts.IdleTimeout = orDefault(opts.IdleTimeout, DefaultIdleTimeout)
	if opts.MaxConns <= 0 {
		opts.MaxConns = DefaultMaxConns
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	cat, err := indexCatalog(opts.Catalog)
	if err != nil {
		return nil, err
	}
	s := &Server{opts: opts, log: opts.Logger, cat: cat, clock: state.NewClock(opts.Now, opts.TimeScale)}
	s.st = state.NewStore(cat.prefixes, opts.Seed, opts.BootTime, opts.StopTime)
	s.faults.init(opts.Seed)
	s.stats.init()
	s.actions = actionTable()
	s.sgs = state.NewSecGroups(catalogSecGroups(cat))
	s.issued = &state.IssuedKeys{}
	if opts.StateFile != "" {
		w := &state.World{Clock: s.clock, Store: s.st, SecGroups: s.sgs, Keys: s.issued, KeysNow: s.stsNow}
		s.persist = state.NewPersister(w, opts.StateFile, s.log)
		if err := s.persist.Load(); err != nil {
			return nil, err
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/emulator/", s.serveControl)
	mux.HandleFunc("/", s.serveAPI)
	s.handler = mux
	return s, nil
}

// checkListen refuses a non-loopback address unless allowRemote: the
// emulator accepts any well-signed request for its fixed keys and must not
// be exposed by accident.
func checkListen(addr string, allowRemote bool) error {
	if allowRemote {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("emulator: listen address %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("emulator: refusing non-loopback listen address %q without AllowRemote", addr)
	}
	return nil
}

// URL is the base URL, http://host:port, to give clients as the endpoint.
func (s *Server) URL() string { return "http://" + s.Addr() }

// Addr is the listening host:port.
func (s *Server) Addr() string {
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Handler serves both the ECS API and the /emulator/ control API; use it to
// mount the emulator in an httptest.Server or your own mux.
func (s *Server) Handler() http.Handler { return s.handler }

// Close stops listening, closes connections and flushes the state file.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		var errs []error
		if s.srv != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			if err := s.srv.Shutdown(ctx); err != nil {
				errs = append(errs, err, s.srv.Close())
			}
			cancel()
		}
		if s.persist != nil {
			errs = append(errs, s.persist.Close())
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

func (s *Server) realNow() time.Time { return s.opts.Now() }

// Now is the current emulated time.
func (s *Server) Now() time.Time { return s.clock.Now() }

// commit makes every change applied so far durable before it is answered
// (nothing to do without a state file; see state.Persister).
func (s *Server) commit() error {
	if s.persist == nil {
		return nil
	}
	return s.persist.Commit()
}

// Advance moves emulated time forward by d: instances progress through their
// states and scheduled spot releases happen, without sleeping.
func (s *Server) Advance(d time.Duration) { _ = s.advance(d) } // a failed save is logged

// call is one ECS API request being served.
type call struct {
	action    string
	requestID string
	p         params
	now       time.Time // emulated
	region    string    // RegionId as sent ("" if absent)
	mutated   bool
}

type actionFunc func(s *Server, c *call) (any, *apiError)

// baseResp carries RequestId; every success body embeds it.
type baseResp struct {
	RequestId string
}

func newRequestID() string {
	var b [16]byte
	rand.Read(b[:])
	return strings.ToUpper(fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]))
}

// statusWriter records the status for the request log line.
type statusWriter struct {
	http.ResponseWriter
	status int
	xml    bool // answer in XML (Format=XML, Accept or the RPC default)
}

func (w *statusWriter) WriteHeader(code int) { w.status = code; w.ResponseWriter.WriteHeader(code) }

// serveAPI is the ECS RPC endpoint: decode, authenticate, apply faults,
// dispatch by Action, answer.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	reqID := newRequestID()
	action, dropped := s.handleAPI(sw, r, reqID)
	status := sw.status
	if dropped {
		status = 0
	}
	// One line per request; never parameters (they hold Signature,
	// SecurityToken and UserData).
	s.log.Info("request", "action", action, "status", status, "dropped", dropped,
		"duration", time.Since(start).Round(time.Microsecond), "method", r.Method, "request_id", reqID)
}

// handleAPI answers one API request and returns its action ("" when the
// request is refused before one is known) and whether the connection was
// dropped as an injected fault.
func (s *Server) handleAPI(w http.ResponseWriter, r *http.Request, reqID string) (action string, dropped bool) {
	req, aerr := s.readRequest(w, r)
	if aerr != nil {
		s.writeError(w, reqID, aerr)
		return "", false
	}
	action = req.action
	s.stats.call(action)
	if !req.acs3 && req.p["Version"] == STSAPIVersion {
		s.serveSTS(w, r.Method, req.p, reqID) // sts.go
		return action, false
	}
	if req.acs3 {
		aerr = s.authenticateACS3(r, req.body, req.p)
	} else {
		aerr = s.authenticate(r.Method, req.p)
	}
	if aerr != nil {
		s.writeError(w, reqID, aerr)
		return action, false
	}
	fn, ok := s.actions[action]
	if !ok {
		s.writeError(w, reqID, newErr(http.StatusNotFound, "InvalidAction.NotFound",
			"Specified api %q is not found, please check your url and method.", action))
		return action, false
	}
	d := s.faults.decide(action, s.realNow())
	if !s.delay(r, s.opts.Latency+d.latency) {
		return action, false
	}
	if d.err != nil {
		s.countFault(d.err)
		s.writeError(w, reqID, d.err)
		return action, false
	}
	c := &call{action: action, requestID: reqID, p: req.p, now: s.clock.Now(), region: req.p["RegionId"]}
	if c.region != "" && s.cat.regions[c.region] == nil {
		s.writeError(w, reqID, errRegionNotFound(c.region))
		return action, false
	}
	resp, aerr := s.execute(fn, c)
	if d.drop {
		s.stats.fault("dropped")
		dropConnection(w)
		return action, true
	}
	if aerr != nil {
		s.writeError(w, reqID, aerr)
		return action, false
	}
	s.writeResult(w, action, resp)
	return action, false
}

// apiRequest is a decoded API request: RPC style (signed parameters,
// Action among them) or ACS3 (signed raw body, action in a header).
type apiRequest struct {
	acs3   bool
	body   []byte // the raw body, kept for ACS3's signature
	p      params
	action string
}

// readRequest checks the method, decodes the parameters and finds the
// action; on the way it sets w's answer format, so that the errors it
// returns are already written in the format asked for.
func (s *Server) readRequest(w http.ResponseWriter, r *http.Request) (*apiRequest, *apiError) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		return nil, newErr(http.StatusMethodNotAllowed, "UnsupportedHTTPMethod", "Only GET and POST are supported.")
	}
	sw, _ := w.(*statusWriter)
	if sw != nil {
		sw.xml = wantsXML(r.URL.Query().Get("Format"), r.Header.Get("Accept"))
	}
	// ACS3 (the current SDKs' default) signs the raw body: keep it.
	req := &apiRequest{acs3: isACS3(r)}
	if req.acs3 {
		var aerr *apiError
		if req.body, aerr = readACS3Body(r); aerr != nil {
			return nil, aerr
		}
	}
	p, aerr := decodeParams(r)
	if aerr != nil {
		return nil, aerr
	}
	req.p = p
	if sw != nil {
		sw.xml = wantsXML(p["Format"], r.Header.Get("Accept"))
	}
	if req.acs3 {
		if req.action = r.Header.Get("x-acs-action"); req.action == "" {
			return nil, errMissing("x-acs-action")
		}
	} else if req.action = p["Action"]; req.action == "" {
		return nil, errMissing("Action")
	}
	return req, nil
}

// delay waits lat (the configured plus any injected latency); false if the
// client went away meanwhile.
func (s *Server) delay(r *http.Request, lat time.Duration) bool {
	if lat <= 0 {
		return true
	}
	t := time.NewTimer(lat)
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		t.Stop()
		return false
	}
}

// countFault counts an injected error by kind.
func (s *Server) countFault(e *apiError) {
	switch e.Code {
	case "Throttling":
		s.stats.fault("rate_limited")
	case "Throttling.User":
		s.stats.fault("throttled")
	case "OperationConflict":
		s.stats.fault("conflicts")
	default:
		s.stats.fault("errors")
	}
}

// execute runs the action and saves what it changed.
func (s *Server) execute(fn actionFunc, c *call) (any, *apiError) {
	resp, aerr := s.invoke(fn, c)
	// Write before answering: a change is on disk before the client hears of
	// it. If the save fails the change stays in memory (the next save keeps
	// it) and the client gets InternalError, an unknown outcome it can retry
	// with its ClientToken. After a failed save any answer, an error such
	// as the NotFound of a retried delete included, may show a change that
	// is only in memory: it is saved first too.
	unsaved := s.persist != nil && s.persist.Failed()
	if c.mutated || unsaved {
		if err := s.commit(); err != nil && (aerr == nil || unsaved) {
			resp, aerr = nil, errInternal()
		}
	}
	return resp, aerr
}

// invoke runs an action, turning a panic into InternalError: a bug in one
// action must not take the emulator (and the test run) down.
func (s *Server) invoke(fn actionFunc, c *call) (resp any, aerr *apiError) {
	defer func() {
		if v := recover(); v != nil {
			if s.strict {
				panic(v)
			}
			s.log.Error("action panicked", "action", c.action, "panic", fmt.Sprint(v))
			resp, aerr = nil, errInternal()
		}
	}()
	return fn(s, c)
}

// dropConnection closes the connection without an answer, as a lost
// response looks to a client.
func dropConnection(w http.ResponseWriter) {
	if sw, ok := w.(*statusWriter); ok {
		w = sw.ResponseWriter
	}
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			conn.Close()
			return
		}
	}
	// Not hijackable (HTTP/2, httptest.ResponseRecorder): abort the handler,
	// which net/http turns into a reset stream / closed connection.
	panic(http.ErrAbortHandler)
}

// writeError is the one place ECS API errors are written, in the request's
// format and with the diagnosis link real ECS adds.
func (s *Server) writeError(w http.ResponseWriter, reqID string, e *apiError) {
	body := errorBody{RequestId: reqID, HostId: hostID, Code: e.Code, Message: e.Message, Recommend: recommend(e.Code, reqID)}
	if isXML(w) {
		s.writeXML(w, e.Status, "Error", body)
		return
	}
	s.writeJSON(w, e.Status, body)
}

func (s *Server) writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"Code":"InternalError","Message":"marshal failed"}`)
	}
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(status)
	w.Write(b)
}
