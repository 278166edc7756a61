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

// The read timeout must not end an event subscription (a long answer):
// net/http clears the read deadline once the request is read, so a handler
// that runs past it keeps its context.
func TestReadTimeoutSparesStreams(t *testing.T) {
	release := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
			fmt.Fprint(w, "cancelled")
		case <-release:
			fmt.Fprint(w, "alive")
		}
	})
	limits := Limits{ReadHeaderTimeout: 100 * time.Millisecond, ReadTimeout: 100 * time.Millisecond, MaxConns: 2}.WithDefaults(Limits{IdleTimeout: time.Minute, MaxHeaderBytes: 1 << 10})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := limits.Server(h, nil)
	go srv.Serve(limits.Listener(l, "test"))
	defer srv.Close()
	got := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + l.Addr().String() + "/events/x")
		if err != nil {
			got <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		got <- string(b)
	}()
	var answer string
	select {
	case answer = <-got: // ended early
	case <-time.After(300 * time.Millisecond): // well past the 100 ms read timeout
		close(release)
		answer = <-got
	}
	if answer != "alive" {
		t.Fatalf("got %q, want alive", answer)
	}
}

// One connection over MaxConns (with no QueueWait) is answered 503 with a
// JSON error naming the listener and the limit, without reading the request;
// once a slot is free the next connection is served.
func TestConnectionCap(t *testing.T) {
	release := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
		fmt.Fprint(w, "ok")
	})
	limits := Limits{MaxConns: 1}.WithDefaults(Limits{ReadHeaderTimeout: time.Second, ReadTimeout: time.Second, IdleTimeout: time.Second, MaxHeaderBytes: 1 << 10})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := limits.Server(h, nil)
	go srv.Serve(limits.Listener(l, "test listener"))
	defer srv.Close()
	first := make(chan string, 1)
	held, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	fmt.Fprint(held, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	go func() { b, _ := io.ReadAll(held); first <- string(b) }()
	// The held connection has the only slot once Accept handed it over;
	// keep dialling until one is refused.
	var refused string
	for i := 0; i < 50 && refused == ""; i++ {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		b, _ := io.ReadAll(c)
		c.Close()
		if strings.HasPrefix(string(b), "HTTP/1.1 503") {
			refused = string(b)
		}
	}
	for _, want := range []string{"Connection: close", `"too many connections: the test listener serves at most 1 at once; try again"`, `"id":null`} {
		if !strings.Contains(refused, want) {
			t.Fatalf("503 answer lacks %q: %q", want, refused)
		}
	}
	close(release)
	_ = held.SetReadDeadline(time.Now().Add(2 * time.Second))
	if got := <-first; !strings.Contains(got, "ok") {
		t.Fatalf("held connection: %q", got)
	}
}

func TestWithDefaults(t *testing.T) {
	d := Limits{ReadHeaderTimeout: 1, ReadTimeout: 2, IdleTimeout: 3, MaxHeaderBytes: 4, MaxConns: 5, QueueWait: 6}
	got := Limits{ReadTimeout: 20, QueueWait: -1}.WithDefaults(d)
	want := Limits{ReadHeaderTimeout: 1, ReadTimeout: 20, IdleTimeout: 3, MaxHeaderBytes: 4, MaxConns: 5, QueueWait: 0}
	if got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

// The shared loopback check: a remote or every-interface address is
// refused without the allow flag, naming both flags; loopback is served.
func TestListenLocal(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0", "192.0.2.1:8087", "example.com:80"} {
		l, err := ListenLocal(addr, false, "--x-listen", "--x-allow-remote")
		if err == nil {
			l.Close()
			t.Fatalf("%s: listening on a non-loopback address without the allow flag", addr)
		}
		if !strings.Contains(err.Error(), `--x-listen "`+addr+`" is not a loopback address`) || !strings.Contains(err.Error(), "--x-allow-remote") {
			t.Errorf("%s: error %q does not name the flags", addr, err)
		}
	}
	for _, addr := range []string{"127.0.0.1:0", "localhost:0"} {
		l, err := ListenLocal(addr, false, "--x-listen", "--x-allow-remote")
		if err != nil {
			t.Fatalf("%s refused: %v", addr, err)
		}
		l.Close()
	}
	l, err := ListenLocal("0.0.0.0:0", true, "--x-listen", "--x-allow-remote")
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	if _, err := ListenLocal("nonsense", false, "--x-listen", "--x-allow-remote"); err == nil || !strings.Contains(err.Error(), `--x-listen "nonsense"`) {
		t.Errorf("a bad address: %v", err)
	}
}
