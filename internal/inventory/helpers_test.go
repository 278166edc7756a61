package inventory

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/denverdino/aliyungo/ecs"
	"github.com/spf13/cobra"
)

// run executes the helper commands under a root command, as the daemon
// mounts them, and returns what they printed on stdout.
func run(t *testing.T, newClient ClientFunc, args ...string) (string, error) {
	t.Helper()
	root := &cobra.Command{Use: "infrakit-instance-aliyun", SilenceErrors: true, SilenceUsage: true}
	root.AddCommand(Commands(newClient)...)
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(io.Discard)
	root.SetIn(bytes.NewReader(nil))
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
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

// Small assertions: testify's dependencies are not in go.mod.

func requireNoError(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

func requireError(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		t.Fatal("want an error, got none")
	}
}

func assertEqual(t *testing.T, want, got any, msg ...any) {
	t.Helper()
	if !reflect.DeepEqual(want, got) {
		t.Errorf("%v\nwant: %#v\ngot:  %#v", fmt.Sprint(msg...), want, got)
	}
}

func assertContains(t *testing.T, s, sub string) {
	t.Helper()
	if !strings.Contains(s, sub) {
		t.Errorf("%q does not contain %q", s, sub)
	}
}

func assertEmpty(t *testing.T, s string) {
	t.Helper()
	if s != "" {
		t.Errorf("want nothing, got %q", s)
	}
}
