package daemon

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/docker/infrakit/pkg/plugin"
	rpcinstance "github.com/docker/infrakit/pkg/rpc/instance"
	"github.com/docker/infrakit/pkg/spi/instance"
	"github.com/docker/infrakit/pkg/types"

	"infrakit.aliyun/emulator"
	"infrakit.aliyun/internal/testutil"
)

// Credentials only this file uses, so the log checks below are meaningful.
const (
	hygieneKeyID  = "STS.HygieneKeyId"
	hygieneSecret = "HygieneSecretQQQQ9999"
	hygieneToken  = "HygieneSecurityTokenZZZZ8888"
	hygienePass   = "Hyg1ene-Passw0rd!"
	hygieneInit   = "#!/bin/sh\necho init-marker-KKKK7777"
)

// startDaemonOnEmulator runs the real root command (real plugin, real
// aliyungo client) against an in-process emulator that only accepts an STS
// credential, so every request is signed and carries a security token.
func startDaemonOnEmulator(t *testing.T, extraArgs ...string) (*emulator.Server, string, func() error, *testutil.SyncBuffer) {
	t.Helper()
	srv, err := emulator.New(emulator.Options{
		TimeScale:  1000,
		AccessKeys: map[string]string{},
		STSKeys:    map[string]emulator.STSCredential{hygieneKeyID: {AccessKeySecret: hygieneSecret, SecurityToken: hygieneToken}},
		Seed:       7,
	})
	noErr(t, err)
	t.Cleanup(func() { srv.Close() })
	env := map[string]string{
		EnvPluginsDir:                     shortTempDir(t),
		"ALIBABA_CLOUD_ACCESS_KEY_ID":     hygieneKeyID,
		"ALIBABA_CLOUD_ACCESS_KEY_SECRET": hygieneSecret,
		"ALIBABA_CLOUD_SECURITY_TOKEN":    hygieneToken,
		"ALIBABA_CLOUD_REGION_ID":         emulator.DefaultRegion,
	}
	out := &testutil.SyncBuffer{}
	args := append([]string{"--endpoint", srv.URL(), "--namespace-tags", "cluster=rel"}, extraArgs...)
	socket, stop := runRoot(t, args, env, Deps{}, out)
	return srv, socket, stop, out
}

func goodRunInstances() map[string]interface{} {
	return map[string]interface{}{
		"ImageId":         emulator.DefaultImageID,
		"InstanceType":    emulator.DefaultInstanceType,
		"VSwitchId":       emulator.DefaultVSwitchH,
		"SecurityGroupId": emulator.DefaultSecurityGroupID,
	}
}

func liveInstances(srv *emulator.Server) int {
	n := 0
	for _, v := range srv.Instances() {
		if !v.Released && v.Status != emulator.StatusReleased {
			n++
		}
	}
	return n
}

// A whole flow through the daemon at --log 5 (provision, describe with
// properties, label, destroy, a refused provision, and retried throttling)
// leaves no access key secret, security token, password, Signature or user
// data in the output.
func TestLogHygieneWholeFlowAgainstEmulator(t *testing.T) {
	srv, socket, stop, out := startDaemonOnEmulator(t, "--log", "5")
	c, err := rpcinstance.NewClient(plugin.Name(DefaultName), socket)
	noErr(t, err)

	run := goodRunInstances()
	run["Password"] = hygienePass
	props := types.AnyValueMust(map[string]interface{}{"RunInstances": run})
	noErr(t, c.Validate(props))

	// Throttle and lose some responses so retries (and their logs) happen.
	srv.SetFaults(emulator.Faults{ThrottleRate: 0.5, DropResponseRate: 0.2, Actions: []string{"RunInstances", "DescribeInstances", "TagResources", "DeleteInstance"}})
	id, err := c.Provision(instance.Spec{Properties: props, Init: hygieneInit,
		Tags: map[string]string{"infrakit.group": "hyg", "infrakit.config.hash": "bootstrap"}})
	noErr(t, err)
	descs, err := c.DescribeInstances(map[string]string{"infrakit.group": "hyg"}, true)
	noErr(t, err)
	equal(t, 1, len(descs))
	noErr(t, c.Label(*id, map[string]string{"infrakit.config.hash": "h2"}))
	noErr(t, c.Destroy(*id, instance.Termination))
	srv.SetFaults(emulator.Faults{})

	bad := goodRunInstances()
	bad["ImageId"] = "m-no-such-image"
	bad["Password"] = hygienePass
	_, err = c.Provision(instance.Spec{Properties: types.AnyValueMust(map[string]interface{}{"RunInstances": bad}), Init: hygieneInit,
		Tags: map[string]string{"infrakit.group": "hyg"}})
	if err == nil || !strings.Contains(err.Error(), "InvalidImageId.NotFound") {
		t.Fatalf("provision with an unknown image: %v", err)
	}
	for _, s := range []string{hygieneSecret, hygieneToken, hygienePass, "init-marker"} {
		notContains(t, err.Error(), s)
	}
	noErr(t, stop())

	logs := out.String()
	// It did log the flow, at debug, with retries.
	for _, want := range []string{"ecs call", "retrying ecs call", "provisioned", "destroyed", "RPC call", "InvalidImageId.NotFound", "request_id"} {
		contains(t, logs, want)
	}
	for _, s := range []string{hygieneSecret, hygieneToken, hygienePass, "Signature=", "SignatureNonce=", "init-marker",
		"SecurityToken=", base64Of(hygieneInit)} {
		notContains(t, logs, s)
	}
	if st := srv.Stats(); st.Faults["throttled"] == 0 {
		t.Errorf("no throttling was injected: %v", st.Faults)
	}
}

func base64Of(s string) string {
	b, _ := json.Marshal([]byte(s)) // a JSON string of the base64 text
	return strings.Trim(string(b), `"`)
}

// Bad input over raw JSON-RPC on the socket: each gets a clear error naming
// the field or the ECS code, and no instance is ever created.
func TestBadInputOverJSONRPC(t *testing.T) {
	srv, socket, stop, _ := startDaemonOnEmulator(t, "--log", "3")
	defer func() { noErr(t, stop()) }()

	spec := func(run map[string]interface{}, mutate func(spec map[string]interface{})) string {
		s := map[string]interface{}{
			"Properties": map[string]interface{}{"RunInstances": run, "Tags": map[string]string{"project": "bad"}},
			"Tags":       map[string]string{"infrakit.group": "bad", "infrakit.config.hash": "h"},
		}
		if mutate != nil {
			mutate(s)
		}
		b, err := json.Marshal(map[string]interface{}{"jsonrpc": "2.0", "method": "Instance.Provision", "params": map[string]interface{}{"Spec": s}, "id": 1})
		noErr(t, err)
		return string(b)
	}
	with := func(k string, v interface{}) map[string]interface{} {
		r := goodRunInstances()
		if v == nil {
			delete(r, k)
		} else {
			r[k] = v
		}
		return r
	}
	manyTags := map[string]string{}
	for i := 0; i < 21; i++ {
		manyTags[fmt.Sprintf("t%02d", i)] = "v"
	}

	cases := []struct {
		name string
		body string
		want []string // all must appear in the error
	}{
		{"malformed JSON", `{"jsonrpc":"2.0","method":"Instance.Provision","params":{"Spec":`, []string{"-32700"}},
		{"not an object", `[1,2,3]`, []string{"-32600", "batch not supported"}},
		{"unknown method", `{"jsonrpc":"2.0","method":"Instance.Launch","params":{},"id":1}`, []string{"Instance.Launch"}},
		{"Spec.Tags of the wrong type", `{"jsonrpc":"2.0","method":"Instance.Provision","params":{"Spec":{"Properties":{},"Tags":"web"}},"id":1}`, []string{"-32602", "Spec.Tags", "map[string]string"}},
		{"no properties", `{"jsonrpc":"2.0","method":"Instance.Provision","params":{"Spec":{"Tags":{"infrakit.group":"bad"}}},"id":1}`, []string{"RunInstances", "required"}},
		{"wrong type in properties", spec(with("InstanceType", 5), nil), []string{"RunInstances.InstanceType"}},
		{"missing ImageId", spec(with("ImageId", nil), nil), []string{"RunInstances.ImageId"}},
		{"unknown field", spec(with("ImageID", "m-typo"), nil), []string{"RunInstances.ImageID"}},
		{"too many property tags", spec(goodRunInstances(), func(s map[string]interface{}) {
			s["Properties"].(map[string]interface{})["Tags"] = manyTags
		}), []string{"Tags", "at most 20"}},
		{"too many tags in all", spec(goodRunInstances(), func(s map[string]interface{}) {
			tags := map[string]string{"infrakit.group": "bad"}
			for i := 0; i < 18; i++ {
				tags[fmt.Sprintf("flavor%02d", i)] = "v"
			}
			s["Tags"] = tags
		}), []string{"Tags", "at most 20"}},
		{"reserved aliyun prefix", spec(goodRunInstances(), func(s map[string]interface{}) {
			s["Properties"].(map[string]interface{})["Tags"] = map[string]string{"aliyun:owner": "me"}
		}), []string{"Tags", "aliyun"}},
		{"reserved acs: prefix in spec tags", spec(goodRunInstances(), func(s map[string]interface{}) {
			s["Tags"] = map[string]string{"infrakit.group": "bad", "acs:x": "y"}
		}), []string{"Spec.Tags", "acs:"}},
		{"reserved infrakit. prefix in properties", spec(goodRunInstances(), func(s map[string]interface{}) {
			s["Properties"].(map[string]interface{})["Tags"] = map[string]string{"infrakit.group": "other"}
		}), []string{"Tags", "infrakit."}},
		{"huge UserData", spec(with("UserData", strings.Repeat("x", 40000)), nil), []string{"UserData", "32768"}},
		{"huge Init", spec(goodRunInstances(), func(s map[string]interface{}) { s["Init"] = strings.Repeat("y", 33000) }), []string{"UserData", "32768"}},
		{"unknown image", spec(with("ImageId", "m-nope"), nil), []string{"InvalidImageId.NotFound"}},
		{"unknown vswitch", spec(with("VSwitchId", "vsw-nope"), nil), []string{"InvalidVSwitchId.NotFound"}},
		{"unknown security group", spec(with("SecurityGroupId", "sg-nope"), nil), []string{"InvalidSecurityGroupId.NotFound"}},
		{"logical ID too long", spec(goodRunInstances(), func(s map[string]interface{}) { s["LogicalID"] = strings.Repeat("L", 200) }), []string{"LogicalID", "at most 128"}},
		{"logical ID outside the vswitch", spec(goodRunInstances(), func(s map[string]interface{}) { s["LogicalID"] = "192.168.250.9" }), []string{"InvalidPrivateIpAddress"}},
		{"logical ID IP without a vswitch", spec(with("VSwitchId", nil), func(s map[string]interface{}) { s["LogicalID"] = "172.16.0.9" }), []string{"LogicalID", "VSwitchId"}},
		{"region mismatch", spec(with("RegionId", "cn-beijing"), nil), []string{"RunInstances.RegionId", "cn-beijing"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body := rawRPC(t, socket, tc.body)
			if status != 200 && status != 400 {
				t.Errorf("HTTP status %d: %s", status, body)
			}
			var env struct {
				Result json.RawMessage `json:"result"`
				Error  *struct {
					Code    int    `json:"code"`
					Message string `json:"message"`
				} `json:"error"`
			}
			if err := json.Unmarshal([]byte(body), &env); err != nil || env.Error == nil {
				t.Fatalf("want a JSON-RPC error, got %q (%v)", body, err)
			}
			msg := fmt.Sprintf("%d %s", env.Error.Code, env.Error.Message)
			for _, w := range tc.want {
				contains(t, msg, w)
			}
			if len(env.Result) > 0 && string(env.Result) != "null" {
				t.Errorf("error with a result: %s", env.Result)
			}
		})
	}
	// Nothing was created, and only the cases that passed every local check
	// reached ECS (and were refused there).
	equal(t, 0, liveInstances(srv), "live instances")
	equal(t, 0, len(srv.Instances()), "instances ever created")
	if got := srv.Stats().Calls["RunInstances"]; got != 4 {
		t.Errorf("RunInstances reached ECS %d times, want 4 (image, vswitch, security group, private IP)", got)
	}
}

// The daemon's --rate-limit and --describe-cache-ttl reach the plugin, and
// a negative TTL is refused.
func TestDaemonReliabilityFlags(t *testing.T) {
	var params PluginParams
	out := &testutil.SyncBuffer{}
	env := map[string]string{EnvPluginsDir: shortTempDir(t), "ALIBABA_CLOUD_ACCESS_KEY_ID": "id", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "secret-value",
		"ALIBABA_CLOUD_REGION_ID": "cn-hangzhou"}
	_, stop := runRoot(t, []string{"--endpoint", "http://127.0.0.1:9", "--rate-limit", "20", "--describe-cache-ttl", "2s"}, env,
		Deps{NewPlugin: func(pp PluginParams) (instance.Plugin, error) { params = pp; return newFakePlugin(), nil }}, out)
	noErr(t, stop())
	equal(t, 20.0, params.RateLimit)
	equal(t, 2*time.Second, params.DescribeCacheTTL)
	contains(t, out.String(), "describe_cache_ttl=2s")
	// 0 disables the cache on the command line and in the plugin's Config
	// alike (plugin/instance TestDescribeCacheTTLZeroIsOff).

	cmd := NewRootCommand(Deps{LookupEnv: mapEnv(env)})
	cmd.SetArgs([]string{"--describe-cache-ttl", "-1s"})
	cmd.SetOut(&testutil.SyncBuffer{})
	cmd.SetErr(&testutil.SyncBuffer{})
	err := cmd.Execute()
	if err == nil || !strings.Contains(err.Error(), "--describe-cache-ttl") {
		t.Fatalf("negative TTL: %v", err)
	}
}
