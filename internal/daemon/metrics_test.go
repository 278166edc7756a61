package daemon

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/infrakit/pkg/plugin"
	rpcinstance "github.com/docker/infrakit/pkg/rpc/instance"
	"github.com/docker/infrakit/pkg/spi/instance"
	"github.com/docker/infrakit/pkg/types"

	"infrakit.aliyun/emulator"
	"infrakit.aliyun/internal/cloudmonitor"
	"infrakit.aliyun/internal/testutil"
)

func scrape(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	noErr(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	noErr(t, err)
	equal(t, http.StatusOK, resp.StatusCode, string(b))
	return string(b)
}

// The real command and ECS plugin against the emulator with
// --metrics-listen 127.0.0.1:0: SPI calls over the real socket and pushes
// to the events listener show up in a scrape of /metrics over HTTP, and
// the listener closes with the daemon.
func TestMetricsEndpoint(t *testing.T) {
	srv, err := emulator.New(emulator.Options{TimeScale: 1000})
	noErr(t, err)
	defer srv.Close()
	env := map[string]string{
		EnvPluginsDir:                     shortTempDir(t),
		"ALIBABA_CLOUD_ACCESS_KEY_ID":     emulator.DefaultAccessKeyID,
		"ALIBABA_CLOUD_ACCESS_KEY_SECRET": emulator.DefaultAccessKeySecret,
		"ALIBABA_CLOUD_REGION_ID":         emulator.DefaultRegion,
	}
	metricsAddr := make(chan string, 1)
	out := &testutil.SyncBuffer{}
	socket, stop := runRoot(t, []string{"--endpoint", srv.URL(), "--namespace-tags", "cluster=metrics",
		"--metrics-listen", "127.0.0.1:0", "--events-listen", "127.0.0.1:0", "--rate-limit", "1000"},
		env, Deps{MetricsReady: func(a string) { metricsAddr <- a }}, out)
	var addr string
	select {
	case addr = <-metricsAddr:
	default:
		t.Fatal("MetricsReady not called before the socket was ready")
	}

	c, err := rpcinstance.NewClient(plugin.Name(DefaultName), socket)
	noErr(t, err)
	props := types.AnyValueMust(map[string]interface{}{"RunInstances": map[string]interface{}{
		"ImageId": emulator.DefaultImageID, "InstanceType": "ecs.g6.large",
		"VSwitchId": emulator.DefaultVSwitchH, "SecurityGroupId": emulator.DefaultSecurityGroupID,
	}})
	noErr(t, c.Validate(props))
	if err := c.Validate(types.AnyValueMust(map[string]interface{}{"RunInstances": map[string]interface{}{"InstanceType": 5}})); err == nil {
		t.Fatal("a bad spec validated")
	}
	_, err = c.Provision(instance.Spec{Properties: props, Tags: map[string]string{"infrakit.group": "workers"}})
	noErr(t, err)
	for i := 0; i < 2; i++ {
		_, err = c.DescribeInstances(map[string]string{"infrakit.group": "workers"}, false)
		noErr(t, err)
	}

	// Two pushes to the events listener: another event, and an instance
	// that is not one of the plugin's spot instances.
	m := regexp.MustCompile(`address="?([0-9.:]+)"?.*Accepting CloudMonitor|Accepting CloudMonitor.*address="?([0-9.:]+)"?`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no events listener address in the log:\n%s", out.String())
	}
	events := m[1] + m[2]
	for _, body := range []string{
		`{"product":"ECS","name":"Instance:StateChange","content":{"instanceId":"i-1"}}`,
		fmt.Sprintf(`{"product":"ECS","name":%q,"content":{"instanceId":"i-notours"}}`, cloudmonitor.InterruptionEventName),
	} {
		resp, err := http.Post("http://"+events+"/", "application/json", strings.NewReader(body))
		noErr(t, err)
		resp.Body.Close()
		equal(t, http.StatusOK, resp.StatusCode)
	}

	text := scrape(t, addr)
	for _, line := range []string{
		`infrakit_aliyun_spi_calls_total{method="Instance.Validate",outcome="ok"} 1`,
		`infrakit_aliyun_spi_calls_total{method="Instance.Validate",outcome="error"} 1`,
		`infrakit_aliyun_spi_calls_total{method="Instance.Provision",outcome="ok"} 1`,
		`infrakit_aliyun_spi_calls_total{method="Instance.DescribeInstances",outcome="ok"} 2`,
		`infrakit_aliyun_spi_call_duration_seconds_count{method="Instance.Provision"} 1`,
		`infrakit_aliyun_spi_call_duration_seconds_count{method="Instance.DescribeInstances"} 2`,
		`infrakit_aliyun_spot_pushes_total{result="ignored"} 1`,
		`infrakit_aliyun_spot_pushes_total{result="unknown"} 1`,
		`infrakit_aliyun_build_info{revision="` + Revision + `",version="` + Version + `"} 1`,
	} {
		if !strings.Contains(text, line+"\n") {
			t.Errorf("no line %q in the scrape", line)
		}
	}
	// What the plugin recorded from the real ECS calls behind those SPI
	// calls (internal/ecs, the describe cache): positive values.
	for _, re := range []string{
		`infrakit_aliyun_ecs_calls_total\{action="RunInstances",code="OK"\} 1\n`,
		`infrakit_aliyun_ecs_calls_total\{action="DescribeInstances",code="OK"\} [1-9][0-9]*\n`,
		`infrakit_aliyun_ecs_call_duration_seconds_count\{action="RunInstances"\} 1\n`,
		`infrakit_aliyun_rate_limit_wait_seconds_count [1-9][0-9]*\n`,
		`infrakit_aliyun_describe_scans_total\{kind="scan"\} [1-9][0-9]*\n`,
	} {
		if !regexp.MustCompile(re).MatchString(text) {
			t.Errorf("no line matching %s in the scrape", re)
		}
	}
	// The one instance is seen once, in whichever status the last scan
	// found it (the emulator's clock moves it Pending, Starting, Running).
	seen := 0
	for _, m := range regexp.MustCompile(`(?m)^infrakit_aliyun_instances_seen\{status="[A-Za-z]+"\} ([0-9]+)$`).FindAllStringSubmatch(text, -1) {
		n, err := strconv.Atoi(m[1])
		noErr(t, err)
		seen += n
	}
	equal(t, 1, seen, "instances seen over all statuses")
	for _, name := range []string{"go_goroutines", "process_open_fds", "infrakit_aliyun_describe_scans_total", "infrakit_aliyun_rate_limit_wait_seconds"} {
		contains(t, text, "# TYPE "+name+" ")
	}
	if strings.Contains(text, "Instance.Provision\",outcome=\"error") {
		t.Error("a successful Provision counted as an error")
	}

	noErr(t, stop())
	if resp, err := http.Get("http://" + addr + "/metrics"); err == nil {
		resp.Body.Close()
		t.Error("metrics still served after the daemon stopped")
	}
	contains(t, out.String(), "Serving Prometheus metrics")
}

// Without --metrics-listen nothing listens and the plugin gets nil
// metrics (which record nothing).
func TestMetricsOffByDefault(t *testing.T) {
	env := map[string]string{EnvPluginsDir: shortTempDir(t), "ALIBABA_CLOUD_ACCESS_KEY_ID": "id",
		"ALIBABA_CLOUD_ACCESS_KEY_SECRET": "secret", "ALIBABA_CLOUD_REGION_ID": "cn-hangzhou"}
	var params PluginParams
	called := false
	_, stop := runRoot(t, []string{"--endpoint", "http://127.0.0.1:9"}, env, Deps{
		NewPlugin:    func(pp PluginParams) (instance.Plugin, error) { params = pp; return newFakePlugin(), nil },
		MetricsReady: func(string) { called = true },
	}, &testutil.SyncBuffer{})
	noErr(t, stop())
	if called || params.Metrics != nil {
		t.Errorf("metrics on without --metrics-listen (ready called %v, metrics %v)", called, params.Metrics)
	}
}

// A non-loopback --metrics-listen (or every interface) is refused without
// --metrics-allow-remote, before the plugin is built or the socket made;
// with it the daemon serves metrics there.
func TestMetricsListenRefusesRemote(t *testing.T) {
	creds := map[string]string{"ALIBABA_CLOUD_ACCESS_KEY_ID": "id", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "secret", "ALIBABA_CLOUD_REGION_ID": "cn-hangzhou"}
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0", "192.0.2.1:9101", "nonsense"} {
		t.Run(addr, func(t *testing.T) {
			dir := shortTempDir(t)
			env := map[string]string{EnvPluginsDir: dir}
			for k, v := range creds {
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
			cmd.SetArgs([]string{"--endpoint", "http://127.0.0.1:9", "--metrics-listen", addr})
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			err := cmd.ExecuteContext(ctx)
			if err == nil {
				t.Fatal("no error")
			}
			contains(t, err.Error(), fmt.Sprintf("--metrics-listen %q", addr))
			if addr != "nonsense" {
				contains(t, err.Error(), "--metrics-allow-remote")
			}
			if called {
				t.Error("plugin created despite the error")
			}
			equal(t, []string(nil), pluginFiles(t, dir))
		})
	}

	env := map[string]string{EnvPluginsDir: shortTempDir(t)}
	for k, v := range creds {
		env[k] = v
	}
	ready := make(chan string, 1)
	_, stop := runRoot(t, []string{"--endpoint", "http://127.0.0.1:9", "--metrics-listen", "0.0.0.0:0", "--metrics-allow-remote"}, env,
		Deps{NewPlugin: func(PluginParams) (instance.Plugin, error) { return newFakePlugin(), nil }, MetricsReady: func(a string) { ready <- a }},
		&testutil.SyncBuffer{})
	select {
	case a := <-ready:
		port := a[strings.LastIndex(a, ":"):]
		contains(t, scrape(t, "127.0.0.1"+port), "infrakit_aliyun_build_info")
	case <-time.After(5 * time.Second):
		t.Fatal("metrics not served with --metrics-allow-remote")
	}
	noErr(t, stop())
}
