package emulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// MetadataOptions configure a MetadataServer.
type MetadataOptions struct {
	// Region is served at /latest/meta-data/region-id ("" = DefaultRegion).
	Region string
	// RoleName is the instance RAM role; "" means no role is attached
	// (ram/security-credentials/ answers 404, as on a real instance).
	RoleName string
	// Issuer mints the role's credentials; required when RoleName is set.
	// The credentials are accepted by that emulator's ECS API.
	Issuer *Server
	// TTL is the lifetime of each credential (default 1h). A fetch returns
	// the current credential until less than half its TTL is left, then a
	// new one (the old one stays valid until it expires).
	TTL time.Duration
	// RequireToken makes the server refuse GETs without an IMDSv2 session
	// token (X-aliyun-ecs-metadata-token, from PUT /latest/api/token).
	RequireToken bool
	// Listen defaults to 127.0.0.1:0.
	Listen string
}

// MetadataServer fakes the ECS instance metadata service
// (http://100.100.100.200) for the region and the instance RAM role. Point
// clients at it with METADATA_ENDPOINT=URL().
type MetadataServer struct {
	opts MetadataOptions
	ln   net.Listener
	srv  *http.Server

	mu       sync.Mutex
	fetches  int
	curID    string
	cur      STSCredential
	token    string
	disabled bool
}

const metadataTokenHeader = "X-aliyun-ecs-metadata-token"

// NewMetadataServer starts a metadata fake on a loopback port.
func NewMetadataServer(opts MetadataOptions) (*MetadataServer, error) {
	if opts.Region == "" {
		opts.Region = DefaultRegion
	}
	if opts.TTL <= 0 {
		opts.TTL = time.Hour
	}
	if opts.RoleName != "" && opts.Issuer == nil {
		return nil, errors.New("emulator: MetadataOptions.Issuer is required with a RoleName")
	}
	if opts.Listen == "" {
		opts.Listen = DefaultListen
	}
	if err := checkListen(opts.Listen, false); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", opts.Listen)
	if err != nil {
		return nil, fmt.Errorf("emulator: metadata listen: %w", err)
	}
	m := &MetadataServer{opts: opts, ln: ln, token: randomText(16)}
	m.srv = &http.Server{Handler: m, ReadHeaderTimeout: 10 * time.Second}
	go m.srv.Serve(ln)
	return m, nil
}

// URL is http://host:port, the value for METADATA_ENDPOINT.
func (m *MetadataServer) URL() string { return "http://" + m.ln.Addr().String() }

// Close stops the server.
func (m *MetadataServer) Close() error { return m.srv.Close() }

// CredentialFetches counts GETs of the role's credentials.
func (m *MetadataServer) CredentialFetches() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.fetches
}

// SetUnavailable makes every request fail with 500 (true) or restores the
// service (false), to test refresh failures.
func (m *MetadataServer) SetUnavailable(v bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.disabled = v
}

// ServeHTTP implements http.Handler.
func (m *MetadataServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.disabled {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if r.URL.Path == "/latest/api/token" {
		if r.Method != http.MethodPut {
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Write([]byte(m.token))
		return
	}
	if r.Method != http.MethodGet {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if m.opts.RequireToken && r.Header.Get(metadataTokenHeader) != m.token {
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	const base = "/latest/meta-data/"
	if !strings.HasPrefix(r.URL.Path, base) {
		http.NotFound(w, r)
		return
	}
	switch rest := strings.TrimPrefix(r.URL.Path, base); {
	case rest == "region-id":
		w.Write([]byte(m.opts.Region))
	case rest == "ram/security-credentials/" || rest == "ram/security-credentials":
		if m.opts.RoleName == "" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(m.opts.RoleName))
	case strings.HasPrefix(rest, "ram/security-credentials/"):
		if m.opts.RoleName == "" || strings.TrimPrefix(rest, "ram/security-credentials/") != m.opts.RoleName {
			http.NotFound(w, r)
			return
		}
		m.fetches++
		now := m.opts.Issuer.stsNow()
		if m.curID == "" || m.cur.Expiration.Sub(now) < m.opts.TTL/2 {
			m.curID, m.cur = m.opts.Issuer.IssueSTSCredential(m.opts.TTL)
		}
		w.Header().Set("Content-Type", "text/plain")
		json.NewEncoder(w).Encode(map[string]string{
			"AccessKeyId":     m.curID,
			"AccessKeySecret": m.cur.AccessKeySecret,
			"SecurityToken":   m.cur.SecurityToken,
			"Expiration":      m.cur.Expiration.Format("2006-01-02T15:04:05Z"),
			"LastUpdated":     now.UTC().Format("2006-01-02T15:04:05Z"),
			"Code":            "Success",
		})
	default:
		http.NotFound(w, r)
	}
}
