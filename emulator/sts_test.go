package emulator

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func assumeRole(t *testing.T, srv *Server, fc *fakeClock, extra map[string]string) rawResp {
	t.Helper()
	p := map[string]string{"Action": "AssumeRole", "Version": STSAPIVersion,
		"RoleArn": "acs:ram::1234567890:role/infrakit", "RoleSessionName": "test-session"}
	for k, v := range extra {
		p[k] = v
	}
	return raw{params: p, baseURL: srv.URL()}.do(t, fc.Now())
}

func TestAssumeRoleIssuesKeysECSAccepts(t *testing.T) {
	stsClock := newFakeClock()
	srv, fc := newTestServer(t, Options{STSNow: stsClock.Now})
	r := mustOK(t, assumeRole(t, srv, fc, map[string]string{"DurationSeconds": "900"}))
	creds, _ := r.Body["Credentials"].(map[string]any)
	id, _ := creds["AccessKeyId"].(string)
	secret, _ := creds["AccessKeySecret"].(string)
	token, _ := creds["SecurityToken"].(string)
	exp, _ := creds["Expiration"].(string)
	if id == "" || secret == "" || token == "" {
		t.Fatalf("incomplete credentials in %s", strings.Join(keys(creds), ","))
	}
	e, err := time.Parse(time.RFC3339, exp)
	if err != nil || e.Sub(stsClock.Now()) > 15*time.Minute || e.Sub(stsClock.Now()) < 14*time.Minute {
		t.Fatalf("Expiration %q, want about 15 minutes from now", exp)
	}
	user, _ := r.Body["AssumedRoleUser"].(map[string]any)
	if user["Arn"] != "acs:ram::1234567890:role/infrakit/test-session" {
		t.Errorf("AssumedRoleUser.Arn = %v", user["Arn"])
	}

	call := func(tok string) rawResp {
		return raw{params: map[string]string{"Action": "DescribeRegions", "AccessKeyId": id, "SecurityToken": tok},
			secret: secret, baseURL: srv.URL()}.do(t, fc.Now())
	}
	mustOK(t, call(token))
	if got := call("wrong").Code(); got != "InvalidSecurityToken.MismatchWithAccessKey" {
		t.Errorf("wrong token: %q", got)
	}
	stsClock.Add(16 * time.Minute)
	if got := call(token).Code(); got != "InvalidSecurityToken.Expired" {
		t.Errorf("after expiry: %q", got)
	}
}

func keys(m map[string]any) []string {
	var s []string
	for k := range m {
		s = append(s, k)
	}
	return s
}

func TestAssumeRoleErrors(t *testing.T) {
	srv, fc := newTestServer(t, Options{})
	for _, tc := range []struct {
		extra map[string]string
		code  string
	}{
		{map[string]string{"RoleArn": "\x00"}, "MissingParameter"},
		{map[string]string{"RoleArn": "arn:aws:iam::1:role/x"}, "InvalidParameter.RoleArn"},
		{map[string]string{"RoleSessionName": "\x00"}, "MissingParameter"},
		{map[string]string{"RoleSessionName": "has space"}, "InvalidParameter.RoleSessionName"},
		{map[string]string{"DurationSeconds": "60"}, "InvalidParameter.DurationSeconds"},
		{map[string]string{"Action": "GetCallerIdentity"}, "InvalidAction.NotFound"},
		{map[string]string{"AccessKeyId": "nobody"}, "InvalidAccessKeyId.NotFound"},
	} {
		if got := assumeRole(t, srv, fc, tc.extra).Code(); got != tc.code {
			t.Errorf("%v: code %q, want %q", tc.extra, got, tc.code)
		}
	}
	// A bad signature is refused like for ECS.
	r := raw{params: map[string]string{"Action": "AssumeRole", "Version": STSAPIVersion, "RoleArn": "acs:ram::1:role/x",
		"RoleSessionName": "s1"}, secret: "wrong", baseURL: srv.URL()}.do(t, fc.Now())
	if r.Code() != "SignatureDoesNotMatch" {
		t.Errorf("bad signature: %q", r.Code())
	}
}

func metaGet(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set(metadataTokenHeader, token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestMetadataServerRoleAndRegion(t *testing.T) {
	stsClock := newFakeClock()
	srv, fc := newTestServer(t, Options{STSNow: stsClock.Now})
	md, err := NewMetadataServer(MetadataOptions{Region: "cn-shanghai", RoleName: "infrakit-role", Issuer: srv, TTL: time.Hour, RequireToken: true})
	if err != nil {
		t.Fatal(err)
	}
	defer md.Close()
	base := md.URL() + "/latest/meta-data/"
	if code, _ := metaGet(t, base+"region-id", ""); code != http.StatusForbidden {
		t.Fatalf("without IMDSv2 token: %d, want 403", code)
	}
	req, _ := http.NewRequest(http.MethodPut, md.URL()+"/latest/api/token", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	tb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	tok := string(tb)

	if code, body := metaGet(t, base+"region-id", tok); code != 200 || body != "cn-shanghai" {
		t.Fatalf("region-id: %d %q", code, body)
	}
	if code, body := metaGet(t, base+"ram/security-credentials/", tok); code != 200 || body != "infrakit-role" {
		t.Fatalf("role list: %d %q", code, body)
	}
	if code, _ := metaGet(t, base+"ram/security-credentials/other", tok); code != 404 {
		t.Fatalf("unknown role: %d", code)
	}
	fetch := func() map[string]string {
		code, body := metaGet(t, base+"ram/security-credentials/infrakit-role", tok)
		var m map[string]string
		if code != 200 || json.Unmarshal([]byte(body), &m) != nil || m["Code"] != "Success" {
			t.Fatalf("credentials: %d", code)
		}
		return m
	}
	first := fetch()
	if again := fetch(); again["AccessKeyId"] != first["AccessKeyId"] {
		t.Error("a fresh credential was replaced at once")
	}
	mustOK(t, raw{params: map[string]string{"Action": "DescribeRegions", "AccessKeyId": first["AccessKeyId"],
		"SecurityToken": first["SecurityToken"]}, secret: first["AccessKeySecret"], baseURL: srv.URL()}.do(t, fc.Now()))
	stsClock.Add(31 * time.Minute)
	if next := fetch(); next["AccessKeyId"] == first["AccessKeyId"] {
		t.Error("credential with less than half its TTL left was not renewed")
	}
	if md.CredentialFetches() != 3 {
		t.Errorf("fetches = %d, want 3", md.CredentialFetches())
	}
	md.SetUnavailable(true)
	if code, _ := metaGet(t, base+"region-id", tok); code != 500 {
		t.Errorf("unavailable: %d", code)
	}
}

func TestMetadataServerWithoutRole(t *testing.T) {
	md, err := NewMetadataServer(MetadataOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer md.Close()
	if code, _ := metaGet(t, md.URL()+"/latest/meta-data/ram/security-credentials/", ""); code != 404 {
		t.Errorf("no role: %d, want 404", code)
	}
	if code, body := metaGet(t, md.URL()+"/latest/meta-data/region-id", ""); code != 200 || body != DefaultRegion {
		t.Errorf("region: %d %q", code, body)
	}
	if _, err := NewMetadataServer(MetadataOptions{RoleName: "x"}); err == nil {
		t.Error("RoleName without Issuer accepted")
	}
}
