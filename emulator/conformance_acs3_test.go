package emulator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	openapi "github.com/alibabacloud-go/darabonba-openapi/v2/models"
	ecs7 "github.com/alibabacloud-go/ecs-20140526/v7/client"
	"github.com/alibabacloud-go/tea/tea"
)

// acs3Client drives the emulator with the current official Go SDK
// (github.com/alibabacloud-go/ecs-20140526) in its DEFAULT configuration:
// ACS3-HMAC-SHA256, POST /, x-acs-* headers, Accept: application/json.
// Only the endpoint and protocol point it at the emulator.
type acs3Client struct{ c *ecs7.Client }

func newACS3Client(t testing.TB, srv *Server) ecsClient {
	c, err := ecs7.NewClient(&openapi.Config{
		AccessKeyId: tea.String(DefaultAccessKeyID), AccessKeySecret: tea.String(DefaultAccessKeySecret),
		RegionId: tea.String(DefaultRegion), Endpoint: tea.String(srv.Addr()), Protocol: tea.String("http"),
	})
	if err != nil {
		t.Fatal(err)
	}
	return acs3Client{c}
}

func (a acs3Client) run(image, vswitch string, amount int, tags map[string]string) ([]string, error) {
	r := &ecs7.RunInstancesRequest{RegionId: tea.String(DefaultRegion), ImageId: tea.String(image),
		InstanceType: tea.String(DefaultInstanceType), VSwitchId: tea.String(vswitch),
		SecurityGroupId: tea.String(DefaultSecurityGroupID), Amount: tea.Int32(int32(amount))}
	for _, t := range sortedTags(tags) {
		r.Tag = append(r.Tag, &ecs7.RunInstancesRequestTag{Key: tea.String(t.Key), Value: tea.String(t.Value)})
	}
	resp, err := a.c.RunInstances(r)
	if err != nil {
		return nil, err
	}
	return tea.StringSliceValue(resp.Body.InstanceIdSets.InstanceIdSet), nil
}

func (a acs3Client) describe(tags map[string]string, ids string, max int, next string) (*ecs7.DescribeInstancesResponseBody, error) {
	r := &ecs7.DescribeInstancesRequest{RegionId: tea.String(DefaultRegion)}
	if ids != "" {
		r.InstanceIds = tea.String(ids)
	}
	if next != "" {
		r.NextToken = tea.String(next)
	}
	if max > 0 {
		r.MaxResults = tea.Int32(int32(max))
	}
	for _, t := range sortedTags(tags) {
		r.Tag = append(r.Tag, &ecs7.DescribeInstancesRequestTag{Key: tea.String(t.Key), Value: tea.String(t.Value)})
	}
	resp, err := a.c.DescribeInstances(r)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

func (a acs3Client) list(tags map[string]string, max int, next string) ([]string, string, error) {
	b, err := a.describe(tags, "", max, next)
	if err != nil {
		return nil, "", err
	}
	var ids []string
	for _, in := range b.Instances.Instance {
		ids = append(ids, tea.StringValue(in.InstanceId))
	}
	return ids, tea.StringValue(b.NextToken), nil
}

func (a acs3Client) get(id string) (string, map[string]string, string, bool, error) {
	b, err := a.describe(nil, `["`+id+`"]`, 0, "")
	if err != nil || len(b.Instances.Instance) == 0 {
		return "", nil, "", false, err
	}
	in := b.Instances.Instance[0]
	tags := map[string]string{}
	if in.Tags != nil {
		for _, t := range in.Tags.Tag {
			tags[tea.StringValue(t.TagKey)] = tea.StringValue(t.TagValue)
		}
	}
	ip := ""
	if a := in.VpcAttributes.PrivateIpAddress.IpAddress; len(a) > 0 {
		ip = tea.StringValue(a[0])
	}
	return tea.StringValue(in.Status), tags, ip, true, nil
}

func (a acs3Client) tag(id, k, v string) error {
	_, err := a.c.TagResources(&ecs7.TagResourcesRequest{RegionId: tea.String(DefaultRegion), ResourceType: tea.String("instance"),
		ResourceId: []*string{tea.String(id)}, Tag: []*ecs7.TagResourcesRequestTag{{Key: tea.String(k), Value: tea.String(v)}}})
	return err
}

func (a acs3Client) untag(id, k string) error {
	_, err := a.c.UntagResources(&ecs7.UntagResourcesRequest{RegionId: tea.String(DefaultRegion), ResourceType: tea.String("instance"),
		ResourceId: []*string{tea.String(id)}, TagKey: []*string{tea.String(k)}})
	return err
}

func (a acs3Client) start(id string) error {
	_, err := a.c.StartInstance(&ecs7.StartInstanceRequest{InstanceId: tea.String(id)})
	return err
}

func (a acs3Client) stop(id string) error {
	_, err := a.c.StopInstance(&ecs7.StopInstanceRequest{InstanceId: tea.String(id)})
	return err
}

func (a acs3Client) remove(id string, force bool) error {
	_, err := a.c.DeleteInstance(&ecs7.DeleteInstanceRequest{InstanceId: tea.String(id), Force: tea.Bool(force)})
	return err
}

func (a acs3Client) regions() ([]string, error) {
	resp, err := a.c.DescribeRegions(&ecs7.DescribeRegionsRequest{})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, r := range resp.Body.Regions.Region {
		out = append(out, tea.StringValue(r.RegionId))
	}
	return out, nil
}

// recorder sits in front of the emulator and keeps the last request as
// sent and the answer's Content-Type.
type recorder struct {
	h           http.Handler
	mu          sync.Mutex
	req         *http.Request
	body        []byte
	contentType string
	frozen      bool // keep the recorded request (replays pass through)
}

func (rc *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	if !rc.frozen {
		rc.req, rc.body = r.Clone(context.Background()), b
	}
	rc.mu.Unlock()
	r.Body = io.NopCloser(bytes.NewReader(b))
	rw := httptest.NewRecorder()
	rc.h.ServeHTTP(rw, r)
	rc.mu.Lock()
	rc.contentType = rw.Header().Get("Content-Type")
	rc.mu.Unlock()
	for k, v := range rw.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rw.Code)
	w.Write(rw.Body.Bytes())
}

// replay sends the recorded request again, with body instead of the original.
func (rc *recorder) replay(t *testing.T, url string, body []byte, mutate ...func(http.Header)) rawResp {
	t.Helper()
	rc.mu.Lock()
	req, err := http.NewRequest(rc.req.Method, url+rc.req.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = rc.req.Header.Clone()
	rc.mu.Unlock()
	for _, m := range mutate {
		m(req.Header)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out rawResp
	out.Status, out.Text = resp.StatusCode, string(b)
	json.Unmarshal(b, &out.Body)
	return out
}

// TestACS3Wire checks that the default official SDK really signs with ACS3
// (so the conformance table tests what it claims) and that the emulator
// gives ACS3 requests the errors real ECS gives: replayed nonce, tampered
// body, wrong secret, unknown key, expired x-acs-date.
func TestACS3Wire(t *testing.T) {
	srv, fc := newTestServer(t, Options{})
	rc := &recorder{h: srv.Handler()}
	front := httptest.NewServer(rc)
	defer front.Close()
	mk := func(ak, sk string) *ecs7.Client {
		c, err := ecs7.NewClient(&openapi.Config{AccessKeyId: tea.String(ak), AccessKeySecret: tea.String(sk),
			RegionId: tea.String(DefaultRegion), Endpoint: tea.String(front.Listener.Addr().String()), Protocol: tea.String("http")})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c := mk(DefaultAccessKeyID, DefaultAccessKeySecret)
	resp, err := c.RunInstances(&ecs7.RunInstancesRequest{RegionId: tea.String(DefaultRegion), ImageId: tea.String(DefaultImageID),
		InstanceType: tea.String(DefaultInstanceType), VSwitchId: tea.String(DefaultVSwitchH),
		SecurityGroupId: tea.String(DefaultSecurityGroupID), UserData: tea.String("IyEvYmluL3NoCmVjaG8gaGkgKiB+"),
		Tag: []*ecs7.RunInstancesRequestTag{{Key: tea.String("a b*~"), Value: tea.String("x+y/z=")}}})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(resp.Body.InstanceIdSets.InstanceIdSet); n != 1 {
		t.Fatalf("RunInstances made %d instances", n)
	}
	rc.mu.Lock()
	auth, q, ctype := rc.req.Header.Get("Authorization"), rc.req.URL.Query(), rc.contentType
	rc.frozen = true
	rc.mu.Unlock()
	if !strings.HasPrefix(auth, "ACS3-HMAC-SHA256 Credential=emulator,") || rc.req.Method != http.MethodPost || q.Has("Action") || q.Has("Signature") {
		t.Fatalf("SDK did not send an ACS3 request: %s %s %q", rc.req.Method, rc.req.URL, auth)
	}
	if !strings.HasPrefix(ctype, "application/json") {
		t.Fatalf("answer Content-Type %q, want JSON for Accept: application/json", ctype)
	}
	if got := srv.Stats().Calls["RunInstances"]; got != 1 {
		t.Fatalf("RunInstances calls %d", got)
	}
	// Both signatures on one listener, one state: an HMAC-SHA1 client sees
	// the instance the ACS3 client made.
	list := mustOK(t, api(t, srv, fc, map[string]string{"Action": "DescribeInstances", "RegionId": DefaultRegion})).Body
	if got := list["Instances"].(map[string]any)["Instance"].([]any); len(got) != 1 ||
		got[0].(map[string]any)["InstanceId"] != tea.StringValue(resp.Body.InstanceIdSets.InstanceIdSet[0]) {
		t.Fatalf("RPC-signed DescribeInstances: %v", list)
	}

	// The same request again: the nonce was used.
	if r := rc.replay(t, front.URL, rc.body); r.Status != 400 || r.Code() != "SignatureNonceUsed" {
		t.Fatalf("replay: %d %s", r.Status, r.Text)
	}
	// A different body under the same signature (fresh nonce is not
	// possible without the secret, so this is what an attacker can send).
	if r := rc.replay(t, front.URL, append(rc.body, "&Amount=50"...)); r.Status != 400 || r.Code() != "SignatureDoesNotMatch" {
		t.Fatalf("tampered body: %d %s", r.Status, r.Text)
	}
	// Malformed or incomplete Authorization headers, and a header that
	// decides the request but is not signed.
	for _, c := range []struct {
		name   string
		mutate func(http.Header)
		status int
		code   string
	}{
		{"other algorithm", func(h http.Header) {
			h.Set("Authorization", strings.Replace(h.Get("Authorization"), "ACS3-HMAC-SHA256", "ACS3-HMAC-SM3", 1))
		}, 400, "IncompleteSignature"},
		{"no signature", func(h http.Header) {
			a := h.Get("Authorization")
			h.Set("Authorization", a[:strings.Index(a, ",Signature=")])
		}, 400, "IncompleteSignature"},
		{"action not signed", func(h http.Header) {
			h.Set("Authorization", strings.Replace(h.Get("Authorization"), "x-acs-action;", "", 1))
		}, 400, "IncompleteSignature"},
		{"extra unsigned x-acs header", func(h http.Header) { h.Set("x-acs-security-token", "t") }, 400, "IncompleteSignature"},
		{"no date", func(h http.Header) { h.Del("x-acs-date") }, 400, "MissingParameter"},
		{"other action", func(h http.Header) { h.Set("x-acs-action", "DeleteInstance") }, 400, "SignatureDoesNotMatch"},
		{"other version", func(h http.Header) { h.Set("x-acs-version", "2016-04-28") }, 400, "InvalidVersion"},
	} {
		if r := rc.replay(t, front.URL, rc.body, c.mutate); r.Status != c.status || r.Code() != c.code {
			t.Errorf("%s: want %d %s, got %d %s", c.name, c.status, c.code, r.Status, r.Text)
		}
	}
	_, err = mk(DefaultAccessKeyID, "wrong").DescribeRegions(&ecs7.DescribeRegionsRequest{})
	wantCode(t, err, http.StatusBadRequest, "SignatureDoesNotMatch")
	_, err = mk("LTAIunknown", "x").DescribeRegions(&ecs7.DescribeRegionsRequest{})
	wantCode(t, err, http.StatusNotFound, "InvalidAccessKeyId.NotFound")
	var te *tea.SDKError
	if !errors.As(err, &te) || !strings.Contains(tea.StringValue(te.Data), recommend("InvalidAccessKeyId.NotFound", "")) {
		t.Fatalf("no Recommend in %v", err)
	}
	fc.Add(16 * time.Minute) // the server's clock runs ahead of the SDK's
	_, err = c.DescribeRegions(&ecs7.DescribeRegionsRequest{})
	wantCode(t, err, http.StatusBadRequest, "InvalidTimeStamp.Expired")
	if got := srv.Stats().Calls["RunInstances"]; got != 9 {
		t.Fatalf("RunInstances calls %d (1 + 8 refused replays; the 9th replay was relabelled DeleteInstance)", got)
	}
	if n := len(srv.Stats().Instances); n != 1 {
		t.Fatalf("refused requests created instances: %d", n)
	}
}

// TestACS3STS: the default SDK with a temporary credential sends
// x-acs-security-token; the emulator checks it like SecurityToken.
func TestACS3STS(t *testing.T) {
	srv, _ := newTestServer(t, Options{STSKeys: map[string]STSCredential{
		"STS.key": {AccessKeySecret: "sts-secret", SecurityToken: "token-1", Expiration: time.Now().Add(time.Hour)},
	}})
	mk := func(token string) *ecs7.Client {
		c, err := ecs7.NewClient(&openapi.Config{AccessKeyId: tea.String("STS.key"), AccessKeySecret: tea.String("sts-secret"),
			SecurityToken: tea.String(token), RegionId: tea.String(DefaultRegion), Endpoint: tea.String(srv.Addr()), Protocol: tea.String("http")})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if _, err := mk("token-1").DescribeRegions(&ecs7.DescribeRegionsRequest{}); err != nil {
		t.Fatalf("with token: %v", err)
	}
	_, err := mk("token-2").DescribeRegions(&ecs7.DescribeRegionsRequest{})
	wantCode(t, err, http.StatusBadRequest, "InvalidSecurityToken.MismatchWithAccessKey")
}
