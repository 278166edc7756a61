package inventory

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/denverdino/aliyungo/ecs"
	"github.com/spf13/cobra"

	aliecs "infrakit.aliyun/internal/ecs"
	"infrakit.aliyun/internal/testutil"
)

// run executes the helper commands under a root command, as the daemon
// mounts them, and returns what they printed on stdout.
func run(t *testing.T, newClient ClientFunc, args ...string) (string, error) {
	t.Helper()
	root := &cobra.Command{Use: "infrakit-instance-aliyun", SilenceErrors: true, SilenceUsage: true}
	root.AddCommand(newCommands(newClient, noWait())...)
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(io.Discard)
	root.SetIn(bytes.NewReader(nil))
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

// noWait is a retry policy setting whose waits take no real time: its
// clock moves on by each wait instead.
func noWait() retrySettings {
	var mu sync.Mutex
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	return retrySettings{
		now:    func() time.Time { mu.Lock(); defer mu.Unlock(); return now },
		config: aliecs.RetryConfig{Sleep: func(d time.Duration) { mu.Lock(); defer mu.Unlock(); now = now.Add(d) }},
	}
}

// noClient fails the test if a command asks for a client.
func noClient(t *testing.T) ClientFunc {
	return func() (*ecs.Client, string, error) {
		t.Helper()
		t.Fatal("the command made an API call")
		return nil, "", nil
	}
}

// writeFile writes content to a file in a fresh temporary directory.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// The standard-library assertions shared with the other packages' tests.
var (
	requireNoError    = testutil.NoErr
	assertEqual       = testutil.Equal
	assertContains    = testutil.Contains
	assertNotContains = testutil.NotContains
)

func requireError(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		t.Fatal("want an error, got none")
	}
}

func assertEmpty(t *testing.T, s string) {
	t.Helper()
	if s != "" {
		t.Errorf("want nothing, got %q", s)
	}
}
