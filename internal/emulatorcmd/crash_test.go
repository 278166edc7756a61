package emulatorcmd

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"infrakit.aliyun/emulator"
)

// helperEnv makes the test binary run Main instead of the tests, so the
// crash test can kill a real ecs-emulator process with SIGKILL.
const helperEnv = "EMULATORCMD_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		Main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// emulatorProc is a running ecs-emulator subprocess.
type emulatorProc struct {
	cmd    *exec.Cmd
	url    string
	banner string
}

func startEmulator(t *testing.T, env []string, args ...string) *emulatorProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"--listen", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(append(os.Environ(), helperEnv+"=1"), env...)
	cmd.Stderr = io.Discard
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &emulatorProc{cmd: cmd}
	t.Cleanup(func() { p.kill() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("emulator banner: %v", err)
	}
	p.banner = line
	p.url = strings.Fields(line)[3]
	return p
}

// kill is kill -9: no Close, no final save.
func (p *emulatorProc) kill() {
	if p.cmd.ProcessState == nil {
		p.cmd.Process.Signal(syscall.SIGKILL)
		p.cmd.Wait()
	}
}

// call sends one signed ECS request (by hand, as any client would).
func (p *emulatorProc) call(t *testing.T, secret string, params map[string]string) (int, map[string]any) {
	t.Helper()
	v := map[string]string{
		"Format": "JSON", "Version": emulator.APIVersion, "AccessKeyId": "ak", "SignatureMethod": "HMAC-SHA1",
		"SignatureVersion": "1.0", "SignatureNonce": fmt.Sprintf("n-%d", nonce()),
		"Timestamp": time.Now().UTC().Format("2006-01-02T15:04:05Z"),
	}
	for k, x := range params {
		v[k] = x
	}
	v["Signature"] = emulator.Sign(http.MethodGet, v, secret)
	q := url.Values{}
	for k, x := range v {
		q.Set(k, x)
	}
	resp, err := http.Get(p.url + "/?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

var (
	nonceMu sync.Mutex
	nonceN  int
)

func nonce() int { nonceMu.Lock(); defer nonceMu.Unlock(); nonceN++; return nonceN }

// TestKill9KeepsAnsweredRunInstances: a real emulator process with
// --state-file answers 50 concurrent RunInstances and is killed with
// SIGKILL the moment the last answer arrives; restarted on the same file
// it has all 50. (Saves used to be debounced 200 ms, and such a kill lost
// the last few.) The banner never shows the secret, here from the
// environment.
func TestKill9KeepsAnsweredRunInstances(t *testing.T) {
	const n, secret = 50, "env-secret-do-not-print"
	state := filepath.Join(t.TempDir(), "state.json")
	env := []string{EnvAccessKeySecret + "=" + secret}
	p := startEmulator(t, env, "--state-file", state, "--access-key-id", "ak", "--boot-time", "0")
	if strings.Contains(p.banner, secret) || !strings.Contains(p.banner, "secret from $"+EnvAccessKeySecret) {
		t.Fatalf("banner %q: want the secret's source, never the secret", p.banner)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	ids := map[string]bool{}
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, body := p.call(t, secret, map[string]string{"Action": "RunInstances", "RegionId": emulator.DefaultRegion,
				"ImageId": emulator.DefaultImageID, "InstanceType": emulator.DefaultInstanceType,
				"VSwitchId": emulator.DefaultVSwitchH, "SecurityGroupId": emulator.DefaultSecurityGroupID})
			if code != http.StatusOK {
				t.Errorf("RunInstances: %d %v", code, body)
				return
			}
			for _, id := range body["InstanceIdSets"].(map[string]any)["InstanceIdSet"].([]any) {
				mu.Lock()
				ids[id.(string)] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	p.kill()
	if t.Failed() || len(ids) != n {
		t.Fatalf("%d instances answered, want %d", len(ids), n)
	}

	p2 := startEmulator(t, env, "--state-file", state, "--access-key-id", "ak", "--boot-time", "0")
	resp, err := http.Get(p2.url + "/emulator/instances")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var views []emulator.InstanceView
	if err := json.NewDecoder(resp.Body).Decode(&views); err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, v := range views {
		if ids[v.InstanceId] && !v.Released {
			found++
		}
	}
	if found != n {
		t.Fatalf("after kill -9 and restart: %d of the %d answered instances exist", found, n)
	}
}
