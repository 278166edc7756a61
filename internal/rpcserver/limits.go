package rpcserver

import (
	"io"
	"time"

	"github.com/Sirupsen/logrus"

	"infrakit.aliyun/internal/httplimit"
)

// DefaultLimits are the plugin socket's limits. There is no write
// timeout: a Provision takes up to ~14 s and event streams stay open (the
// read timeout does not end them: net/http clears the read deadline once
// the request is read, httplimit.TestReadTimeoutSparesStreams); a
// request body of at most MaxRequestBytes (codec.go) must arrive within
// 30 s. The group plugin provisions every missing instance at once, so up
// to 512 calls are served together and the next ones wait for a slot.
func DefaultLimits() httplimit.Limits {
	return httplimit.Limits{ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute,
		MaxHeaderBytes: 64 << 10, MaxConns: 512, QueueWait: 10 * time.Second}
}

func discardLogger() *logrus.Logger {
	l := logrus.New()
	l.Out = io.Discard
	return l
}
