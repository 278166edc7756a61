package emulator

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// slowClient opens a connection and sends part of a request, then stops.
func slowClient(t *testing.T, srv *Server, partial string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, partial); err != nil {
		t.Fatal(err)
	}
	return c
}

// waitClosed reads until the server closes the connection and returns
// when that happened; safety bounds the wait (the server's timeouts under
// test are far shorter).
func waitClosed(t *testing.T, c net.Conn, safety time.Duration) time.Time {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(safety))
	_, err := io.Copy(io.Discard, c)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("server kept a stalled connection open for %v", safety)
	}
	return time.Now()
}

// TestSlowClientCannotStarveServer: with a cap of one connection, a client
// that sends half a request header holds the only slot only until
// ReadHeaderTimeout, then a well-formed request is served; a request whose
// body stalls is cut at ReadTimeout, answered with an error and creates
// nothing; an idle keep-alive connection is closed after IdleTimeout.
func TestSlowClientCannotStarveServer(t *testing.T) {
	opts := Options{MaxConns: 1, ReadHeaderTimeout: 200 * time.Millisecond, ReadTimeout: 400 * time.Millisecond,
		IdleTimeout: 200 * time.Millisecond}
	const safety = 10 * time.Second

	t.Run("half header", func(t *testing.T) {
		srv, fc := newTestServer(t, opts)
		start := time.Now()
		slow := slowClient(t, srv, "GET /?Action=DescribeRegions HTTP/1.1\r\nHost: emulator\r\n")
		served := make(chan time.Time, 1)
		go func() {
			r := raw{params: map[string]string{"Action": "DescribeRegions"}, baseURL: srv.URL()}.do(t, fc.Now())
			if r.Status != http.StatusOK {
				t.Errorf("request after the slow client: %d %s", r.Status, r.Text)
			}
			served <- time.Now()
		}()
		waitClosed(t, slow, safety)
		select {
		case at := <-served:
			// The only slot frees when the slow client is dropped, no
			// sooner than ReadHeaderTimeout after it connected; without
			// the cap the request is served in milliseconds.
			if waited := at.Sub(start); waited < opts.ReadHeaderTimeout {
				t.Fatalf("second connection served after %v, while the first held the only slot: no connection cap", waited)
			}
		case <-time.After(safety):
			t.Fatal("request not served after the slow client was dropped")
		}
	})

	t.Run("half body", func(t *testing.T) {
		srv, _ := newTestServer(t, opts)
		slow := slowClient(t, srv, "POST / HTTP/1.1\r\nHost: emulator\r\nContent-Type: application/x-www-form-urlencoded\r\n"+
			"Content-Length: 4096\r\n\r\nAction=RunInstances&RegionId=cn-hangzhou&ImageId=")
		slow.SetReadDeadline(time.Now().Add(safety))
		resp, err := http.ReadResponse(bufio.NewReader(slow), nil)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode < 400 {
				t.Fatalf("stalled body answered %d", resp.StatusCode)
			}
		} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatal("server kept a stalled body open past ReadTimeout")
		}
		waitClosed(t, slow, safety)
		if n := len(srv.Instances()); n != 0 {
			t.Fatalf("a stalled request created %d instances", n)
		}
	})

	t.Run("idle keep-alive", func(t *testing.T) {
		srv, _ := newTestServer(t, opts)
		c := slowClient(t, srv, "GET /emulator/stats HTTP/1.1\r\nHost: emulator\r\n\r\n")
		c.SetReadDeadline(time.Now().Add(safety))
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.Close {
			t.Fatal("server closed a keep-alive connection right away; the idle timeout is not what is tested")
		}
		if _, err := br.ReadByte(); err != io.EOF {
			t.Fatalf("idle connection: %v, want EOF after IdleTimeout", err)
		}
	})
}

// TestListenerDefaults: the zero Options get bounded timeouts and a cap.
func TestListenerDefaults(t *testing.T) {
	srv, _ := newTestServer(t, Options{})
	if srv.srv.ReadHeaderTimeout != DefaultReadHeaderTimeout || srv.srv.ReadTimeout != DefaultReadTimeout ||
		srv.srv.IdleTimeout != DefaultIdleTimeout || srv.opts.MaxConns != DefaultMaxConns || srv.srv.MaxHeaderBytes != maxHeaderBytes {
		t.Fatalf("listener limits: %+v", srv.srv)
	}
}
