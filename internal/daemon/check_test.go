package daemon

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/docker/infrakit/pkg/spi/instance"

	"infrakit.aliyun/emulator"
	"infrakit.aliyun/internal/rpcserver"
	"infrakit.aliyun/internal/testutil"
)

func runCheckCmd(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	cmd := NewRootCommand(Deps{LookupEnv: mapEnv(env)})
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(append([]string{"check"}, args...))
	err := cmd.Execute()
	return out.String(), err
}

func TestCheckCommand(t *testing.T) {
	emu, err := emulator.New(emulator.Options{AccessKeys: map[string]string{"LTAIcheck0000001": "check-secret-1"}})
	noErr(t, err)
	defer emu.Close()
	md, err := emulator.NewMetadataServer(emulator.MetadataOptions{Region: "cn-hangzhou", RoleName: "node-role", Issuer: emu})
	noErr(t, err)
	defer md.Close()
	home := t.TempDir()
	noErr(t, os.MkdirAll(filepath.Join(home, ".aliyun"), 0o700))
	noErr(t, os.WriteFile(filepath.Join(home, ".aliyun", "config.json"), []byte(`{"current":"p1","profiles":[
		{"name":"p1","mode":"AK","access_key_id":"LTAIcheck0000001","access_key_secret":"check-secret-1","region_id":"cn-shanghai"}]}`), 0o600))
	ep := "--endpoint=" + emu.URL()

	for _, tc := range []struct {
		name   string
		env    map[string]string
		args   []string
		ok     bool
		want   []string
		secret []string
	}{
		{"environment", map[string]string{"ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAIcheck0000001", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "check-secret-1"},
			[]string{ep, "--region", "cn-hangzhou"}, true,
			[]string{"credentials:    env ALIBABA_CLOUD_ACCESS_KEY_ID", "access key id:  LTAI****0001", "security token: not set",
				"region:         cn-hangzhou (flag --region)", "(flag --endpoint)", "DescribeInstances: OK"}, []string{"check-secret-1"}},
		{"cli profile", map[string]string{"HOME": home}, []string{ep, "--profile", "p1"}, true,
			[]string{`aliyun CLI profile "p1"`, "mode AK", "region:         cn-shanghai (aliyun CLI profile \"p1\"", "DescribeInstances: OK"}, []string{"check-secret-1"}},
		{"ram role", map[string]string{"METADATA_ENDPOINT": md.URL()}, []string{ep}, true,
			[]string{"ECS RAM role node-role", "security token: set, expires", "refreshes it", "metadata service region-id", "DescribeInstances: OK"}, nil},
		{"wrong secret", map[string]string{"ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAIcheck0000001", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "wrong-secret-2"},
			[]string{ep, "--region", "cn-hangzhou"}, false,
			[]string{"DescribeInstances: FAILED: SignatureDoesNotMatch (HTTP 400", "hint: the access key secret", "troubleshooting.md"},
			[]string{"wrong-secret-2", "string to sign", "Signature="}},
		{"unknown key", map[string]string{"ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAIunknown00009", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "any-secret-3",
			"ALIBABA_CLOUD_SECURITY_TOKEN": "some-token-4"}, []string{ep, "--region", "cn-hangzhou"}, false,
			[]string{"InvalidAccessKeyId.NotFound", "hint: the access key id does not exist", "security token: set"},
			[]string{"any-secret-3", "some-token-4"}},
		{"nothing configured", map[string]string{"HOME": t.TempDir()}, []string{ep}, false,
			[]string{"configuration: FAILED", "no Alibaba Cloud credentials", "no Alibaba Cloud region"}, nil},
		{"unknown profile", map[string]string{"HOME": home}, []string{ep, "--profile", "nope", "--region", "cn-hangzhou"}, false,
			[]string{`profile "nope" not found`}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runCheckCmd(t, tc.env, tc.args...)
			if tc.ok != (err == nil) {
				t.Fatalf("err = %v, want ok=%v\n%s", err, tc.ok, out)
			}
			if !tc.ok && !errors.Is(err, errCheckFailed) {
				t.Errorf("error %v is not errCheckFailed", err)
			}
			for _, w := range tc.want {
				contains(t, out, w)
			}
			for _, s := range tc.secret {
				notContains(t, out, s)
			}
		})
	}
}

// With temporary credentials the daemon hands the plugin a client source
// (so credentials rotate); with permanent ones it does not. --profile is
// a persistent flag, so the helper subcommands take it too.
func TestDaemonPassesClientSourceForTemporaryCredentials(t *testing.T) {
	emu, err := emulator.New(emulator.Options{})
	noErr(t, err)
	defer emu.Close()
	md, err := emulator.NewMetadataServer(emulator.MetadataOptions{Region: "cn-hangzhou", RoleName: "node-role", Issuer: emu, TTL: time.Hour})
	noErr(t, err)
	defer md.Close()

	for _, tc := range []struct {
		name      string
		env       map[string]string
		temporary bool
	}{
		{"ram role", map[string]string{"METADATA_ENDPOINT": md.URL()}, true},
		{"static keys", map[string]string{"ALIBABA_CLOUD_ACCESS_KEY_ID": emulator.DefaultAccessKeyID,
			"ALIBABA_CLOUD_ACCESS_KEY_SECRET": emulator.DefaultAccessKeySecret, "ALIBABA_CLOUD_REGION_ID": "cn-hangzhou"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.env[rpcserver.EnvInfrakitHome] = filepath.Join(shortTempDir(t), "home")
			var params PluginParams
			_, stop := runRoot(t, []string{"--endpoint", emu.URL()}, tc.env,
				Deps{NewPlugin: func(pp PluginParams) (instance.Plugin, error) { params = pp; return newFakePlugin(), nil }}, &testutil.SyncBuffer{})
			noErr(t, stop())
			if (params.Clients != nil) != tc.temporary || params.Client == nil {
				t.Fatalf("Clients set %v, want %v", params.Clients != nil, tc.temporary)
			}
			if tc.temporary {
				c, err := params.Clients()
				noErr(t, err)
				_, err = c.DescribeRegions()
				noErr(t, err)
			}
		})
	}

	cmd := NewRootCommand(Deps{LookupEnv: mapEnv(map[string]string{"METADATA_ENDPOINT": md.URL()})})
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs([]string{"regions", "--endpoint", emu.URL(), "--profile", "missing"})
	if err := cmd.Execute(); err == nil {
		t.Fatalf("regions --profile missing succeeded:\n%s", out.String())
	} else {
		contains(t, err.Error(), `profile "missing" not found`)
	}
}
