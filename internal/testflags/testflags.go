// Package testflags lets `go test` flags work in packages that import InfraKit.
//
// InfraKit's pkg/log parses the process's flag set from its init function, with
// no arguments. The testing package then believes the flags were parsed and
// never reads its own: -run, -v, -count, -timeout and -fuzz would be silently
// ignored, so a hung test would never time out. Every test package that imports
// InfraKit (directly or not) has a TestMain calling Main.
package testflags

import (
	"flag"
	"os"
	"testing"
)

// Main parses the command line again, then runs the tests and returns the
// exit code for os.Exit.
func Main(m *testing.M) int {
	if err := flag.CommandLine.Parse(os.Args[1:]); err != nil {
		return 2
	}
	return m.Run()
}
