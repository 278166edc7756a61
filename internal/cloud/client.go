package cloud

import (
	"errors"
	"net/http"

	"github.com/denverdino/aliyungo/common"
	"github.com/denverdino/aliyungo/ecs"
)

// DefaultUserAgent is sent when no WithUserAgent option is given.
const DefaultUserAgent = "infrakit.aliyun/dev"

type clientOptions struct {
	userAgent string
	transport http.RoundTripper
	onRefresh func(source string, err error)
}

// ClientOption customises NewECSClient.
type ClientOption func(*clientOptions)

// WithUserAgent sets the User-Agent suffix, e.g. "infrakit.aliyun/v0.1.0".
func WithUserAgent(ua string) ClientOption {
	return func(o *clientOptions) { o.userAgent = ua }
}

// WithTransport replaces the HTTP transport (tests, proxies).
func WithTransport(rt http.RoundTripper) ClientOption {
	return func(o *clientOptions) { o.transport = rt }
}

// WithRefreshObserver has a ClientSource tell f of each attempt to refresh
// temporary credentials: the kind of source (Config.RefreshKind) and the
// error, nil on success. The daemon counts them (metrics.CredentialRefresh).
// f is called with the source's lock held: it must not block nor call the
// source. NewECSClient ignores it.
func WithRefreshObserver(f func(source string, err error)) ClientOption {
	return func(o *clientOptions) { o.onRefresh = f }
}

// NewECSClient builds the aliyungo ECS client for cfg. It never enables
// aliyungo's debug mode, which would log signed URLs with the token.
//
// aliyungo clients have no lock: build a new client to rotate credentials.
func NewECSClient(cfg Config, opts ...ClientOption) (*ecs.Client, error) {
	switch {
	case cfg.AccessKeyID == "" || cfg.AccessKeySecret == "":
		return nil, ErrNoCredentials
	case cfg.Region == "":
		return nil, ErrNoRegion
	case cfg.Endpoint == "":
		return nil, errors.New("no ECS endpoint")
	}
	o := clientOptions{userAgent: DefaultUserAgent}
	for _, opt := range opts {
		opt(&o)
	}
	c := ecs.NewECSClientWithEndpointAndSecurityToken(cfg.Endpoint, cfg.AccessKeyID, cfg.AccessKeySecret,
		cfg.SecurityToken, common.Region(cfg.Region))
	if o.userAgent != "" {
		c.SetUserAgent(o.userAgent)
	}
	if o.transport != nil {
		c.SetTransport(o.transport)
	}
	return c, nil
}
