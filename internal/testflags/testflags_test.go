package testflags_test

import (
	"flag"
	"os"
	"testing"

	_ "github.com/docker/infrakit/pkg/log" // the init that parses the flag set too early

	"infrakit.aliyun/internal/testflags"
)

func TestMain(m *testing.M) { os.Exit(testflags.Main(m)) }

// TestFlagsReachTheTestingPackage fails when -test.run (which `go test -run`
// passes) is lost: go test runs this package with -run ^TestFlags, so a lost
// flag would show as its default, the empty string.
func TestFlagsReachTheTestingPackage(t *testing.T) {
	f := flag.Lookup("test.timeout")
	if f == nil {
		t.Fatal("test.timeout flag is not registered")
	}
	// go test always passes -test.timeout (10m by default); unparsed it stays 0s.
	if f.Value.String() == "0s" {
		t.Fatalf("test.timeout = %s: the testing flags were not parsed", f.Value)
	}
}
