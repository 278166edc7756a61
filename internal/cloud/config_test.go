package cloud

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
)

func TestResolve(t *testing.T) {
	full := map[string]string{
		EnvAccessKeyID: "env-id", EnvAccessKeySecret: "env-secret", EnvSecurityToken: "env-token", EnvRegionID: "cn-beijing",
		EnvTFAccessKey: "tf-id", EnvTFSecretKey: "tf-secret", EnvTFSecurityToken: "tf-token", EnvTFRegion: "cn-shanghai",
	}
	tf := map[string]string{EnvTFAccessKey: "tf-id", EnvTFSecretKey: "tf-secret", EnvTFRegion: "cn-shanghai"}

	tests := []struct {
		name    string
		flags   Flags
		env     map[string]string
		want    Config
		wantErr []string // substrings
		is      []error
	}{
		{
			name:  "flags only",
			flags: Flags{AccessKeyID: "f-id", AccessKeySecret: "f-secret", Region: "cn-hangzhou"},
			want: Config{AccessKeyID: "f-id", AccessKeySecret: "f-secret", Region: "cn-hangzhou",
				Endpoint: "https://ecs.cn-hangzhou.aliyuncs.com", Source: "flags", RegionSource: "flag --region", EndpointSource: "default"},
		},
		{
			name:  "flags win over both env families, token not mixed in from env",
			flags: Flags{AccessKeyID: "f-id", AccessKeySecret: "f-secret", Region: "us-west-1", Endpoint: "http://127.0.0.1:9999"},
			env:   full,
			want: Config{AccessKeyID: "f-id", AccessKeySecret: "f-secret", Region: "us-west-1",
				Endpoint: "http://127.0.0.1:9999", Source: "flags", RegionSource: "flag --region", EndpointSource: "flag --endpoint"},
		},
		{
			name:  "flag token",
			flags: Flags{AccessKeyID: "f-id", AccessKeySecret: "f-secret", SecurityToken: "f-token", Region: "cn-hangzhou"},
			want: Config{AccessKeyID: "f-id", AccessKeySecret: "f-secret", SecurityToken: "f-token", Region: "cn-hangzhou",
				Endpoint: "https://ecs.cn-hangzhou.aliyuncs.com", Source: "flags", RegionSource: "flag --region", EndpointSource: "default"},
		},
		{
			name: "ALIBABA_CLOUD env wins over Terraform env",
			env:  full,
			want: Config{AccessKeyID: "env-id", AccessKeySecret: "env-secret", SecurityToken: "env-token", Region: "cn-beijing",
				Endpoint: "https://ecs.cn-beijing.aliyuncs.com", Source: "env ALIBABA_CLOUD_ACCESS_KEY_ID",
				RegionSource: "env ALIBABA_CLOUD_REGION_ID", EndpointSource: "default"},
		},
		{
			name: "Terraform env",
			env:  tf,
			want: Config{AccessKeyID: "tf-id", AccessKeySecret: "tf-secret", Region: "cn-shanghai",
				Endpoint: "https://ecs.cn-shanghai.aliyuncs.com", Source: "env ALICLOUD_ACCESS_KEY",
				RegionSource: "env ALICLOUD_REGION", EndpointSource: "default"},
		},
		{
			name:  "region flag with env credentials",
			flags: Flags{Region: "eu-central-1"},
			env:   tf,
			want: Config{AccessKeyID: "tf-id", AccessKeySecret: "tf-secret", Region: "eu-central-1",
				Endpoint: "https://ecs.eu-central-1.aliyuncs.com", Source: "env ALICLOUD_ACCESS_KEY",
				RegionSource: "flag --region", EndpointSource: "default"},
		},
		{
			name: "credentials and region from different env families",
			env:  map[string]string{EnvAccessKeyID: "env-id", EnvAccessKeySecret: "env-secret", EnvTFRegion: "cn-shanghai"},
			want: Config{AccessKeyID: "env-id", AccessKeySecret: "env-secret", Region: "cn-shanghai",
				Endpoint: "https://ecs.cn-shanghai.aliyuncs.com", Source: "env ALIBABA_CLOUD_ACCESS_KEY_ID",
				RegionSource: "env ALICLOUD_REGION", EndpointSource: "default"},
		},
		{
			name: "empty env values count as unset",
			env:  map[string]string{EnvAccessKeyID: "", EnvAccessKeySecret: "", EnvRegionID: "", EnvTFAccessKey: "tf-id", EnvTFSecretKey: "tf-secret", EnvTFRegion: "cn-shanghai"},
			want: Config{AccessKeyID: "tf-id", AccessKeySecret: "tf-secret", Region: "cn-shanghai",
				Endpoint: "https://ecs.cn-shanghai.aliyuncs.com", Source: "env ALICLOUD_ACCESS_KEY",
				RegionSource: "env ALICLOUD_REGION", EndpointSource: "default"},
		},
		{
			name: "a lone token in the env is ignored",
			env:  map[string]string{EnvSecurityToken: "stale", EnvTFAccessKey: "tf-id", EnvTFSecretKey: "tf-secret", EnvTFRegion: "cn-shanghai"},
			want: Config{AccessKeyID: "tf-id", AccessKeySecret: "tf-secret", Region: "cn-shanghai",
				Endpoint: "https://ecs.cn-shanghai.aliyuncs.com", Source: "env ALICLOUD_ACCESS_KEY",
				RegionSource: "env ALICLOUD_REGION", EndpointSource: "default"},
		},
		{
			name:    "nothing at all names what to set",
			wantErr: []string{"no Alibaba Cloud credentials", "--access-key-id", "ALIBABA_CLOUD_ACCESS_KEY_ID", "ALICLOUD_ACCESS_KEY", "no Alibaba Cloud region", "--region", "ALIBABA_CLOUD_REGION_ID", "ALICLOUD_REGION"},
			is:      []error{ErrNoCredentials, ErrNoRegion},
		},
		{
			name:    "missing region only",
			flags:   Flags{AccessKeyID: "f-id", AccessKeySecret: "f-secret"},
			wantErr: []string{"no Alibaba Cloud region", "--region", "ALIBABA_CLOUD_REGION_ID"},
			is:      []error{ErrNoRegion},
		},
		{
			name:    "missing credentials only",
			env:     map[string]string{EnvRegionID: "cn-hangzhou"},
			wantErr: []string{"no Alibaba Cloud credentials"},
			is:      []error{ErrNoCredentials},
		},
		{
			name:    "flag id without secret does not fall through to env",
			flags:   Flags{AccessKeyID: "f-id", Region: "cn-hangzhou"},
			env:     full,
			wantErr: []string{"--access-key-secret is required"},
		},
		{
			name:    "flag secret without id",
			flags:   Flags{AccessKeySecret: "f-secret", Region: "cn-hangzhou"},
			wantErr: []string{"--access-key-id is required"},
		},
		{
			name:    "flag token without keys",
			flags:   Flags{SecurityToken: "f-token", Region: "cn-hangzhou"},
			wantErr: []string{"--access-key-id is required"},
		},
		{
			name:    "env id without secret",
			env:     map[string]string{EnvAccessKeyID: "env-id", EnvRegionID: "cn-hangzhou", EnvTFAccessKey: "tf-id", EnvTFSecretKey: "tf-secret"},
			wantErr: []string{"ALIBABA_CLOUD_ACCESS_KEY_ID is set but ALIBABA_CLOUD_ACCESS_KEY_SECRET is not"},
		},
		{
			name:    "Terraform secret without id",
			env:     map[string]string{EnvTFSecretKey: "tf-secret", EnvTFRegion: "cn-hangzhou"},
			wantErr: []string{"ALICLOUD_SECRET_KEY is set but ALICLOUD_ACCESS_KEY is not"},
		},
		{
			name:    "malformed region",
			flags:   Flags{AccessKeyID: "f-id", AccessKeySecret: "f-secret", Region: "CN Hangzhou"},
			wantErr: []string{`region "CN Hangzhou" from flag --region`},
		},
		{
			name:    "secret with whitespace is rejected without echoing it",
			flags:   Flags{AccessKeyID: "f-id", AccessKeySecret: "top secret\n", Region: "cn-hangzhou"},
			wantErr: []string{"access key secret contains whitespace"},
		},
		{
			name:    "endpoint must be a URL",
			flags:   Flags{AccessKeyID: "f-id", AccessKeySecret: "f-secret", Region: "cn-hangzhou", Endpoint: "ecs.example.com"},
			wantErr: []string{"--endpoint", "http:// or https://"},
		},
		{
			name:    "endpoint must not carry user info",
			flags:   Flags{AccessKeyID: "f-id", AccessKeySecret: "f-secret", Region: "cn-hangzhou", Endpoint: "https://u:hunter2@ecs.example.com"},
			wantErr: []string{"must not contain user information"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ResolveEnv(tt.flags, Env{Lookup: mapEnv(tt.env)})
			if len(tt.wantErr) == 0 {
				noErr(t, err)
				equal(t, tt.want, got)
				return
			}
			if err == nil {
				t.Fatalf("no error; got %v", got)
			}
			equal(t, Config{}, got)
			for _, s := range tt.wantErr {
				contains(t, err.Error(), s)
			}
			for _, target := range tt.is {
				if !errors.Is(err, target) {
					t.Errorf("error does not match %v", target)
				}
			}
			// No error ever repeats a secret.
			for _, secret := range []string{"f-secret", "env-secret", "tf-secret", "f-token", "env-token", "tf-token", "top secret", "hunter2"} {
				notContains(t, err.Error(), secret)
			}
		})
	}
}

// A provider that is later in the chain is consulted only when the earlier
// ones have nothing; a custom provider slots in without touching ResolveWith.
type fakeProvider struct {
	name   string
	creds  *Credentials
	region string
	calls  *[]string
}

func (p fakeProvider) Name() string { return p.name }
func (p fakeProvider) Credentials() (Credentials, bool, error) {
	*p.calls = append(*p.calls, p.name+".creds")
	if p.creds == nil {
		return Credentials{}, false, nil
	}
	return *p.creds, true, nil
}
func (p fakeProvider) Region() (string, bool, error) {
	*p.calls = append(*p.calls, p.name+".region")
	return p.region, p.region != "", nil
}

func TestResolveWithOrderedProviders(t *testing.T) {
	var calls []string
	cfg, err := ResolveWith("",
		fakeProvider{name: "a", calls: &calls},
		fakeProvider{name: "b", creds: &Credentials{AccessKeyID: "id", AccessKeySecret: "secret"}, calls: &calls},
		fakeProvider{name: "c", creds: &Credentials{AccessKeyID: "other", AccessKeySecret: "other"}, region: "ap-southeast-1", calls: &calls},
	)
	noErr(t, err)
	equal(t, "b", cfg.Source)
	equal(t, "id", cfg.AccessKeyID)
	equal(t, "ap-southeast-1", cfg.Region)
	equal(t, "c", cfg.RegionSource)
	equal(t, []string{"a.creds", "b.creds", "a.region", "b.region", "c.region"}, calls)
}

func TestConfigNeverPrintsSecrets(t *testing.T) {
	cfg := Config{AccessKeyID: "LTAI5tExampleKeyID", AccessKeySecret: "s3cr3t-value", SecurityToken: "sts-token-value",
		Region: "cn-hangzhou", Endpoint: "https://ecs.cn-hangzhou.aliyuncs.com", Source: "flags"}
	b, err := json.Marshal(cfg)
	noErr(t, err)
	for _, s := range []string{
		fmt.Sprint(cfg), fmt.Sprintf("%v", cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), cfg.String(),
		fmt.Sprint(&cfg), string(b),
	} {
		notContains(t, s, "s3cr3t-value")
		notContains(t, s, "sts-token-value")
		notContains(t, s, "LTAI5tExampleKeyID")
		contains(t, s, "cn-hangzhou")
	}
	equal(t, []string{"s3cr3t-value", "sts-token-value"}, cfg.Secrets())
}

func TestDefaultEndpoint(t *testing.T) {
	equal(t, "https://ecs.ap-southeast-1.aliyuncs.com", DefaultEndpoint("ap-southeast-1"))
}
