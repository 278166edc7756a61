package instance

import (
	"context"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// Retry defaults: the group plugin's RPC calls time out after 15 s, so a
// Provision must give up well before that.
const (
	DefaultRetryInitialInterval = 250 * time.Millisecond
	DefaultRetryMaxInterval     = 3 * time.Second
	DefaultRetryMaxElapsed      = 10 * time.Second
	DefaultCallTimeout          = 10 * time.Second
	// DefaultProvisionTimeout bounds a whole Provision (retries and
	// rate-limit waits included): InfraKit gives up on the RPC at 15 s.
	DefaultProvisionTimeout = 12 * time.Second
)

// RetryConfig tunes the single retry policy used for every ECS call:
// exponential backoff (factor 2, ±50% jitter) capped at MaxInterval, giving
// up once MaxElapsed has passed. Only temporary errors are retried
// (Throttling*, ServiceUnavailable, InternalError, no response); parameter,
// permission, quota and stock errors are returned at once.
type RetryConfig struct {
	MaxElapsed      time.Duration // 0 = DefaultRetryMaxElapsed
	InitialInterval time.Duration // 0 = DefaultRetryInitialInterval
	MaxInterval     time.Duration // 0 = DefaultRetryMaxInterval
	// Sleep replaces time.Sleep between attempts (tests). When nil the
	// plugin waits on a timer and stops early if the call is cancelled.
	Sleep func(time.Duration)
}

func (r RetryConfig) check() error {
	for _, f := range []struct {
		name string
		d    time.Duration
	}{{"MaxElapsed", r.MaxElapsed}, {"InitialInterval", r.InitialInterval}, {"MaxInterval", r.MaxInterval}} {
		if f.d < 0 { // the first, in field order (a map would pick one at random)
			return fmt.Errorf("retry %s is %v, must not be negative", f.name, f.d)
		}
	}
	if r.InitialInterval > 0 && r.MaxInterval > 0 && r.InitialInterval > r.MaxInterval {
		return fmt.Errorf("retry InitialInterval %v is above MaxInterval %v", r.InitialInterval, r.MaxInterval)
	}
	return nil
}

type clockFunc func() time.Time

func (c clockFunc) Now() time.Time { return c() }

// retryPolicy is the one place that decides whether and when to retry.
type retryPolicy struct {
	initial, max, maxElapsed time.Duration
	clock                    backoff.Clock
	sleep                    func(context.Context, time.Duration) error
}

func newRetryPolicy(cfg RetryConfig, now func() time.Time) retryPolicy {
	r := retryPolicy{
		initial:    cfg.InitialInterval,
		max:        cfg.MaxInterval,
		maxElapsed: cfg.MaxElapsed,
		clock:      clockFunc(now),
	}
	if r.initial == 0 {
		r.initial = DefaultRetryInitialInterval
	}
	if r.max == 0 {
		r.max = DefaultRetryMaxInterval
	}
	if r.maxElapsed == 0 {
		r.maxElapsed = DefaultRetryMaxElapsed
	}
	if cfg.Sleep != nil {
		s := cfg.Sleep
		r.sleep = func(ctx context.Context, d time.Duration) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			s(d)
			return ctx.Err()
		}
	} else {
		r.sleep = func(ctx context.Context, d time.Duration) error {
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-t.C:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	return r
}

func (r retryPolicy) newBackOff() *backoff.ExponentialBackOff {
	b := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(r.initial),
		backoff.WithMaxInterval(r.max),
		backoff.WithMaxElapsedTime(r.maxElapsed),
		backoff.WithMultiplier(2),
		backoff.WithRandomizationFactor(0.5),
		backoff.WithClockProvider(r.clock),
	)
	b.Reset()
	return b
}

// do runs op until it succeeds, fails with a non-temporary error, or the
// backoff gives up; it returns op's last error. onRetry is told about each
// retry before the wait.
func (r retryPolicy) do(ctx context.Context, op func(attempt int) error, onRetry func(attempt int, err error, wait time.Duration)) error {
	b := r.newBackOff()
	for attempt := 1; ; attempt++ {
		err := op(attempt)
		if err == nil || !temporary(err) {
			return err
		}
		wait := b.NextBackOff()
		if wait == backoff.Stop {
			return err
		}
		if onRetry != nil {
			onRetry(attempt, err, wait)
		}
		if serr := r.sleep(ctx, wait); serr != nil {
			return err
		}
	}
}

// cleanupContext is the context for a call that undoes or records a side
// effect Provision has already made (releasing an instance whose disks could
// not be attached, claiming kept data for a new instance). It must not share
// the Provision's deadline: that budget is most often spent precisely when
// such a call is needed (an attach that timed out), and a call on an expired
// context fails at once, leaving the side effect behind. So it keeps ctx's
// values but not its cancellation, with a bound of its own: one ECS call's
// worth (Config.CallTimeout, 10 s by default), retries included. In that
// rare case the Provision may answer after InfraKit's 15 s RPC timeout; the
// group plugin counts it as failed either way, and nothing is left behind.
func (p *Plugin) cleanupContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), p.cleanupTimeout)
}
