package emulator

import (
	"net"
	"sync"
	"time"
)

// maxHeaderBytes bounds request headers: ECS requests carry a few hundred
// bytes of headers (ACS3 adds a handful of x-acs-* ones), so 64 KiB is
// plenty and a client cannot make the server buffer megabytes of them.
const maxHeaderBytes = 64 << 10

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// limitListener accepts at most n connections at once: Accept waits for a
// slot, so connections beyond the cap stay in the kernel's accept queue
// instead of each costing a goroutine and buffers. With the read timeouts
// this bounds what slow clients can hold.
type limitListener struct {
	net.Listener
	slots chan struct{}
	done  chan struct{}
	once  sync.Once
}

func newLimitListener(ln net.Listener, n int) *limitListener {
	return &limitListener{Listener: ln, slots: make(chan struct{}, n), done: make(chan struct{})}
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.slots }}, nil
}

func (l *limitListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// limitConn gives its slot back exactly once, when closed.
type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
