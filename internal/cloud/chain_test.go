package cloud

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"infrakit.aliyun/emulator"
)

// Tests of the provider chain beyond flags and the environment: profile
// files, AssumeRole, the metadata service, and credential refresh. Every
// source is also used for a real call against the emulator.

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock           { return &testClock{t: time.Now().UTC().Truncate(time.Second)} }
func (c *testClock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }
func mapEnv(m map[string]string) LookupEnv {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// fixture is an emulator, an optional metadata fake and a HOME directory.
type fixture struct {
	t     *testing.T
	emu   *emulator.Server
	md    *emulator.MetadataServer
	clock *testClock // STS credential clock (emulator and ClientSource)
	home  string
	env   map[string]string
}

func newFixture(t *testing.T, withRole bool) *fixture {
	t.Helper()
	f := &fixture{t: t, clock: newTestClock(), home: t.TempDir()}
	emu, err := emulator.New(emulator.Options{
		AccessKeys: map[string]string{"AKIDflags0001": "flag-secret", "AKIDenv000002": "env-secret", "AKIDtf0000003": "tf-secret",
			"AKIDcli000004": "cli-secret", "AKIDini000005": "ini-secret", "AKIDsrc000006": "src-secret"},
		STSKeys: map[string]emulator.STSCredential{"STS.static0007": {AccessKeySecret: "sts-secret", SecurityToken: "sts-token-7"}},
		STSNow:  f.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emu.Close() })
	f.emu = emu
	opts := emulator.MetadataOptions{Region: "cn-beijing", Issuer: emu, TTL: time.Hour}
	if withRole {
		opts.RoleName = "infrakit-node"
	}
	md, err := emulator.NewMetadataServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { md.Close() })
	f.md = md
	f.env = map[string]string{"HOME": f.home, EnvMetadataEndpoint: md.URL(), EnvSTSEndpoint: emu.URL()}
	return f
}

func (f *fixture) resolve(flags Flags) (Config, error) {
	if flags.Endpoint == "" {
		flags.Endpoint = f.emu.URL()
	}
	return ResolveEnv(flags, Env{Lookup: mapEnv(f.env)})
}

// works makes a real, signed DescribeRegions call with cfg.
func (f *fixture) works(cfg Config) {
	f.t.Helper()
	c, err := NewECSClient(cfg)
	noErr(f.t, err)
	if _, err := c.DescribeRegions(); err != nil {
		f.t.Fatalf("DescribeRegions with credentials from %s: %v", cfg.Source, err)
	}
}

const cliConfigJSON = `{
  "current": "dev",
  "profiles": [
    {"name": "dev", "mode": "AK", "access_key_id": "AKIDcli000004", "access_key_secret": "cli-secret", "region_id": "cn-shenzhen"},
    {"name": "sts", "mode": "StsToken", "access_key_id": "STS.static0007", "access_key_secret": "sts-secret", "sts_token": "sts-token-7", "region_id": "cn-hangzhou"},
    {"name": "role", "mode": "RamRoleArn", "access_key_id": "AKIDsrc000006", "access_key_secret": "src-secret",
     "ram_role_arn": "acs:ram::1234567890:role/infrakit", "ram_session_name": "infrakit-test", "expired_seconds": 900, "region_id": "cn-hangzhou"},
    {"name": "chain", "mode": "ChainableRamRoleArn", "source_profile": "role", "ram_role_arn": "acs:ram::1234567890:role/second"},
    {"name": "ecsrole", "mode": "EcsRamRole", "ram_role_name": "infrakit-node"},
    {"name": "sso", "mode": "CloudSSO"}
  ]
}`

const credentialsINI = `# alibabacloud credentials
[default]
enable = true
type = access_key
access_key_id = AKIDini000005
access_key_secret = "ini-secret"

[off]
enable = false
type = access_key
access_key_id = AKIDini000005
access_key_secret = ini-secret

[assume]
type = ram_role_arn
access_key_id = AKIDsrc000006
access_key_secret = src-secret
role_arn = acs:ram::1234567890:role/infrakit
role_session_name = ini-session
`

func TestChainOrderEachSourceAgainstEmulator(t *testing.T) {
	f := newFixture(t, true)
	writeFile(t, filepath.Join(f.home, ".aliyun", "config.json"), cliConfigJSON)
	writeFile(t, filepath.Join(f.home, ".alibabacloud", "credentials"), credentialsINI)
	f.env[EnvAccessKeyID], f.env[EnvAccessKeySecret] = "AKIDenv000002", "env-secret"
	f.env[EnvTFAccessKey], f.env[EnvTFSecretKey] = "AKIDtf0000003", "tf-secret"
	flags := Flags{AccessKeyID: "AKIDflags0001", AccessKeySecret: "flag-secret", Region: "cn-hangzhou"}

	// Remove one source after another: the next one down the list wins.
	steps := []struct {
		wantID, wantSource string
		remove             func()
	}{
		{"AKIDflags0001", "flags", func() { flags.AccessKeyID, flags.AccessKeySecret = "", "" }},
		{"AKIDenv000002", "env ALIBABA_CLOUD_ACCESS_KEY_ID", func() { delete(f.env, EnvAccessKeyID); delete(f.env, EnvAccessKeySecret) }},
		{"AKIDtf0000003", "env ALICLOUD_ACCESS_KEY", func() { delete(f.env, EnvTFAccessKey); delete(f.env, EnvTFSecretKey) }},
		{"AKIDcli000004", `aliyun CLI profile "dev"`, func() { os.Remove(filepath.Join(f.home, ".aliyun", "config.json")) }},
		{"AKIDini000005", `credentials file profile "default"`, func() { os.Remove(filepath.Join(f.home, ".alibabacloud", "credentials")) }},
		{"STS.emu", "ECS RAM role infrakit-node (metadata", nil},
	}
	for _, s := range steps {
		cfg, err := f.resolve(flags)
		noErr(t, err)
		if !strings.HasPrefix(cfg.AccessKeyID, s.wantID) || !strings.HasPrefix(cfg.Source, s.wantSource) {
			t.Fatalf("got key %s from %q, want %s from %q", MaskID(cfg.AccessKeyID), cfg.Source, s.wantID, s.wantSource)
		}
		f.works(cfg)
		if s.remove != nil {
			s.remove()
		}
	}
}

func TestRegionOrder(t *testing.T) {
	f := newFixture(t, false)
	writeFile(t, filepath.Join(f.home, ".aliyun", "config.json"), cliConfigJSON)
	f.env[EnvAccessKeyID], f.env[EnvAccessKeySecret] = "AKIDenv000002", "env-secret"
	f.env[EnvRegionID] = "cn-qingdao"
	flags := Flags{Region: "cn-hangzhou"}
	for _, want := range []struct{ region, source string }{
		{"cn-hangzhou", "flag --region"},
		{"cn-qingdao", "env ALIBABA_CLOUD_REGION_ID"},
		{"cn-shenzhen", `aliyun CLI profile "dev"`},
		{"cn-beijing", "metadata service region-id"},
	} {
		cfg, err := f.resolve(flags)
		noErr(t, err)
		if cfg.Region != want.region || !strings.HasPrefix(cfg.RegionSource, want.source) {
			t.Fatalf("region %s from %q, want %s from %q", cfg.Region, cfg.RegionSource, want.region, want.source)
		}
		switch {
		case flags.Region != "":
			flags.Region = ""
		case f.env[EnvRegionID] != "":
			delete(f.env, EnvRegionID)
		default:
			os.Remove(filepath.Join(f.home, ".aliyun", "config.json"))
		}
	}
}

func TestProfileFlagBeatsEnvironmentButEnvProfileDoesNot(t *testing.T) {
	f := newFixture(t, false)
	writeFile(t, filepath.Join(f.home, ".aliyun", "config.json"), cliConfigJSON)
	f.env[EnvAccessKeyID], f.env[EnvAccessKeySecret] = "AKIDenv000002", "env-secret"

	cfg, err := f.resolve(Flags{Profile: "sts"})
	noErr(t, err)
	equal(t, "STS.static0007", cfg.AccessKeyID)
	equal(t, "sts-token-7", cfg.SecurityToken)
	contains(t, cfg.Source, `aliyun CLI profile "sts"`)
	f.works(cfg)

	f.env[EnvProfile] = "sts"
	cfg, err = f.resolve(Flags{})
	noErr(t, err)
	equal(t, "AKIDenv000002", cfg.AccessKeyID, "keys in the environment beat ALIBABA_CLOUD_PROFILE")
	delete(f.env, EnvAccessKeyID)
	delete(f.env, EnvAccessKeySecret)
	cfg, err = f.resolve(Flags{})
	noErr(t, err)
	equal(t, "STS.static0007", cfg.AccessKeyID, "ALIBABA_CLOUD_PROFILE selects the profile")
}

func TestProfileErrors(t *testing.T) {
	f := newFixture(t, false)
	writeFile(t, filepath.Join(f.home, ".aliyun", "config.json"), cliConfigJSON)
	writeFile(t, filepath.Join(f.home, ".alibabacloud", "credentials"), credentialsINI)
	for _, tc := range []struct {
		name  string
		flags Flags
		env   map[string]string
		want  []string
	}{
		{"unknown profile", Flags{Profile: "nope"}, nil, []string{`profile "nope" not found`, "config.json", "credentials"}},
		{"unsupported mode", Flags{Profile: "sso"}, nil, []string{"mode CloudSSO is not supported"}},
		{"disabled ini section", Flags{Profile: "off"}, nil, []string{`profile "off" not found`}},
		{"missing override file", Flags{}, map[string]string{EnvConfigFile: filepath.Join(f.home, "missing.json")}, []string{"missing.json"}},
		{"EcsRamRole without metadata", Flags{Profile: "ecsrole"}, map[string]string{EnvECSMetadataOff: "true"}, []string{"metadata service"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				f.env[k] = v
				defer delete(f.env, k)
			}
			_, err := f.resolve(tc.flags)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				contains(t, err.Error(), w)
			}
			for _, secret := range []string{"cli-secret", "ini-secret", "src-secret", "sts-secret", "sts-token-7"} {
				notContains(t, err.Error(), secret)
			}
		})
	}
	writeFile(t, filepath.Join(f.home, ".aliyun", "config.json"), `{"current": "default", "profiles": [{"name": "default", "mode": "AK", "access_key_id": "", "access_key_secret": "cli-secret"`)
	_, err := f.resolve(Flags{Region: "cn-hangzhou"})
	if err == nil || !strings.Contains(err.Error(), "not valid JSON") || strings.Contains(err.Error(), "cli-secret") {
		t.Errorf("malformed config.json: %v", err)
	}
}

func TestUnconfiguredCLISkeletonFallsThrough(t *testing.T) {
	f := newFixture(t, false)
	writeFile(t, filepath.Join(f.home, ".aliyun", "config.json"),
		`{"current":"default","profiles":[{"name":"default","mode":"AK","access_key_id":"","access_key_secret":"","region_id":""}]}`)
	writeFile(t, filepath.Join(f.home, ".alibabacloud", "credentials"), credentialsINI)
	cfg, err := f.resolve(Flags{Region: "cn-hangzhou"})
	noErr(t, err)
	equal(t, "AKIDini000005", cfg.AccessKeyID)
	f.works(cfg)
}

func TestCredentialsFileOverrideAndRAMRoleARN(t *testing.T) {
	f := newFixture(t, false)
	path := filepath.Join(t.TempDir(), "creds.ini")
	writeFile(t, path, credentialsINI)
	f.env[EnvCredentialsFile] = path
	f.env[EnvProfile] = "assume"
	cfg, err := f.resolve(Flags{Region: "cn-hangzhou"})
	noErr(t, err)
	if !strings.HasPrefix(cfg.AccessKeyID, "STS.emu") || cfg.SecurityToken == "" || !cfg.Temporary() {
		t.Fatalf("ram_role_arn gave %s (temporary %v)", cfg, cfg.Temporary())
	}
	contains(t, cfg.Source, `credentials file profile "assume"`)
	contains(t, cfg.Source, "type ram_role_arn")
	f.works(cfg)
}

func TestRamRoleArnProfilesAssumeRoleAtTheEmulator(t *testing.T) {
	f := newFixture(t, false)
	writeFile(t, filepath.Join(f.home, ".aliyun", "config.json"), cliConfigJSON)
	for _, profile := range []string{"role", "chain"} {
		cfg, err := f.resolve(Flags{Profile: profile})
		noErr(t, err)
		if !strings.HasPrefix(cfg.AccessKeyID, "STS.emu") || !cfg.Temporary() {
			t.Fatalf("%s: got %s", profile, cfg)
		}
		if d := cfg.Expiration.Sub(f.clock.Now()); profile == "role" && (d < 14*time.Minute || d > 15*time.Minute) {
			t.Errorf("expired_seconds 900 gave a lifetime of %v", d)
		}
		f.works(cfg)
	}
	// A wrong STS endpoint flag wins over the environment and fails loudly.
	_, err := f.resolve(Flags{Profile: "role", STSEndpoint: "http://127.0.0.1:1"})
	if err == nil || !strings.Contains(err.Error(), "AssumeRole") || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("bad --sts-endpoint: %v", err)
	}
	if err != nil && strings.Contains(err.Error(), "Signature=") {
		t.Errorf("error leaks the signed URL: %v", err)
	}
}

func TestEcsRamRoleProfile(t *testing.T) {
	f := newFixture(t, true)
	writeFile(t, filepath.Join(f.home, ".aliyun", "config.json"), cliConfigJSON)
	cfg, err := f.resolve(Flags{Profile: "ecsrole", Region: "cn-hangzhou"})
	noErr(t, err)
	contains(t, cfg.Source, `aliyun CLI profile "ecsrole"`)
	if !cfg.Temporary() || cfg.SecurityToken == "" {
		t.Fatalf("EcsRamRole: %s", cfg)
	}
	f.works(cfg)
}

func TestMetadataUnreachableOrWithoutRoleIsNoCredentials(t *testing.T) {
	f := newFixture(t, false) // metadata up, no role attached
	_, err := f.resolve(Flags{})
	if !errors.Is(err, ErrNoCredentials) {
		t.Fatalf("no role: %v", err)
	}
	f.md.Close()
	_, err = f.resolve(Flags{})
	if !errors.Is(err, ErrNoCredentials) || !errors.Is(err, ErrNoRegion) {
		t.Fatalf("metadata down: %v", err)
	}
	// Without METADATA_ENDPOINT and without Env.MetadataEndpoint the
	// metadata service is never contacted (hermetic default).
	delete(f.env, EnvMetadataEndpoint)
	p := newMetadataProvider(Env{Lookup: mapEnv(f.env)})
	if p.client != nil {
		t.Error("metadata client configured without an endpoint")
	}
	p = newMetadataProvider(Env{Lookup: mapEnv(map[string]string{EnvECSMetadataOff: "true"}), MetadataEndpoint: DefaultMetadataHost})
	if p.client != nil {
		t.Error("ALIBABA_CLOUD_ECS_METADATA_DISABLED ignored")
	}
	p = newMetadataProvider(Env{Lookup: mapEnv(nil), MetadataEndpoint: DefaultMetadataHost})
	if p.client == nil || p.client.base != "http://100.100.100.200/latest/meta-data/" {
		t.Errorf("default metadata base: %+v", p.client)
	}
}

// Off ECS the metadata service does not answer: one failed connection is
// enough to tell (the token request), not one more for the GET.
func TestMetadataUnreachableIsOneConnectionAttempt(t *testing.T) {
	var dials atomic.Int32
	hc := &http.Client{Transport: &http.Transport{DialContext: func(context.Context, string, string) (net.Conn, error) {
		dials.Add(1)
		return nil, errors.New("no route to host")
	}}}
	_, err := ResolveEnv(Flags{AccessKeyID: "id", AccessKeySecret: "secret"},
		Env{Lookup: mapEnv(nil), HTTPClient: hc, MetadataEndpoint: DefaultMetadataHost})
	if !errors.Is(err, ErrNoRegion) {
		t.Fatalf("got %v, want ErrNoRegion", err)
	}
	equal(t, int32(1), dials.Load())
}

func TestMetadataIMDSv2Token(t *testing.T) {
	clock := newTestClock()
	emu, err := emulator.New(emulator.Options{STSNow: clock.Now})
	noErr(t, err)
	defer emu.Close()
	md, err := emulator.NewMetadataServer(emulator.MetadataOptions{RoleName: "r1", Issuer: emu, RequireToken: true, Region: "cn-hangzhou"})
	noErr(t, err)
	defer md.Close()
	cfg, err := ResolveEnv(Flags{Endpoint: emu.URL()}, Env{Lookup: mapEnv(map[string]string{EnvMetadataEndpoint: md.URL() + "/latest/meta-data/"})})
	noErr(t, err)
	equal(t, "cn-hangzhou", cfg.Region)
	contains(t, cfg.Source, "ECS RAM role r1")
	c, err := NewECSClient(cfg)
	noErr(t, err)
	_, err = c.DescribeRegions()
	noErr(t, err)
}
