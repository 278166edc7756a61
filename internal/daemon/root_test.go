package daemon

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docker/infrakit/pkg/plugin"
	rpcinstance "github.com/docker/infrakit/pkg/rpc/instance"
	"github.com/docker/infrakit/pkg/spi/instance"
	"github.com/docker/infrakit/pkg/types"

	"infrakit.aliyun/internal/rpcserver"
	"infrakit.aliyun/internal/testutil"
)

func mapEnv(kv map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := kv[k]; return v, ok }
}

func TestVersionCommand(t *testing.T) {
	cmd := NewRootCommand(Deps{LookupEnv: mapEnv(nil)})
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"version"})
	noErr(t, cmd.Execute())
	s := out.String()
	contains(t, s, CommandName)
	contains(t, s, "Version:  "+Version)
	contains(t, s, "Revision: "+Revision)
	contains(t, s, "SPI:      Instance/0.6.1, Instance/0.5.0, Instance/0.3.0")
	equal(t, "infrakit.aliyun/"+Version, UserAgent())
}

// Start-up errors: each is reported before anything is created.
func TestRootStartupErrors(t *testing.T) {
	creds := map[string]string{"ALIBABA_CLOUD_ACCESS_KEY_ID": "id", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "secret-value", "ALIBABA_CLOUD_REGION_ID": "cn-hangzhou"}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want []string
	}{
		{"no credentials nor region", nil, map[string]string{}, []string{"no Alibaba Cloud credentials", "ALIBABA_CLOUD_ACCESS_KEY_ID", "--access-key-id", "no Alibaba Cloud region", "--region"}},
		{"no region", []string{"--access-key-id", "id", "--access-key-secret", "s3cret"}, map[string]string{}, []string{"no Alibaba Cloud region", "ALIBABA_CLOUD_REGION_ID"}},
		{"secret without id", []string{"--access-key-secret", "s3cret", "--region", "cn-hangzhou"}, map[string]string{}, []string{"--access-key-id is required"}},
		{"log level too high", []string{"--log", "6"}, creds, []string{"--log 6"}},
		{"log level negative", []string{"--log", "-1"}, creds, []string{"--log -1"}},
		{"log format", []string{"--log-format", "xml"}, creds, []string{`--log-format "xml"`}},
		{"namespace tags missing =", []string{"--namespace-tags", "a=b,c"}, creds, []string{`"c" is not key=value`}},
		{"namespace tags empty key", []string{"--namespace-tags", "=b"}, creds, []string{"key must not be empty"}},
		{"namespace tags duplicate", []string{"--namespace-tags", "a=1,a=2"}, creds, []string{`key "a" given twice`}},
		{"namespace tags reserved prefix", []string{"--namespace-tags", "aliyun-x=1"}, creds, []string{`must not start with "aliyun"`}},
		{"negative rate limit", []string{"--rate-limit", "-1"}, creds, []string{"--rate-limit"}},
		{"bad name", []string{"--name", "a/b"}, creds, []string{"--name"}},
		{"positional args", []string{"extra"}, creds, []string{"unknown command"}},
		{"bad endpoint", []string{"--endpoint", "ftp://x"}, creds, []string{"--endpoint"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := shortTempDir(t)
			env := map[string]string{EnvPluginsDir: dir}
			for k, v := range tt.env {
				env[k] = v
			}
			called := false
			cmd := NewRootCommand(Deps{LookupEnv: mapEnv(env), NewPlugin: func(PluginParams) (instance.Plugin, error) {
				called = true
				return newFakePlugin(), nil
			}})
			var out bytes.Buffer
			cmd.SetOut(&out)
			cmd.SetErr(&out)
			cmd.SetArgs(tt.args)
			ctx, cancel := context.WithCancel(context.Background())
			cancel() // should it get as far as serving, return at once
			err := cmd.ExecuteContext(ctx)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				contains(t, err.Error(), w)
			}
			notContains(t, err.Error(), "s3cret")
			notContains(t, err.Error(), "secret-value")
			notContains(t, out.String(), "s3cret")
			if called {
				t.Error("plugin created despite the error")
			}
			equal(t, []string(nil), pluginFiles(t, dir))
		})
	}
}

func TestParseNamespaceTags(t *testing.T) {
	got, err := ParseNamespaceTags(" cluster=prod , team = infra,expr=a=b,empty= ")
	noErr(t, err)
	equal(t, map[string]string{"cluster": "prod", "team": "infra", "expr": "a=b", "empty": ""}, got)
	got, err = ParseNamespaceTags("")
	noErr(t, err)
	equal(t, map[string]string{}, got)
	equal(t, "cluster=prod,empty=,expr=a=b,team=infra", FormatTags(map[string]string{"cluster": "prod", "team": "infra", "expr": "a=b", "empty": ""}))

	long := strings.Repeat("k", 129)
	for in, want := range map[string]string{
		"a":             "not key=value",
		"a=1,":          "empty entry",
		",a=1":          "empty entry",
		"=1":            "key must not be empty",
		"a=1,a=2":       "given twice",
		"acs:x=1":       `must not start with "aliyun" or "acs:"`,
		"Aliyun=1":      `must not start with "aliyun" or "acs:"`,
		"x-https://y=1": "http://",
		"a=acs:1":       `must not start with "acs:"`,
		long + "=1":     "at most 128",
		"a=" + long:     "at most 128",
		"1=1,2=2,3=3,4=4,5=5,6=6,7=7,8=8,9=9,10=10,11=11": "at most 10",
	} {
		_, err := ParseNamespaceTags(in)
		if err == nil {
			t.Errorf("ParseNamespaceTags(%q) accepted", in)
			continue
		}
		contains(t, err.Error(), want)
		contains(t, err.Error(), "--namespace-tags")
	}
}

// runRoot runs the root command in-process until the returned stop is called.
func runRoot(t *testing.T, args []string, env map[string]string, d Deps, out *testutil.SyncBuffer) (socket string, stop func() error) {
	t.Helper()
	ready := make(chan string, 1)
	d.LookupEnv = mapEnv(env)
	d.Ready = func(s string) { ready <- s }
	cmd := NewRootCommand(d)
	cmd.SetOut(out)
	cmd.SetErr(out)
	cmd.SetArgs(args)
	return startInBackground(t, "command", ready, out.String, cmd.ExecuteContext)
}

func TestRootServesAndCleansUp(t *testing.T) {
	dir := filepath.Join(shortTempDir(t), "home")
	env := map[string]string{
		rpcserver.EnvInfrakitHome:         dir,
		"ALICLOUD_ACCESS_KEY":             "tf-id",
		"ALICLOUD_SECRET_KEY":             "tf-secret",
		"ALICLOUD_REGION":                 "cn-shanghai",
		"ALIBABA_CLOUD_SECURITY_TOKEN":    "lonely-token", // ignored: no keys in that family
		"SOME_OTHER_VARIABLE_FOR_CONTEXT": "x",
	}
	var params PluginParams
	p := newFakePlugin()
	out := &testutil.SyncBuffer{}
	socket, stop := runRoot(t, []string{"--name", "instance-x", "--namespace-tags", "cluster=a, team = b", "--rate-limit", "2.5", "--endpoint", "http://127.0.0.1:9"},
		env, Deps{NewPlugin: func(pp PluginParams) (instance.Plugin, error) { params = pp; return p, nil }}, out)

	equal(t, filepath.Join(dir, "plugins", "instance-x"), socket)
	equal(t, map[string]string{"cluster": "a", "team": "b"}, params.NamespaceTags)
	equal(t, 2.5, params.RateLimit)
	equal(t, "cn-shanghai", params.Cloud.Region)
	equal(t, "tf-id", params.Cloud.AccessKeyID)
	equal(t, "", params.Cloud.SecurityToken)
	equal(t, "http://127.0.0.1:9", params.Cloud.Endpoint)
	equal(t, "env ALICLOUD_ACCESS_KEY", params.Cloud.Source)
	if params.Client == nil || params.Logger == nil {
		t.Fatal("no client or logger handed to the plugin")
	}

	c, err := rpcinstance.NewClient(plugin.Name("instance-x"), socket)
	noErr(t, err)
	id, err := c.Provision(instance.Spec{Properties: types.AnyValueMust(map[string]string{"InstanceType": "t"})})
	noErr(t, err)
	noErr(t, c.Destroy(*id, instance.Termination))

	noErr(t, stop())
	equal(t, []string(nil), pluginFiles(t, filepath.Dir(socket)))
	equal(t, true, p.Closed(), "plugin closed on shutdown")
	s := out.String()
	contains(t, s, "credential_source=\"env ALICLOUD_ACCESS_KEY\"")
	contains(t, s, "region_source=\"env ALICLOUD_REGION\"")
	contains(t, s, "Stopped")
	notContains(t, s, "tf-secret")
}

// Secrets given by flag and by environment never reach the log, at the most
// verbose level, in either format, whatever path they take: the start-up
// line, RPC call logs, plugin errors embedding a signed URL, and (defence in
// depth) a plugin that logs them carelessly through the shared logger.
func TestLogHygiene(t *testing.T) {
	secrets := []string{
		"FlagSecretAAAA1111", "FlagTokenBBBB2222",
		"EnvSecretCCCC3333", "EnvTokenDDDD4444",
		"TfSecretEEEE5555", "TfTokenFFFF6666",
		"SignatureGGGG7777",
	}
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			env := map[string]string{
				EnvPluginsDir:                     shortTempDir(t),
				"ALIBABA_CLOUD_ACCESS_KEY_ID":     "LTAIenvid",
				"ALIBABA_CLOUD_ACCESS_KEY_SECRET": "EnvSecretCCCC3333",
				"ALIBABA_CLOUD_SECURITY_TOKEN":    "EnvTokenDDDD4444",
				"ALICLOUD_ACCESS_KEY":             "LTAItfid",
				"ALICLOUD_SECRET_KEY":             "TfSecretEEEE5555",
				"ALICLOUD_SECURITY_TOKEN":         "TfTokenFFFF6666",
				"ALIBABA_CLOUD_REGION_ID":         "cn-hangzhou",
			}
			p := newFakePlugin()
			out := &testutil.SyncBuffer{}
			socket, stop := runRoot(t, []string{
				"--log", "5", "--log-format", format,
				"--access-key-id", "LTAIflagid", "--access-key-secret", "FlagSecretAAAA1111", "--security-token", "FlagTokenBBBB2222",
				"--endpoint", "http://127.0.0.1:9",
			}, env, Deps{NewPlugin: func(pp PluginParams) (instance.Plugin, error) {
				// A careless plugin: logs its whole config, client and credentials.
				pp.Logger.WithField("config", pp.Cloud).WithField("client", pp.Client).Debug("plugin config")
				pp.Logger.WithField("AccessKeySecret", pp.Cloud.AccessKeySecret).WithField("token", pp.Cloud.SecurityToken).Debug("credentials")
				pp.Logger.Debugf("using secret %s and token %s", pp.Cloud.AccessKeySecret, pp.Cloud.SecurityToken)
				pp.Logger.Debug(`GET https://ecs.cn-hangzhou.aliyuncs.com/?AccessKeyId=LTAIflagid&Signature=SignatureGGGG7777&SecurityToken=x`)
				pp.Logger.WithError(errors.New("Password=SignatureGGGG7777 rejected")).Debug("x")
				p.Log = pp.Logger
				return p, nil
			}}, out)

			c, err := rpcinstance.NewClient(plugin.Name("instance-aliyun"), socket)
			noErr(t, err)
			_, err = c.Provision(instance.Spec{Properties: types.AnyValueMust(map[string]string{"InstanceType": "t"}),
				Tags: map[string]string{"k": "FlagSecretAAAA1111"}})
			noErr(t, err)
			p.SetFail(errors.New(`Get "https://ecs.cn-hangzhou.aliyuncs.com/?AccessKeyId=LTAIflagid&SecurityToken=FlagTokenBBBB2222&Signature=SignatureGGGG7777": EOF; secret FlagSecretAAAA1111`))
			_, err = c.DescribeInstances(map[string]string{"infrakit.group": "g"}, true)
			if err == nil {
				t.Fatal("expected the failure")
			}
			for _, s := range secrets {
				notContains(t, err.Error(), s)
			}
			noErr(t, stop())

			logs := out.String()
			// It did log, at debug, with the credential source.
			contains(t, logs, "credential_source")
			contains(t, logs, "flags")
			contains(t, logs, "RPC call")
			contains(t, logs, "RPC call failed")
			contains(t, logs, "plugin config")
			for _, s := range secrets {
				notContains(t, logs, s)
			}
		})
	}
}

// Secrets read from a profile file are scrubbed from RPC errors as well as
// from the log.
func TestProfileSecretsScrubbedFromRPCErrors(t *testing.T) {
	home := shortTempDir(t)
	noErr(t, os.MkdirAll(filepath.Join(home, ".aliyun"), 0o700))
	noErr(t, os.WriteFile(filepath.Join(home, ".aliyun", "config.json"), []byte(`{"current":"p","profiles":[{"name":"p","mode":"StsToken",
		"access_key_id":"LTAIprofileid","access_key_secret":"ProfileSecretHHHH8888","sts_token":"ProfileTokenIIII9999","region_id":"cn-hangzhou"}]}`), 0o600))
	env := map[string]string{"HOME": home, EnvPluginsDir: shortTempDir(t)}
	p := newFakePlugin()
	out := &testutil.SyncBuffer{}
	socket, stop := runRoot(t, []string{"--endpoint", "http://127.0.0.1:9"}, env,
		Deps{NewPlugin: func(PluginParams) (instance.Plugin, error) { return p, nil }}, out)
	p.SetFail(errors.New("token ProfileTokenIIII9999 and secret ProfileSecretHHHH8888 rejected"))
	c, err := rpcinstance.NewClient(plugin.Name("instance-aliyun"), socket)
	noErr(t, err)
	_, err = c.DescribeInstances(nil, false)
	if err == nil {
		t.Fatal("expected the failure")
	}
	contains(t, err.Error(), "rejected")
	noErr(t, stop())
	for _, s := range []string{"ProfileTokenIIII9999", "ProfileSecretHHHH8888"} {
		notContains(t, err.Error(), s)
		notContains(t, out.String(), s)
	}
}

func TestLogLevels(t *testing.T) {
	for level, want := range map[int][]string{
		0: {},
		2: {"error"},
		3: {"error", "warn"},
		4: {"error", "warn", "info"},
		5: {"error", "warn", "info", "debug"},
	} {
		var buf bytes.Buffer
		l, err := NewLogger(&buf, level, "json", nil)
		noErr(t, err)
		l.Debug("debug")
		l.Info("info")
		l.Warn("warn")
		l.Error("error")
		lines := strings.Count(buf.String(), "\n")
		equal(t, len(want), lines, "level", level, buf.String())
		for _, w := range want {
			contains(t, buf.String(), `"msg":"`+w+`"`)
		}
	}
}

func TestRootRefusesOverLivePluginBeforeBuildingOne(t *testing.T) {
	dir, _, stop := served(t, newFakePlugin(), nil)
	called := false
	cmd := NewRootCommand(Deps{
		LookupEnv: mapEnv(map[string]string{EnvPluginsDir: dir, "ALICLOUD_ACCESS_KEY": "id", "ALICLOUD_SECRET_KEY": "secret", "ALICLOUD_REGION": "cn-hangzhou"}),
		NewPlugin: func(PluginParams) (instance.Plugin, error) { called = true; return newFakePlugin(), nil },
	})
	var out bytes.Buffer
	cmd.SetErr(&out)
	cmd.SetArgs([]string{"--name", "instance-test"})
	err := cmd.Execute()
	if !errors.Is(err, rpcserver.ErrAlreadyRunning) {
		t.Fatalf("got %v, want rpcserver.ErrAlreadyRunning", err)
	}
	equal(t, false, called, "plugin built")
	equal(t, []string{"instance-test", "instance-test.pid"}, pluginFiles(t, dir))
	noErr(t, stop())
}

// The original aliyun plugin's command line works unchanged:
// --session-token is the STS token, --namespace-tags may be repeated,
// --private-ip is accepted, and =false is logged once as ignored.
func TestOriginalPluginFlags(t *testing.T) {
	run := func(t *testing.T, args ...string) (PluginParams, string) {
		t.Helper()
		var params PluginParams
		out := &testutil.SyncBuffer{}
		env := map[string]string{EnvPluginsDir: shortTempDir(t)}
		_, stop := runRoot(t, append([]string{"--region", "cn-beijing", "--access-key-id", "LTAIorig", "--access-key-secret", "orig-s3cret",
			"--endpoint", "http://127.0.0.1:9", "--name", "instance-aliyun", "--log", "4"}, args...),
			env, Deps{NewPlugin: func(pp PluginParams) (instance.Plugin, error) { params = pp; return newFakePlugin(), nil }}, out)
		noErr(t, stop())
		notContains(t, out.String(), "orig-s3cret")
		return params, out.String()
	}

	t.Run("defaults", func(t *testing.T) {
		p, logs := run(t)
		equal(t, "cn-beijing", p.Cloud.Region)
		equal(t, "LTAIorig", p.Cloud.AccessKeyID)
		equal(t, "", p.Cloud.SecurityToken)
		notContains(t, logs, "--private-ip")
	})
	t.Run("session token and repeated namespace tags", func(t *testing.T) {
		p, logs := run(t, "--session-token", "STS.orig-t0ken", "--namespace-tags", "cluster=a", "--namespace-tags", "team=b,env=c", "--private-ip")
		equal(t, "STS.orig-t0ken", p.Cloud.SecurityToken)
		equal(t, map[string]string{"cluster": "a", "team": "b", "env": "c"}, p.NamespaceTags)
		notContains(t, logs, "STS.orig-t0ken")
		notContains(t, logs, "--private-ip")
	})
	t.Run("private-ip false is logged once", func(t *testing.T) {
		_, logs := run(t, "--private-ip=false")
		equal(t, 1, strings.Count(logs, "--private-ip=false"), logs)
		contains(t, logs, "Ignored")
	})
	t.Run("session and security token disagree", func(t *testing.T) {
		cmd := NewRootCommand(Deps{LookupEnv: mapEnv(map[string]string{EnvPluginsDir: shortTempDir(t)}),
			NewPlugin: func(PluginParams) (instance.Plugin, error) { t.Error("plugin created"); return newFakePlugin(), nil }})
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetArgs([]string{"--region", "cn-beijing", "--access-key-id", "a", "--access-key-secret", "b", "--session-token", "t1", "--security-token", "t2"})
		err := cmd.Execute()
		if err == nil {
			t.Fatal("no error")
		}
		contains(t, err.Error(), "--session-token and --security-token")
		notContains(t, err.Error(), "t1")
	})
}
