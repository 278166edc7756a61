package emulatorcmd

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"infrakit.aliyun/emulator"
	"infrakit.aliyun/internal/testutil"
)

func TestParseDefaults(t *testing.T) {
	c, err := Parse(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != DefaultListen || c.AccessKeyID != "emulator" || c.AccessKeySecret != "emulator" || c.TimeScale != 1 || c.BootTime != emulator.DefaultBootTime {
		t.Fatalf("defaults: %+v", c)
	}
	o := c.Options(nil)
	if o.AccessKeys["emulator"] != "emulator" || o.Listen != DefaultListen {
		t.Fatalf("options: %+v", o)
	}
}

func TestParseErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--time-scale", "0"}, {"--boot-time", "-1s"}, {"--access-key-id", ""}, {"extra"}, {"--nope"}, {"--preempt-notice", "0"},
	} {
		// Main exits 2 for a usage error.
		if _, err := Parse(args, io.Discard); !errors.As(err, new(usageError)) {
			t.Errorf("%q: err = %v, want a usage error", args, err)
		}
	}
	if _, err := Parse([]string{"-h"}, io.Discard); !errors.Is(err, flag.ErrHelp) || errors.As(err, new(usageError)) {
		t.Errorf("-h: err = %v, want flag.ErrHelp (exit 0)", err)
	}
	c, err := Parse([]string{"--boot-time", "0", "--seed", "5", "--state-file", "/tmp/x.json", "--latency", "5ms"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o := c.Options(nil); o.BootTime >= 0 || o.Seed != 5 || o.StateFile != "/tmp/x.json" || o.Latency != 5*time.Millisecond {
		t.Fatalf("options: %+v", o)
	}
}

func TestRunRefusesRemote(t *testing.T) {
	err := Run(context.Background(), []string{"--listen", "0.0.0.0:0"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "non-loopback") {
		t.Fatalf("err = %v", err)
	}
}

// TestRunServesAndStops starts the command, waits for its first line, makes
// a request, checks the request log never holds secrets, and cancels.
func TestRunServesAndStops(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	outR, outW := io.Pipe()
	logW := &testutil.SyncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, []string{"--listen", "127.0.0.1:0", "--access-key-id", "ak", "--access-key-secret", "sk"}, outW, logW)
		outW.Close()
	}()
	line, err := bufio.NewReader(outR).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(line, "ecs-emulator listening on http://127.0.0.1:") ||
		!strings.Contains(line, "(access key id ak, secret from the --access-key-secret flag, region cn-hangzhou)") {
		t.Fatalf("first line %q", line)
	}
	url := strings.Fields(line)[3]
	resp, err := http.Get(url + "/?Action=DescribeRegions&Signature=SECRETSIG&SecurityToken=SECRETTOKEN&AccessKeyId=ak&SignatureNonce=n&Timestamp=2020-01-01T00:00:00Z&Version=2014-05-26")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not stop")
	}
	got := logW.String()
	if !strings.Contains(got, "action=DescribeRegions") || !strings.Contains(got, "status=400") {
		t.Fatalf("request log: %s", got)
	}
	if strings.Contains(got, "SECRET") {
		t.Fatalf("secrets in log: %s", got)
	}
}

// TestSecretSources: the secret comes from the flag, a file or the
// environment (in that order), and the banner only says which.
func TestSecretSources(t *testing.T) {
	file := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(file, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == EnvAccessKeySecret {
				return v
			}
			return ""
		}
	}
	for _, tc := range []struct {
		args           []string
		env            string
		secret, source string
	}{
		{nil, "", emulator.DefaultAccessKeySecret, "the built-in default"},
		{nil, "from-env", "from-env", "$" + EnvAccessKeySecret},
		{[]string{"--access-key-secret-file", file}, "from-env", "from-file", "the file " + file},
		{[]string{"--access-key-secret", "from-flag"}, "from-env", "from-flag", "the --access-key-secret flag"},
	} {
		c, err := ParseEnv(tc.args, env(tc.env), io.Discard)
		if err != nil {
			t.Fatalf("%q: %v", tc.args, err)
		}
		if c.AccessKeySecret != tc.secret || !strings.HasPrefix(c.SecretSource, tc.source) {
			t.Errorf("%q env %q: secret %q from %q, want %q from %q", tc.args, tc.env, c.AccessKeySecret, c.SecretSource, tc.secret, tc.source)
		}
	}
	for _, args := range [][]string{
		{"--access-key-secret", "x", "--access-key-secret-file", file},
		{"--access-key-secret-file", filepath.Join(t.TempDir(), "missing")},
		{"--access-key-secret", ""},
		{"--time-scale", "NaN"}, {"--time-scale", "+Inf"}, {"--time-scale", "-1"},
	} {
		if _, err := ParseEnv(args, env(""), io.Discard); !errors.As(err, new(usageError)) {
			t.Errorf("%q: err = %v, want a usage error", args, err)
		}
	}
}
