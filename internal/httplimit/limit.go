// Package httplimit bounds what one client can hold on an HTTP listener:
// header, body and idle timeouts, a header size limit and a cap on the
// connections served at once (one over it is answered 503 and closed). The
// plugin's JSON-RPC socket (internal/rpcserver), the CloudMonitor events
// listener (internal/cloudmonitor) and the metrics listener
// (internal/metrics) serve through it; the two TCP listeners share
// ListenLocal's loopback-only check.
package httplimit

import (
	"bytes"
	"fmt"
	"io"
	stdlog "log"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/Sirupsen/logrus"
)

// Limits bound what one client can hold on a listener, so no client (a
// half-sent body, a thousand idle connections) can starve it or exhaust
// the process's file descriptors.
type Limits struct {
	// ReadHeaderTimeout: the request line and headers must arrive within it.
	ReadHeaderTimeout time.Duration
	// ReadTimeout: the whole request, body included, must arrive within it.
	ReadTimeout time.Duration
	// IdleTimeout closes a keep-alive connection with no request for it.
	IdleTimeout time.Duration
	// WriteTimeout, when set, bounds the time from the end of a request's
	// headers to the end of its answer: a client that never reads its
	// answer would otherwise block the write, and hold its slot, for ever.
	// Zero for listeners whose answers are streams (the plugin socket).
	WriteTimeout time.Duration
	// MaxHeaderBytes bounds the request headers.
	MaxHeaderBytes int
	// MaxConns is the number of connections served at once. One more
	// waits up to QueueWait for a slot (the rest wait in the kernel's
	// backlog, holding no descriptor of ours), then is answered 503 with a
	// JSON error naming the limit and closed.
	MaxConns  int
	QueueWait time.Duration
}

// WithDefaults fills l's zero (or negative) fields from d; a negative
// QueueWait becomes 0.
func (l Limits) WithDefaults(d Limits) Limits {
	if l.ReadHeaderTimeout <= 0 {
		l.ReadHeaderTimeout = d.ReadHeaderTimeout
	}
	if l.ReadTimeout <= 0 {
		l.ReadTimeout = d.ReadTimeout
	}
	if l.IdleTimeout <= 0 {
		l.IdleTimeout = d.IdleTimeout
	}
	if l.WriteTimeout <= 0 {
		l.WriteTimeout = d.WriteTimeout
	}
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = d.MaxHeaderBytes
	}
	if l.MaxConns <= 0 {
		l.MaxConns = d.MaxConns
	}
	if l.QueueWait < 0 {
		l.QueueWait = 0
	}
	return l
}

// Server returns an http.Server for h with these limits; net/http's own
// complaints go to log as warnings.
func (l Limits) Server(h http.Handler, log *logrus.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: l.ReadHeaderTimeout,
		ReadTimeout:       l.ReadTimeout,
		IdleTimeout:       l.IdleTimeout,
		WriteTimeout:      l.WriteTimeout,
		MaxHeaderBytes:    l.MaxHeaderBytes,
		ErrorLog:          stdLogger(log),
	}
}

// Listener caps the connections open at once on ln; what names the
// listener in the 503 answer ("plugin socket", "events listener").
func (l Limits) Listener(ln net.Listener, what string) net.Listener {
	return &capListener{Listener: ln, slots: make(chan struct{}, l.MaxConns), refusing: make(chan struct{}, refusing), wait: l.QueueWait, max: l.MaxConns, what: what}
}

type capListener struct {
	net.Listener
	slots    chan struct{}
	refusing chan struct{} // refusals being answered
	wait     time.Duration
	max      int
	what     string
}

func (l *capListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.take() {
			return &slotConn{Conn: c, release: func() { <-l.slots }}, nil
		}
		l.refuse(c)
	}
}

func (l *capListener) take() bool {
	select {
	case l.slots <- struct{}{}:
		return true
	default:
	}
	if l.wait <= 0 {
		return false
	}
	t := time.NewTimer(l.wait)
	defer t.Stop()
	select {
	case l.slots <- struct{}{}:
		return true
	case <-t.C:
		return false
	}
}

// refuse answers 503 naming the limit, and closes. It first reads what
// the client sends up to the end of its request headers: a 503 written
// before the request makes Go's client report an unsolicited response,
// and closing with unread bytes makes the kernel send a reset, so either
// way the client would not see the answer. Refusals run beside the accept
// loop, each holding its descriptor at most twice refuseHold; past refusing of
// them at once, a connection is closed without an answer.
func (l *capListener) refuse(c net.Conn) {
	select {
	case l.refusing <- struct{}{}:
	default:
		_ = c.Close()
		return
	}
	go func() {
		defer func() { <-l.refusing }()
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(refuseHold))
		readHeaders(c)
		_ = c.SetDeadline(time.Now().Add(refuseHold)) // to answer and drain
		body := fmt.Sprintf(`{"jsonrpc":"2.0","error":{"code":-32000,"message":"too many connections: the %s serves at most %d at once; try again"},"id":null}`+"\n", l.what, l.max)
		_, _ = fmt.Fprintf(c, "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
		if hc, ok := c.(interface{ CloseWrite() error }); ok && hc.CloseWrite() == nil {
			_, _ = io.CopyN(io.Discard, c, refuseDrain) // the body, if any: no reset
		}
	}()
}

// readHeaders reads from c until the blank line that ends HTTP request
// headers, refuseDrain bytes, or an error (the deadline).
func readHeaders(c net.Conn) {
	var seen []byte
	buf := make([]byte, 4096)
	for len(seen) < refuseDrain {
		n, err := c.Read(buf)
		seen = append(seen, buf[:n]...)
		if bytes.Contains(seen, []byte("\r\n\r\n")) || err != nil {
			return
		}
	}
}

// A refused connection is held at most 2×refuseHold and read of at most
// refuseDrain bytes; at most refusing are answered at once.
const (
	refuseHold  = 100 * time.Millisecond
	refuseDrain = 64 << 10
	refusing    = 64
)

type slotConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *slotConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// stdLogger adapts the logger for net/http's ErrorLog; nil discards.
func stdLogger(l *logrus.Logger) *stdlog.Logger {
	if l == nil {
		return stdlog.New(io.Discard, "", 0)
	}
	return stdlog.New(writerFunc(func(p []byte) (int, error) {
		l.Warn(string(bytes.TrimRight(p, "\n")))
		return len(p), nil
	}), "", 0)
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
