package cloud

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"infrakit.aliyun/internal/redact"
)

// metadataClient reads the ECS instance metadata service. It asks for an
// IMDSv2 session token first (instances may refuse plain GETs) and falls
// back to plain GETs when the service hands out none.
type metadataClient struct {
	base string // .../latest/meta-data/
	http *http.Client
}

// errUnreachable means the service did not answer at all (not on ECS).
var errUnreachable = errors.New("metadata service not reachable")

// httpStatusError is a non-200 answer.
type httpStatusError struct{ status int }

func (e httpStatusError) Error() string { return fmt.Sprintf("HTTP %d", e.status) }

// token asks for an IMDSv2 session token; "" when the service hands out
// none. A transport failure is errUnreachable: the GET would fail the same
// way, so it is not tried (off ECS that would wait out a second timeout).
func (m *metadataClient) token() (string, error) {
	host := strings.TrimSuffix(m.base, metadataPathPrefix)
	req, err := http.NewRequest(http.MethodPut, host+"/latest/api/token", nil)
	if err != nil {
		return "", nil
	}
	req.Header.Set("X-aliyun-ecs-metadata-token-ttl-seconds", "21600")
	resp, err := m.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("%w at %s", errUnreachable, redact.URL(m.base))
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return "", nil
	}
	return strings.TrimSpace(string(b)), nil
}

// get fetches base+path. A transport failure is errUnreachable; a non-200
// answer is httpStatusError.
func (m *metadataClient) get(path string) (string, error) {
	tok, err := m.token()
	if err != nil {
		return "", err
	}
	req, err := http.NewRequest(http.MethodGet, m.base+path, nil)
	if err != nil {
		return "", err
	}
	if tok != "" {
		req.Header.Set("X-aliyun-ecs-metadata-token", tok)
	}
	resp, err := m.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("%w at %s", errUnreachable, redact.URL(m.base))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if err != nil {
		return "", fmt.Errorf("%w at %s: %v", errUnreachable, redact.URL(m.base), err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", httpStatusError{resp.StatusCode}
	}
	return strings.TrimSpace(string(b)), nil
}

// roleName lists the instance's RAM role; ok=false when none is attached.
func (m *metadataClient) roleName() (string, bool, error) {
	body, err := m.get("ram/security-credentials/")
	var se httpStatusError
	if errors.As(err, &se) && se.status == http.StatusNotFound {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	role := strings.TrimSpace(strings.SplitN(body, "\n", 2)[0])
	return role, role != "", nil
}

// roleCredentials fetches the role's current STS credentials.
func (m *metadataClient) roleCredentials(role string) (Credentials, error) {
	body, err := m.get("ram/security-credentials/" + role)
	if err != nil {
		return Credentials{}, fmt.Errorf("RAM role %q credentials: %w", role, err)
	}
	var r struct {
		AccessKeyId, AccessKeySecret, SecurityToken, Expiration, Code string
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		return Credentials{}, fmt.Errorf("RAM role %q credentials: not JSON", role)
	}
	if r.Code != "" && r.Code != "Success" {
		return Credentials{}, fmt.Errorf("RAM role %q credentials: Code %q", role, r.Code)
	}
	if r.AccessKeyId == "" || r.AccessKeySecret == "" || r.SecurityToken == "" {
		return Credentials{}, fmt.Errorf("RAM role %q credentials: incomplete answer", role)
	}
	exp, err := time.Parse(time.RFC3339, r.Expiration)
	if err != nil {
		return Credentials{}, fmt.Errorf("RAM role %q credentials: Expiration %q is not a time", role, r.Expiration)
	}
	return Credentials{AccessKeyID: r.AccessKeyId, AccessKeySecret: r.AccessKeySecret, SecurityToken: r.SecurityToken, Expiration: exp}, nil
}

// ramRoleCredentials returns temporary credentials of role (listed from the
// service when role is "") that refresh themselves from the service.
func (m *metadataClient) ramRoleCredentials(role string) (Credentials, bool, error) {
	if role == "" {
		r, ok, err := m.roleName()
		if err != nil || !ok {
			return Credentials{}, ok, err
		}
		role = r
	}
	fetch := func() (Credentials, error) {
		c, err := m.roleCredentials(role)
		if err != nil {
			return c, err
		}
		c.Source = "ECS RAM role " + role + " (metadata " + redact.URL(strings.TrimSuffix(m.base, metadataPathPrefix)) + ")"
		return c, nil
	}
	c, err := fetch()
	if err != nil {
		return Credentials{}, false, err
	}
	c.refresh, c.refreshKind = withRefresh(RefreshECSRAMRole, fetch), RefreshECSRAMRole
	return c, true, nil
}

// withRefresh makes every set fetch returns carry fetch as its refresh,
// of the given kind.
func withRefresh(kind string, fetch func() (Credentials, error)) func() (Credentials, error) {
	var self func() (Credentials, error)
	self = func() (Credentials, error) {
		c, err := fetch()
		if err == nil {
			c.refresh, c.refreshKind = self, kind
		}
		return c, err
	}
	return self
}

// MetadataProvider supplies the ECS instance RAM role's credentials and the
// instance's region from the metadata service. Off ECS (no answer) it has
// neither; on ECS without a role it has only the region.
type MetadataProvider struct {
	client      *metadataClient // nil: disabled
	role        string          // ALIBABA_CLOUD_ECS_METADATA, "" = list
	unreachable bool            // remembered so region does not wait again
}

func newMetadataProvider(env Env) *MetadataProvider {
	p := &MetadataProvider{role: env.get(EnvECSMetadataRole)}
	if base := env.metadataBase(); base != "" {
		p.client = &metadataClient{base: base, http: env.httpClient()}
	}
	return p
}

// Name implements Provider.
func (p *MetadataProvider) Name() string { return "ECS RAM role (metadata service)" }

// RegionSource implements RegionSourcer.
func (p *MetadataProvider) RegionSource() string { return "metadata service region-id" }

// Credentials implements Provider. An unreachable service is "no
// credentials" (not on ECS); a listed role whose credentials cannot be read
// is an error.
func (p *MetadataProvider) Credentials() (Credentials, bool, error) {
	if p.client == nil || p.unreachable {
		return Credentials{}, false, nil
	}
	c, ok, err := p.client.ramRoleCredentials(p.role)
	if errors.Is(err, errUnreachable) && p.role == "" {
		p.unreachable = true
		return Credentials{}, false, nil
	}
	return c, ok, err
}

// Region implements Provider.
func (p *MetadataProvider) Region() (string, bool, error) {
	if p.client == nil || p.unreachable {
		return "", false, nil
	}
	r, err := p.client.get("region-id")
	if err != nil {
		if errors.Is(err, errUnreachable) {
			p.unreachable = true
		}
		return "", false, nil
	}
	return r, r != "", nil
}
