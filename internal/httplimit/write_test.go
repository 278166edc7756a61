package httplimit

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// A client that sends its request and never reads the answer must not
// hold its slot for ever: with WriteTimeout the blocked write fails, the
// connection closes and the next client (waiting in QueueWait) is served.
// Without it the one slot stayed taken and the listener was starved.
func TestWriteTimeoutFreesSlot(t *testing.T) {
	big := strings.Repeat("x", 1<<20)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/small" {
			fmt.Fprint(w, "ok")
			return
		}
		for i := 0; i < 64; i++ { // 64 MiB: far more than the socket buffers hold
			if _, err := io.WriteString(w, big); err != nil {
				return
			}
		}
	})
	limits := Limits{MaxConns: 1, QueueWait: 5 * time.Second, WriteTimeout: 200 * time.Millisecond}.
		WithDefaults(Limits{ReadHeaderTimeout: time.Second, ReadTimeout: time.Second, IdleTimeout: time.Second, MaxHeaderBytes: 1 << 10})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := limits.Server(h, nil)
	go srv.Serve(limits.Listener(l, "test listener"))
	defer srv.Close()

	stuck, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer stuck.Close()
	_ = stuck.(*net.TCPConn).SetReadBuffer(4096)
	fmt.Fprint(stuck, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n") // and never reads

	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprint(c, "GET /small HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, _ := io.ReadAll(c)
	if !strings.HasPrefix(string(b), "HTTP/1.1 200") || !strings.HasSuffix(string(b), "ok") {
		t.Fatalf("a client behind one that does not read its answer: %q, want 200 ok", b)
	}
}

// Every listener's defaults bound how long an answer may take to send.
func TestWithDefaultsWriteTimeout(t *testing.T) {
	got := Limits{}.WithDefaults(Limits{WriteTimeout: 7})
	if got.WriteTimeout != 7 || (Limits{WriteTimeout: 3}).WithDefaults(Limits{WriteTimeout: 7}).WriteTimeout != 3 {
		t.Fatalf("WriteTimeout defaults: %+v", got)
	}
	if s := (Limits{WriteTimeout: 9}).Server(http.NotFoundHandler(), nil); s.WriteTimeout != 9 {
		t.Fatalf("server WriteTimeout %v, want 9", s.WriteTimeout)
	}
}
