package daemon

import (
	"errors"
	"time"

	"github.com/Sirupsen/logrus"
	"github.com/spf13/pflag"

	"infrakit.aliyun/internal/cloudmonitor"
	"infrakit.aliyun/internal/httplimit"
	"infrakit.aliyun/internal/metrics"
	ecsplugin "infrakit.aliyun/plugin/instance"
)

// SpotOptions are the daemon's spot interruption flags.
type SpotOptions struct {
	WatchInterval time.Duration // --spot-watch-interval
	EventsListen  string        // --events-listen
	AllowRemote   bool          // --events-allow-remote
	// EventsLimits bound the events listener's clients; zero fields take
	// cloudmonitor.DefaultLimits.
	EventsLimits httplimit.Limits
}

func addSpotFlags(f *pflag.FlagSet, o *SpotOptions) {
	f.DurationVar(&o.WatchInterval, "spot-watch-interval", ecsplugin.DefaultSpotWatchInterval,
		"how often the namespace's spot instances are checked for a reclaim notice (Recycling), 0 to disable")
	f.StringVar(&o.EventsListen, "events-listen", "",
		"host:port to accept CloudMonitor "+cloudmonitor.InterruptionEventName+" events on (HTTP POST), e.g. 127.0.0.1:8087; empty disables")
	f.BoolVar(&o.AllowRemote, "events-allow-remote", false, "allow --events-listen on a non-loopback address")
}

type watcher interface{ StartWatcher(interval time.Duration) }

// startSpot starts the plugin's spot watcher and the optional CloudMonitor
// events listener; the returned function stops the listener (the plugin's
// Close stops the watcher).
func startSpot(o SpotOptions, p interface{}, log *logrus.Logger, rec *metrics.Metrics) (func(), error) {
	if o.WatchInterval < 0 {
		return nil, errors.New("--spot-watch-interval must be 0 (off) or a positive duration")
	}
	if w, ok := p.(watcher); ok && o.WatchInterval > 0 {
		w.StartWatcher(o.WatchInterval)
	}
	if o.EventsListen == "" {
		return func() {}, nil
	}
	m, ok := p.(cloudmonitor.Marker)
	if !ok {
		return nil, errors.New("--events-listen: this plugin cannot take interruption events")
	}
	addr, stop, err := cloudmonitor.Start(o.EventsListen, o.AllowRemote, m, o.EventsLimits, log, cloudmonitor.Observe(rec.SpotPush))
	if err != nil {
		return nil, err
	}
	log.WithField("address", addr.String()).Info("Accepting CloudMonitor interruption events")
	return stop, nil
}
