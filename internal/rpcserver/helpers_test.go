package rpcserver_test

import (
	"testing"

	"github.com/Sirupsen/logrus"

	"infrakit.aliyun/internal/rpcserver/rpctest"
	"infrakit.aliyun/internal/testutil"
)

var (
	noErr       = testutil.NoErr
	equal       = testutil.Equal
	contains    = testutil.Contains
	notContains = testutil.NotContains
)

// The fake plugin and serving helpers shared with the daemon's tests.
type (
	fakePlugin  = rpctest.FakePlugin
	destroyCall = rpctest.DestroyCall
)

var (
	newFakePlugin = rpctest.NewFakePlugin
	shortTempDir  = rpctest.ShortTempDir
	served        = rpctest.Served
	servedIn      = rpctest.ServedIn
	unixHTTP      = rpctest.UnixHTTP
	rawRPC        = rpctest.RawRPC
	pluginFiles   = rpctest.PluginFiles
)

// The legacy clients' reply shapes and handshake rule (shared with
// the daemon's tests).
type (
	oldSpec        = rpctest.OldSpec
	oldImplements  = rpctest.OldImplements
	oldTypes       = rpctest.OldTypes
	oldProvisioned = rpctest.OldProvisioned
)

var (
	oldHandshake = rpctest.OldHandshake
	read         = rpctest.ReadOld
	replay       = rpctest.Replay
)

// testLogger logs at the given logrus level into a buffer, as text.
func testLogger(t *testing.T, level int) (*logrus.Logger, *testutil.SyncBuffer) {
	t.Helper()
	out := &testutil.SyncBuffer{}
	l := logrus.New()
	l.Out = out
	l.Level = logrus.AllLevels[level]
	l.Formatter = &logrus.TextFormatter{FullTimestamp: true, DisableColors: true}
	return l, out
}
