package daemon

import (
	"github.com/Sirupsen/logrus"
	"github.com/spf13/pflag"

	"infrakit.aliyun/internal/httplimit"
	"infrakit.aliyun/internal/metrics"
)

// MetricsOptions are the daemon's Prometheus metrics flags.
type MetricsOptions struct {
	Listen      string // --metrics-listen
	AllowRemote bool   // --metrics-allow-remote
	// Limits bound the metrics listener's clients; zero fields take
	// metrics.DefaultLimits.
	Limits httplimit.Limits
}

func addMetricsFlags(f *pflag.FlagSet, o *MetricsOptions) {
	f.StringVar(&o.Listen, "metrics-listen", "",
		"host:port to serve Prometheus metrics on (GET "+metrics.Path+"), e.g. 127.0.0.1:9101; empty disables")
	f.BoolVar(&o.AllowRemote, "metrics-allow-remote", false, "allow --metrics-listen on a non-loopback address")
}

// startMetrics builds the metrics and serves them when --metrics-listen is
// set. Without it the metrics are nil: every recorder call does nothing.
// The returned function stops the listener.
func startMetrics(opts *Options, log *logrus.Logger) (*metrics.Metrics, func(), error) {
	o := opts.Metrics
	if o.Listen == "" {
		if o.AllowRemote {
			log.Warn("--metrics-allow-remote has no effect without --metrics-listen")
		}
		return nil, func() {}, nil
	}
	m, err := metrics.New(metrics.Config{Version: Version, Revision: Revision})
	if err != nil {
		return nil, nil, err
	}
	addr, stop, err := metrics.Start(o.Listen, o.AllowRemote, m, o.Limits, log)
	if err != nil {
		return nil, nil, err
	}
	log.WithField("address", addr.String()).Info("Serving Prometheus metrics on " + metrics.Path)
	if opts.MetricsReady != nil {
		opts.MetricsReady(addr.String())
	}
	return m, stop, nil
}
