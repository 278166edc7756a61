package daemon

import (
	"testing"

	"github.com/Sirupsen/logrus"

	"infrakit.aliyun/internal/rpcserver/rpctest"
	"infrakit.aliyun/internal/testutil"
)

// The standard-library assertions shared with the other packages' tests.
var (
	noErr       = testutil.NoErr
	equal       = testutil.Equal
	contains    = testutil.Contains
	notContains = testutil.NotContains
)

// The fake plugin and serving helpers shared with rpcserver's tests.
var (
	newFakePlugin     = rpctest.NewFakePlugin
	shortTempDir      = rpctest.ShortTempDir
	served            = rpctest.Served
	servedIn          = rpctest.ServedIn
	startInBackground = rpctest.StartInBackground
	rawRPC            = rpctest.RawRPC
	pluginFiles       = rpctest.PluginFiles
)

// testLogger logs at the InfraKit level into a buffer.
func testLogger(t *testing.T, level int) (*logrus.Logger, *testutil.SyncBuffer) {
	t.Helper()
	out := &testutil.SyncBuffer{}
	l, err := NewLogger(out, level, LogFormatText, nil)
	noErr(t, err)
	return l, out
}
