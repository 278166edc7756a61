package cloud

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/denverdino/aliyungo/common"
	"github.com/denverdino/aliyungo/sts"

	"infrakit.aliyun/internal/redact"
)

// assumeRole describes one AssumeRole: the caller's credentials, the role
// and where STS is.
type assumeRole struct {
	source      func() (Credentials, error) // the caller's (possibly temporary) credentials
	roleARN     string
	sessionName string
	duration    time.Duration
	endpoint    string
	env         Env
	label       string // for Source, e.g. `aliyun CLI profile "x" (RamRoleArn)`
}

// credentials calls AssumeRole and returns temporary credentials whose
// refresh calls it again (with fresh source credentials).
func (a assumeRole) credentials() (Credentials, error) {
	return withRefresh(RefreshAssumeRole, a.call)()
}

func (a assumeRole) call() (Credentials, error) {
	src, err := a.source()
	if err != nil {
		return Credentials{}, err
	}
	c := sts.NewClientWithEndpointAndSecurityToken(a.endpoint, src.AccessKeyID, src.AccessKeySecret, src.SecurityToken)
	if t := a.env.httpClient().Transport; t != nil {
		c.SetTransport(t)
	}
	c.SetUserAgent(DefaultUserAgent)
	secs := int(a.duration / time.Second)
	if secs == 0 {
		secs = int(defaultRoleDuration / time.Second)
	}
	resp, err := c.AssumeRole(sts.AssumeRoleRequest{RoleArn: a.roleARN, RoleSessionName: a.sessionName, DurationSeconds: secs})
	if err != nil {
		return Credentials{}, fmt.Errorf("STS AssumeRole %s at %s: %s", a.roleARN, redact.URL(a.endpoint), describeSTSError(err))
	}
	r := resp.Credentials
	if r.AccessKeyId == "" || r.AccessKeySecret == "" || r.SecurityToken == "" {
		return Credentials{}, fmt.Errorf("STS AssumeRole %s: incomplete answer", a.roleARN)
	}
	exp, err := time.Parse(time.RFC3339, r.Expiration)
	if err != nil {
		return Credentials{}, fmt.Errorf("STS AssumeRole %s: Expiration %q is not a time", a.roleARN, r.Expiration)
	}
	return Credentials{AccessKeyID: r.AccessKeyId, AccessKeySecret: r.AccessKeySecret, SecurityToken: r.SecurityToken,
		Expiration: exp, Source: a.label}, nil
}

// describeSTSError keeps an STS error's code and request id; the message
// of SignatureDoesNotMatch quotes the string to sign, which holds the
// caller's SecurityToken, so messages are dropped.
func describeSTSError(err error) string {
	var e *common.Error
	if errors.As(err, &e) {
		return fmt.Sprintf("%s (HTTP %d, RequestId %s)", e.Code, e.StatusCode, e.RequestId)
	}
	// Transport errors from net/http quote the full URL with the signed query.
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Op + " " + redact.URL(ue.URL) + ": " + ue.Err.Error()
	}
	return "request failed"
}

// stsEndpoint picks the STS endpoint: --sts-endpoint, then
// ALIBABA_CLOUD_STS_ENDPOINT, then the profile's sts_region, then
// ALIBABA_CLOUD_STS_REGION, then sts.aliyuncs.com. A bare host gets https://.
func stsEndpoint(flag string, env Env, profileRegion string) string {
	ep := flag
	if ep == "" {
		ep = env.get(EnvSTSEndpoint)
	}
	if ep == "" {
		region := profileRegion
		if region == "" {
			region = env.get(EnvSTSRegion)
		}
		if region != "" {
			ep = "https://sts." + region + ".aliyuncs.com"
		} else {
			ep = DefaultSTSEndpoint
		}
	}
	if !strings.Contains(ep, "://") {
		ep = "https://" + ep
	}
	return ep
}
