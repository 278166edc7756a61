package metrics

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/Sirupsen/logrus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"infrakit.aliyun/internal/httplimit"
)

// Path is where the metrics are served.
const Path = "/metrics"

// DefaultLimits are the metrics listener's: a scrape is one small GET, so
// a client gets 5 s to send it, 15 s (the 10 s gathering timeout and
// then some) to take the answer, and 16 connections at most.
func DefaultLimits() httplimit.Limits {
	return httplimit.Limits{ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 5 * time.Second, IdleTimeout: 60 * time.Second,
		WriteTimeout: 15 * time.Second, MaxHeaderBytes: 16 << 10, MaxConns: 16}
}

// maxScrapesInFlight bounds concurrent gathering (CPU work); one more
// scrape is answered 503 by promhttp.
const maxScrapesInFlight = 4

// Handler serves the registry in the Prometheus text or protobuf format
// at Path, and 404 elsewhere.
func (m *Metrics) Handler(log *logrus.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle(Path, promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:            logAdapter{log},
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: maxScrapesInFlight,
		Timeout:             10 * time.Second,
	}))
	return mux
}

// logAdapter is promhttp's Logger on logrus; nil discards.
type logAdapter struct{ log *logrus.Logger }

func (l logAdapter) Println(v ...interface{}) {
	if l.log != nil {
		l.log.Warn(v...)
	}
}

// Start listens on addr, given by --metrics-listen (a non-loopback address
// needs allowRemote, --metrics-allow-remote), and serves m's Handler there
// with limits (zero fields take DefaultLimits). It returns the listener's
// address and a function that stops serving.
func Start(addr string, allowRemote bool, m *Metrics, limits httplimit.Limits, log *logrus.Logger) (net.Addr, func(), error) {
	if m == nil {
		return nil, nil, errors.New("serve metrics: no metrics")
	}
	l, err := httplimit.ListenLocal(addr, allowRemote, "--metrics-listen", "--metrics-allow-remote")
	if err != nil {
		return nil, nil, err
	}
	return l.Addr(), Serve(l, m, limits, log), nil
}

// Serve serves m's Handler on l with limits (zero fields take
// DefaultLimits) and returns a function that stops serving: it waits up to
// 5 s for scrapes in flight, then closes their connections.
func Serve(l net.Listener, m *Metrics, limits httplimit.Limits, log *logrus.Logger) func() {
	limits = limits.WithDefaults(DefaultLimits())
	srv := limits.Server(m.Handler(log), log)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(limits.Listener(l, "metrics listener")); err != nil && !errors.Is(err, http.ErrServerClosed) && log != nil {
			log.WithError(err).Warn("Serving metrics stopped")
		}
	}()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			_ = srv.Close()
		}
		<-done
	}
}
