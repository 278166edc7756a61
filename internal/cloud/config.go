// Package cloud resolves Alibaba Cloud credentials, region and ECS endpoint
// for the daemon and builds the aliyungo ECS client from them.
//
// Resolution (ResolveEnv) depends only on the command-line values and an Env
// (an environment lookup function, HOME taken from it, an HTTP client and
// the metadata service's address), so it can be tested without touching the
// process environment.
// Credentials and the region are each taken from the first provider in an
// ordered list that has them (see Providers):
//
//  1. flags (--access-key-id, --access-key-secret, --security-token, --region);
//  2. with --profile: that profile, from the aliyun CLI's config.json, else
//     ~/.alibabacloud/credentials (an explicit flag beats ambient variables);
//  3. ALIBABA_CLOUD_ACCESS_KEY_ID / _SECRET / _SECURITY_TOKEN / ALIBABA_CLOUD_REGION_ID;
//  4. Terraform's ALICLOUD_ACCESS_KEY / _SECRET_KEY / _SECURITY_TOKEN / ALICLOUD_REGION;
//  5. the aliyun CLI profile in ~/.aliyun/config.json (ALIBABA_CLOUD_CONFIG_FILE;
//     profile ALIBABA_CLOUD_PROFILE, else "current") in mode AK, StsToken,
//     RamRoleArn, ChainableRamRoleArn or EcsRamRole;
//  6. ~/.alibabacloud/credentials (ALIBABA_CLOUD_CREDENTIALS_FILE; section
//     ALIBABA_CLOUD_PROFILE, else [default]);
//  7. the ECS instance RAM role from the metadata service (METADATA_ENDPOINT),
//     and the instance's region-id.
//
// Temporary credentials (RamRoleArn, EcsRamRole, the instance RAM role)
// carry an expiry and a way to get fresh ones; ClientSource refreshes them
// before they expire.
package cloud

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode"

	"infrakit.aliyun/internal/redact"
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

	// Profiles: the aliyun CLI's config.json and credentials-go's INI file.
	EnvProfile         = "ALIBABA_CLOUD_PROFILE"
	EnvConfigFile      = "ALIBABA_CLOUD_CONFIG_FILE"
	EnvCredentialsFile = "ALIBABA_CLOUD_CREDENTIALS_FILE"

	// STS endpoint for RamRoleArn profiles (a URL or a host name), and the
	// STS region used when no endpoint is given.
	EnvSTSEndpoint = "ALIBABA_CLOUD_STS_ENDPOINT"
	EnvSTSRegion   = "ALIBABA_CLOUD_STS_REGION"

	// Metadata service: METADATA_ENDPOINT is aliyungo's override
	// (http://host[:port]); ALIBABA_CLOUD_ECS_METADATA names the RAM role
	// (skipping the listing); ALIBABA_CLOUD_ECS_METADATA_DISABLED=true
	// turns the metadata service off.
	EnvMetadataEndpoint  = "METADATA_ENDPOINT"
	EnvECSMetadataRole   = "ALIBABA_CLOUD_ECS_METADATA"
	EnvECSMetadataOff    = "ALIBABA_CLOUD_ECS_METADATA_DISABLED"
	DefaultMetadataHost  = "http://100.100.100.200"
	DefaultSTSEndpoint   = "https://sts.aliyuncs.com"
	defaultSessionName   = "infrakit-instance-aliyun"
	defaultRoleDuration  = time.Hour
	metadataPathPrefix   = "/latest/meta-data/"
	credentialTimeFormat = "2006-01-02T15:04:05Z"
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
	// Profile names the profile (--profile) in the aliyun CLI config or the
	// credentials file; given, it ranks right after the credential flags.
	Profile string
	// STSEndpoint is where RamRoleArn profiles call AssumeRole (--sts-endpoint).
	STSEndpoint string
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

	// Expiration is when temporary credentials expire; zero for permanent
	// ones. ClientSource refreshes them before then.
	Expiration time.Time
	// refresh fetches new temporary credentials; nil for static ones.
	refresh func() (Credentials, error)
	// refreshKind is the kind of refresh (RefreshAssumeRole, ...).
	refreshKind string
}

// Kinds of refreshable credentials: few, fixed and free of names, so they
// can label a metric (metrics.CredentialRefresh).
const (
	// RefreshAssumeRole: STS AssumeRole (RamRoleArn, ChainableRamRoleArn,
	// ram_role_arn profiles).
	RefreshAssumeRole = "assume_role"
	// RefreshECSRAMRole: the ECS instance RAM role from the metadata service.
	RefreshECSRAMRole = "ecs_ram_role"
	// RefreshOther: refreshable credentials of no known kind.
	RefreshOther = "other"
)

// Temporary reports whether the credentials expire and can be refreshed.
func (c Config) Temporary() bool { return c.refresh != nil }

// RefreshKind is how temporary credentials are refreshed (RefreshAssumeRole,
// RefreshECSRAMRole, RefreshOther); "" for permanent ones.
func (c Config) RefreshKind() string {
	switch {
	case c.refresh == nil:
		return ""
	case c.refreshKind == "":
		return RefreshOther
	}
	return c.refreshKind
}

// Credentials is one complete set of credentials.
type Credentials struct {
	AccessKeyID     string
	AccessKeySecret string
	SecurityToken   string

	// Expiration is set for temporary credentials (zero: they do not expire).
	Expiration time.Time
	// Source, when set, names the origin more precisely than the provider's
	// Name (e.g. which profile and file); it is safe to log.
	Source string
	// refresh gets a new set; set by providers of temporary credentials,
	// with refreshKind.
	refresh     func() (Credentials, error)
	refreshKind string
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

// RegionSourcer is implemented by providers that can name their region's
// origin more precisely than Name.
type RegionSourcer interface{ RegionSource() string }

// regionSource names where a provider's region came from.
func regionSource(p Provider) string {
	if rs, ok := p.(RegionSourcer); ok {
		return rs.RegionSource()
	}
	if e, ok := p.(EnvProvider); ok {
		return "env " + e.RegionVar
	}
	if _, ok := p.(FlagProvider); ok {
		return "flag --region"
	}
	return p.Name()
}

// Providers is the ordered chain: flags; the --profile profile if the flag
// is given; the ALIBABA_CLOUD_* environment; Terraform's ALICLOUD_*
// environment; the aliyun CLI profile; ~/.alibabacloud/credentials; the ECS
// instance RAM role and region from the metadata service.
func Providers(flags Flags, env Env) []Provider {
	profiles := newProfileProvider(flags, env)
	ps := []Provider{FlagProvider{Flags: flags}}
	if flags.Profile != "" {
		ps = append(ps, profiles)
	}
	ps = append(ps, AlibabaCloudEnv(env.Lookup), TerraformEnv(env.Lookup))
	if flags.Profile == "" {
		ps = append(ps, profiles)
	}
	return append(ps, newMetadataProvider(env))
}

// ResolveEnv resolves the configuration from the command-line values and
// env with the default provider chain (Providers). Flags win.
func ResolveEnv(flags Flags, env Env) (Config, error) {
	return ResolveWith(flags.Endpoint, Providers(flags, env)...)
}

// ErrNoCredentials and ErrNoRegion are wrapped by the errors ResolveWith
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
			cfg.Source = p.Name()
			cfg = cfg.withCredentials(c)
			credsFound = true
			break
		}
	}
	if !credsFound {
		errs = append(errs, fmt.Errorf("%w: set --access-key-id and --access-key-secret, or %s and %s (optionally %s), or Terraform's %s and %s, "+
			"or configure a profile (aliyun configure; ~/.alibabacloud/credentials; --profile or %s), or run on ECS with an instance RAM role",
			ErrNoCredentials, EnvAccessKeyID, EnvAccessKeySecret, EnvSecurityToken, EnvTFAccessKey, EnvTFSecretKey, EnvProfile))
	} else if cfg.Source != "" {
		for _, err := range cfg.credentialErrors() {
			errs = append(errs, fmt.Errorf("credentials from %s: %w", cfg.Source, err))
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
		errs = append(errs, fmt.Errorf("%w: set --region, or %s (or Terraform's %s), or region_id in the profile, e.g. cn-hangzhou",
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

// withCredentials returns cfg with c's credentials and expiry; c.Source,
// when set, replaces cfg.Source.
func (cfg Config) withCredentials(c Credentials) Config {
	cfg.AccessKeyID, cfg.AccessKeySecret, cfg.SecurityToken = c.AccessKeyID, c.AccessKeySecret, c.SecurityToken
	cfg.Expiration, cfg.refresh, cfg.refreshKind = c.Expiration, c.refresh, c.refreshKind
	if c.Source != "" {
		cfg.Source = c.Source
	}
	return cfg
}

// credentialErrors rejects credential values that cannot be right (spaces,
// control characters), one error per field; messages name the field, never
// the value.
func (cfg Config) credentialErrors() []error {
	var errs []error
	for _, f := range []struct{ what, v string }{
		{"access key id", cfg.AccessKeyID}, {"access key secret", cfg.AccessKeySecret}, {"security token", cfg.SecurityToken},
	} {
		if strings.ContainsFunc(f.v, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
			errs = append(errs, fmt.Errorf("%s contains whitespace or control characters", f.what))
		}
	}
	return errs
}

func checkEndpoint(endpoint string) error {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--endpoint %q must be an http:// or https:// URL", redact.URL(endpoint))
	}
	if u.User != nil {
		return fmt.Errorf("--endpoint %q must not contain user information", redact.URL(endpoint))
	}
	return nil
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
	Expiration       string `json:"expiration,omitempty"`
}

func (c Config) safe() safe {
	exp := ""
	if !c.Expiration.IsZero() {
		exp = c.Expiration.UTC().Format(credentialTimeFormat)
	}
	return safe{AccessKeyID: MaskID(c.AccessKeyID), Region: c.Region, Endpoint: redact.URL(c.Endpoint),
		Source: c.Source, RegionSource: c.RegionSource, HasSecurityToken: c.SecurityToken != "", Expiration: exp}
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
