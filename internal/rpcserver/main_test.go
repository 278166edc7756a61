package rpcserver_test

import (
	"os"
	"testing"

	"infrakit.aliyun/internal/testflags"
)

// TestMain restores the go test flags that InfraKit's init swallows.
func TestMain(m *testing.M) { os.Exit(testflags.Main(m)) }
