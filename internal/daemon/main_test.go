package daemon

import (
	"flag"
	"os"
	"testing"
)

// InfraKit's pkg/log init() calls flag.CommandLine.Parse with no arguments,
// after which the testing package skips parsing its own flags (-test.v,
// -test.run, -test.timeout ...). Parse them here.
func TestMain(m *testing.M) {
	if err := flag.CommandLine.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	os.Exit(m.Run())
}
