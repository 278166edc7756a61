package daemon

import (
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/Sirupsen/logrus"
)

// Limits bound what one client can hold on a listener, so no client (a
// half-sent body, a thousand idle connections) can starve the SPI socket or
// exhaust the process's file descriptors.
type Limits struct {
	// ReadHeaderTimeout: the request line and headers must arrive within it.
	ReadHeaderTimeout time.Duration
	// ReadTimeout: the whole request, body included, must arrive within it.
	ReadTimeout time.Duration
	// IdleTimeout closes a keep-alive connection with no request for it.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds the request headers.
	MaxHeaderBytes int
	// MaxConns is the number of connections served at once. One more
	// waits up to QueueWait for a slot (the rest wait in the kernel's
	// backlog, holding no descriptor of ours), then is answered 503 with a
	// JSON error naming the limit and closed.
	MaxConns  int
	QueueWait time.Duration
}

// DefaultSPILimits are the plugin socket's limits. There is no write
// timeout: a Provision takes up to ~14 s and event streams stay open (the
// read timeout does not end them: net/http clears the read deadline once
// the request is read, TestAdversarialReadTimeoutSparesStreams); a
// request body of at most 4 MiB (codec.go) must arrive within 30 s. The
// group plugin provisions every missing instance at once, so up to 512
// calls are served together and the next ones wait for a slot.
func DefaultSPILimits() Limits {
	return Limits{ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute,
		MaxHeaderBytes: 64 << 10, MaxConns: 512, QueueWait: 10 * time.Second}
}

// DefaultEventsLimits are the CloudMonitor events listener's: events are a
// few hundred bytes, so a client gets 5 s, and 64 connections at most, one
// over that answered 503 at once.
func DefaultEventsLimits() Limits {
	return Limits{ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 5 * time.Second, IdleTimeout: 30 * time.Second,
		MaxHeaderBytes: 16 << 10, MaxConns: 64}
}

func (l Limits) withDefaults(d Limits) Limits {
	if l.ReadHeaderTimeout <= 0 {
		l.ReadHeaderTimeout = d.ReadHeaderTimeout
	}
	if l.ReadTimeout <= 0 {
		l.ReadTimeout = d.ReadTimeout
	}
	if l.IdleTimeout <= 0 {
		l.IdleTimeout = d.IdleTimeout
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

// server returns an http.Server for h with these limits.
func (l Limits) server(h http.Handler, log *logrus.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: l.ReadHeaderTimeout,
		ReadTimeout:       l.ReadTimeout,
		IdleTimeout:       l.IdleTimeout,
		MaxHeaderBytes:    l.MaxHeaderBytes,
		ErrorLog:          newStdLogger(log),
	}
}

// listener caps the connections open at once on ln.
func (l Limits) listener(ln net.Listener, what string) net.Listener {
	return &capListener{Listener: ln, slots: make(chan struct{}, l.MaxConns), wait: l.QueueWait, max: l.MaxConns, what: what}
}

type capListener struct {
	net.Listener
	slots chan struct{}
	wait  time.Duration
	max   int
	what  string
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

// refuse answers 503 without reading the request, and closes: it holds
// the descriptor for at most 100 ms.
func (l *capListener) refuse(c net.Conn) {
	body := fmt.Sprintf(`{"jsonrpc":"2.0","error":{"code":-32000,"message":"too many connections: the %s serves at most %d at once; try again"},"id":null}`+"\n", l.what, l.max)
	_ = c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	_, _ = fmt.Fprintf(c, "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	_ = c.Close()
}

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
