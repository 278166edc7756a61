package emulator

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is an injectable real clock. It starts at the wall clock so
// SDK-generated Timestamps stay inside the 15-minute window.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Now().UTC()} }

func (f *fakeClock) Now() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.t }

func (f *fakeClock) Add(d time.Duration) { f.mu.Lock(); f.t = f.t.Add(d); f.mu.Unlock() }

// newTestServer starts an emulator on loopback with a fake real clock.
func newTestServer(t testing.TB, opts Options) (*Server, *fakeClock) {
	t.Helper()
	fc := newFakeClock()
	if opts.Now == nil {
		opts.Now = fc.Now
	}
	srv, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv, fc
}

var nonceSeq atomic.Int64

// raw is a signed ECS request built by hand (no SDK), for error tables.
type raw struct {
	method  string
	params  map[string]string
	secret  string
	noSign  bool
	mutate  func(p map[string]string) // applied after signing
	baseURL string
	accept  string // Accept header, if any
}

type rawResp struct {
	Status int
	Body   map[string]any
	Text   string
	// ContentType of the answer; Body is decoded only for JSON answers.
	ContentType string
}

func (r rawResp) Code() string { s, _ := r.Body["Code"].(string); return s }

// do sends the request; common parameters are filled unless present.
func (r raw) do(t testing.TB, now time.Time) rawResp {
	t.Helper()
	p := map[string]string{}
	defaults := map[string]string{
		"Format": "JSON", "Version": APIVersion, "AccessKeyId": DefaultAccessKeyID, "SignatureMethod": "HMAC-SHA1",
		"SignatureVersion": "1.0", "SignatureNonce": fmt.Sprintf("nonce-%d-%d", time.Now().UnixNano(), nonceSeq.Add(1)),
		"Timestamp": now.UTC().Format("2006-01-02T15:04:05Z"),
	}
	for k, v := range defaults {
		p[k] = v
	}
	for k, v := range r.params {
		if v == "\x00" {
			delete(p, k)
			continue
		}
		p[k] = v
	}
	method := r.method
	if method == "" {
		method = http.MethodGet
	}
	secret := r.secret
	if secret == "" {
		secret = DefaultAccessKeySecret
	}
	if !r.noSign {
		p["Signature"] = Sign(method, p, secret)
	}
	if r.mutate != nil {
		r.mutate(p)
	}
	v := url.Values{}
	for k, x := range p {
		v.Set(k, x)
	}
	var req *http.Request
	var err error
	if method == http.MethodPost {
		req, err = http.NewRequest(method, r.baseURL+"/", strings.NewReader(v.Encode()))
		if req != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	} else {
		req, err = http.NewRequest(method, r.baseURL+"/?"+v.Encode(), nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	if r.accept != "" {
		req.Header.Set("Accept", r.accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", p["Action"], err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	out := rawResp{Status: resp.StatusCode, Text: string(b), ContentType: resp.Header.Get("Content-Type")}
	if strings.HasPrefix(out.ContentType, "text/xml") {
		return out
	}
	if err := json.Unmarshal(b, &out.Body); err != nil {
		t.Fatalf("%s: body %q: %v", p["Action"], b, err)
	}
	return out
}

// api is a convenience for successful raw calls against srv.
func api(t testing.TB, srv *Server, fc *fakeClock, params map[string]string) rawResp {
	t.Helper()
	return raw{params: params, baseURL: srv.URL()}.do(t, fc.Now())
}

func mustOK(t testing.TB, r rawResp) rawResp {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("want 200, got %d %s", r.Status, r.Text)
	}
	return r
}

// runParams is a valid RunInstances request in the default catalogue.
func runParams(extra map[string]string) map[string]string {
	p := map[string]string{
		"Action": "RunInstances", "RegionId": DefaultRegion, "ImageId": DefaultImageID, "InstanceType": DefaultInstanceType,
		"VSwitchId": DefaultVSwitchH, "SecurityGroupId": DefaultSecurityGroupID,
	}
	for k, v := range extra {
		p[k] = v
	}
	return p
}

func runIDs(t testing.TB, r rawResp) []string {
	t.Helper()
	mustOK(t, r)
	sets := r.Body["InstanceIdSets"].(map[string]any)["InstanceIdSet"].([]any)
	out := make([]string, len(sets))
	for i, x := range sets {
		out[i] = x.(string)
	}
	return out
}

func status(t testing.TB, srv *Server, id string) string {
	t.Helper()
	v, ok := srv.Instance(id)
	if !ok {
		t.Fatalf("no instance %s", id)
	}
	return v.Status
}
