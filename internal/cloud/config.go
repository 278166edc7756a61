// Package cloud resolves Alibaba Cloud credentials, region and ECS endpoint
// for the daemon and builds the aliyungo ECS client from them.
//
// Resolution is a pure function of the command-line values and an
// environment lookup function, so it can be tested without touching the
// process environment. Credentials and the region are each taken from the
// first provider in an ordered list that has them; a later issue adds the
// aliyun CLI profile, ~/.alibabacloud/credentials and the ECS RAM role as
// further providers at the end of that list.
package cloud

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"unicode"
)

// Environment variable names understood by the default provider chain.
const (
	EnvAccessKeyID     = "ALIBABA_CLOUD_ACCESS_KEY_ID"
	EnvAccessKeySecret = "ALIBABA_CLOUD_ACCESS_KEY_SECRET"
	EnvSecurityToken   = "ALIBABA_CLOUD_SECURITY_TOKEN"
	EnvRegionID        = "ALIBABA_CLOUD_REGION_ID"

	// Terraform alicloud provider names.
	EnvTFAccessKey     = "ALICLOUD_ACCESS_KEY"
	EnvTFSecretKey     = "ALICLOUD_SECRET_KEY"
	EnvTFSecurityToken = "ALICLOUD_SECURITY_TOKEN"
	EnvTFRegion        = "ALICLOUD_REGION"
)

// LookupEnv looks up an environment variable; os.LookupEnv has this shape.
type LookupEnv func(key string) (string, bool)

// Flags are the values given on the command line. Empty means "not given".
type Flags struct {
	AccessKeyID     string
	AccessKeySecret string
	SecurityToken   string
	Region          string
	Endpoint        string
}

// Config is the resolved configuration used to build the ECS client.
//
// Its String, GoString and MarshalJSON methods never reveal the secret or
// the token, so a Config that ends up in a log line or an error is harmless.
type Config struct {
	AccessKeyID     string
	AccessKeySecret string
	SecurityToken   string
	Region          string
	Endpoint        string

	// Source names where the credentials came from (e.g. "flags",
	// "env ALIBABA_CLOUD_ACCESS_KEY_ID"); it is safe to log.
	Source string
	// RegionSource names where the region came from; safe to log.
	RegionSource string
	// EndpointSource is "flag --endpoint" or "default"; safe to log.
	EndpointSource string
}

// Credentials is one complete set of static credentials.
type Credentials struct {
	AccessKeyID     string
	AccessKeySecret string
	SecurityToken   string
}

// Provider is one place credentials and/or a region can come from.
//
// Credentials returns ok=false when the provider has no credentials at all,
// and an error when it has an incomplete or malformed set (for example an
// access key id without its secret); such an error stops resolution instead
// of silently falling through to the next provider. Region behaves the same.
// Error messages must never contain secret values.
type Provider interface {
	Name() string
	Credentials() (c Credentials, ok bool, err error)
	Region() (region string, ok bool, err error)
}

// FlagProvider supplies what was given on the command line.
type FlagProvider struct{ Flags Flags }

// Name implements Provider.
func (p FlagProvider) Name() string { return "flags" }

// Credentials implements Provider.
func (p FlagProvider) Credentials() (Credentials, bool, error) {
	f := p.Flags
	if f.AccessKeyID == "" && f.AccessKeySecret == "" && f.SecurityToken == "" {
		return Credentials{}, false, nil
	}
	switch {
	case f.AccessKeyID == "":
		return Credentials{}, false, errors.New("--access-key-id is required when --access-key-secret or --security-token is given")
	case f.AccessKeySecret == "":
		return Credentials{}, false, errors.New("--access-key-secret is required when --access-key-id or --security-token is given")
	}
	return Credentials{AccessKeyID: f.AccessKeyID, AccessKeySecret: f.AccessKeySecret, SecurityToken: f.SecurityToken}, true, nil
}

// Region implements Provider.
func (p FlagProvider) Region() (string, bool, error) {
	return p.Flags.Region, p.Flags.Region != "", nil
}

// EnvProvider supplies credentials and region from one family of
// environment variables. Empty variables count as unset.
type EnvProvider struct {
	Lookup LookupEnv
	// Variable names; TokenVar and RegionVar may be empty.
	IDVar, SecretVar, TokenVar, RegionVar string
}

// AlibabaCloudEnv is the official ALIBABA_CLOUD_* family.
func AlibabaCloudEnv(lookup LookupEnv) EnvProvider {
	return EnvProvider{Lookup: lookup, IDVar: EnvAccessKeyID, SecretVar: EnvAccessKeySecret,
		TokenVar: EnvSecurityToken, RegionVar: EnvRegionID}
}

// TerraformEnv is the Terraform alicloud provider's ALICLOUD_* family.
func TerraformEnv(lookup LookupEnv) EnvProvider {
	return EnvProvider{Lookup: lookup, IDVar: EnvTFAccessKey, SecretVar: EnvTFSecretKey,
		TokenVar: EnvTFSecurityToken, RegionVar: EnvTFRegion}
}

func (p EnvProvider) get(name string) string {
	if name == "" || p.Lookup == nil {
		return ""
	}
	v, _ := p.Lookup(name)
	return v
}

// Name implements Provider.
func (p EnvProvider) Name() string { return "env " + p.IDVar }

// Credentials implements Provider.
func (p EnvProvider) Credentials() (Credentials, bool, error) {
	c := Credentials{AccessKeyID: p.get(p.IDVar), AccessKeySecret: p.get(p.SecretVar), SecurityToken: p.get(p.TokenVar)}
	if c.AccessKeyID == "" && c.AccessKeySecret == "" {
		// A lone token is useless without keys; ignore it rather than fail,
		// since STS tokens are often left in the environment.
		return Credentials{}, false, nil
	}
	switch {
	case c.AccessKeyID == "":
		return Credentials{}, false, fmt.Errorf("%s is set but %s is not", p.SecretVar, p.IDVar)
	case c.AccessKeySecret == "":
		return Credentials{}, false, fmt.Errorf("%s is set but %s is not", p.IDVar, p.SecretVar)
	}
	return c, true, nil
}

// Region implements Provider.
func (p EnvProvider) Region() (string, bool, error) {
	r := p.get(p.RegionVar)
	return r, r != "", nil
}

// regionSource names where a provider's region came from.
func regionSource(p Provider) string {
	if e, ok := p.(EnvProvider); ok {
		return "env " + e.RegionVar
	}
	if _, ok := p.(FlagProvider); ok {
		return "flag --region"
	}
	return p.Name()
}

// DefaultProviders is the default ordered chain: flags, then the
// ALIBABA_CLOUD_* environment, then Terraform's ALICLOUD_* environment.
func DefaultProviders(flags Flags, lookup LookupEnv) []Provider {
	return []Provider{
		FlagProvider{Flags: flags},
		AlibabaCloudEnv(lookup),
		TerraformEnv(lookup),
	}
}

// Resolve resolves the configuration from the command-line values and the
// environment with the default provider chain. Flags win.
func Resolve(flags Flags, lookup LookupEnv) (Config, error) {
	return ResolveWith(flags.Endpoint, DefaultProviders(flags, lookup)...)
}

// ErrNoCredentials and ErrNoRegion are wrapped by the errors Resolve
// returns when nothing supplies credentials or a region.
var (
	ErrNoCredentials = errors.New("no Alibaba Cloud credentials")
	ErrNoRegion      = errors.New("no Alibaba Cloud region")
)

// ResolveWith resolves credentials and region from the providers in order
// (the first provider that has them wins, independently for credentials and
// region) and the endpoint from endpoint or the region's default.
func ResolveWith(endpoint string, providers ...Provider) (Config, error) {
	var cfg Config
	var errs []error

	credsFound := false
	for _, p := range providers {
		c, ok, err := p.Credentials()
		if err != nil {
			errs = append(errs, fmt.Errorf("credentials from %s: %w", p.Name(), err))
			credsFound = true // reported; do not also say "none found"
			break
		}
		if ok {
			cfg.AccessKeyID, cfg.AccessKeySecret, cfg.SecurityToken = c.AccessKeyID, c.AccessKeySecret, c.SecurityToken
			cfg.Source = p.Name()
			credsFound = true
			break
		}
	}
	if !credsFound {
		errs = append(errs, fmt.Errorf("%w: set --access-key-id and --access-key-secret, or %s and %s (optionally %s), or Terraform's %s and %s",
			ErrNoCredentials, EnvAccessKeyID, EnvAccessKeySecret, EnvSecurityToken, EnvTFAccessKey, EnvTFSecretKey))
	} else if cfg.Source != "" {
		if err := checkCredential("access key id", cfg.AccessKeyID); err != nil {
			errs = append(errs, fmt.Errorf("credentials from %s: %w", cfg.Source, err))
		}
		if err := checkCredential("access key secret", cfg.AccessKeySecret); err != nil {
			errs = append(errs, fmt.Errorf("credentials from %s: %w", cfg.Source, err))
		}
		if cfg.SecurityToken != "" {
			if err := checkCredential("security token", cfg.SecurityToken); err != nil {
				errs = append(errs, fmt.Errorf("credentials from %s: %w", cfg.Source, err))
			}
		}
	}

	regionFound := false
	for _, p := range providers {
		r, ok, err := p.Region()
		if err != nil {
			errs = append(errs, fmt.Errorf("region from %s: %w", p.Name(), err))
			regionFound = true
			break
		}
		if ok {
			cfg.Region, cfg.RegionSource = r, regionSource(p)
			regionFound = true
			break
		}
	}
	if !regionFound {
		errs = append(errs, fmt.Errorf("%w: set --region, or %s (or Terraform's %s), e.g. cn-hangzhou",
			ErrNoRegion, EnvRegionID, EnvTFRegion))
	} else if cfg.RegionSource != "" && !validRegion.MatchString(cfg.Region) {
		errs = append(errs, fmt.Errorf("region %q from %s is not a region id like cn-hangzhou", cfg.Region, cfg.RegionSource))
	}

	if endpoint != "" {
		if err := checkEndpoint(endpoint); err != nil {
			errs = append(errs, err)
		}
		cfg.Endpoint, cfg.EndpointSource = endpoint, "flag --endpoint"
	} else if cfg.Region != "" {
		cfg.Endpoint, cfg.EndpointSource = DefaultEndpoint(cfg.Region), "default"
	}

	if len(errs) > 0 {
		return Config{}, errors.Join(errs...)
	}
	return cfg, nil
}

var validRegion = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

// DefaultEndpoint is the public ECS API endpoint of a region. aliyungo's
// own per-region table uses the same https://ecs.<region>.aliyuncs.com form.
func DefaultEndpoint(region string) string {
	return "https://ecs." + region + ".aliyuncs.com"
}

// checkCredential rejects values that cannot be right (spaces, control
// characters); the message names the field, never the value.
func checkCredential(what, v string) error {
	for _, r := range v {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return fmt.Errorf("%s contains whitespace or control characters", what)
		}
	}
	return nil
}

func checkEndpoint(endpoint string) error {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--endpoint %q must be an http:// or https:// URL", RedactURL(endpoint))
	}
	if u.User != nil {
		return fmt.Errorf("--endpoint %q must not contain user information", RedactURL(endpoint))
	}
	return nil
}

// RedactURL returns s with any user information and query string removed,
// so it is safe to log. Unparseable input is replaced entirely.
func RedactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "<unparseable URL>"
	}
	if u.User != nil {
		u.User = url.User("REDACTED")
	}
	if u.RawQuery != "" {
		u.RawQuery = "REDACTED"
	}
	u.Fragment = ""
	return u.String()
}

// Secrets returns the values that must never be logged.
func (c Config) Secrets() []string {
	var s []string
	for _, v := range []string{c.AccessKeySecret, c.SecurityToken} {
		if v != "" {
			s = append(s, v)
		}
	}
	return s
}

// safe is Config's loggable view.
type safe struct {
	AccessKeyID      string `json:"access_key_id"`
	Region           string `json:"region"`
	Endpoint         string `json:"endpoint"`
	Source           string `json:"credential_source"`
	RegionSource     string `json:"region_source"`
	HasSecurityToken bool   `json:"security_token_set"`
}

func (c Config) safe() safe {
	return safe{AccessKeyID: MaskID(c.AccessKeyID), Region: c.Region, Endpoint: RedactURL(c.Endpoint),
		Source: c.Source, RegionSource: c.RegionSource, HasSecurityToken: c.SecurityToken != ""}
}

// String implements fmt.Stringer without revealing secrets.
func (c Config) String() string {
	s := c.safe()
	return fmt.Sprintf("{AccessKeyID:%s Region:%s Endpoint:%s Source:%s RegionSource:%s SecurityToken:%t}",
		s.AccessKeyID, s.Region, s.Endpoint, s.Source, s.RegionSource, s.HasSecurityToken)
}

// GoString implements fmt.GoStringer without revealing secrets.
func (c Config) GoString() string { return "cloud.Config" + c.String() }

// MarshalJSON renders the loggable view only.
func (c Config) MarshalJSON() ([]byte, error) { return json.Marshal(c.safe()) }

// MaskID shortens an access key id to its first and last few characters;
// an id is not a secret, but there is no need to log it whole.
func MaskID(id string) string {
	if len(id) <= 8 {
		return strings.Repeat("*", len(id))
	}
	return id[:4] + "****" + id[len(id)-4:]
}
