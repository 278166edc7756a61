package ecs

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

// Check refuses negative durations and an InitialInterval above
// MaxInterval, naming the field.
func (r RetryConfig) Check() error {
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

// RetryPolicy is the one place that decides whether and when to retry an
// ECS call; the plugin's adapter and the operator commands
// (internal/inventory) both use it.
type RetryPolicy struct {
	initial, max, maxElapsed time.Duration
	clock                    backoff.Clock
	sleep                    func(context.Context, time.Duration) error
}

// Sleep waits d on the policy's timer (RetryConfig.Sleep in tests), or
// until ctx ends, whichever is first; it returns ctx's error if it ended.
func (r RetryPolicy) Sleep(ctx context.Context, d time.Duration) error { return r.sleep(ctx, d) }

// NewRetryPolicy makes the policy cfg describes, timed by now (nil =
// time.Now).
func NewRetryPolicy(cfg RetryConfig, now func() time.Time) RetryPolicy {
	if now == nil {
		now = time.Now
	}
	r := RetryPolicy{
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

func (r RetryPolicy) newBackOff() *backoff.ExponentialBackOff {
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

// Do runs op until it succeeds, fails with a non-temporary error, or the
// backoff gives up; it returns op's last error. onRetry (may be nil) is
// told about each retry before the wait.
func (r RetryPolicy) Do(ctx context.Context, op func(attempt int) error, onRetry func(attempt int, err error, wait time.Duration)) error {
	b := r.newBackOff()
	for attempt := 1; ; attempt++ {
		err := op(attempt)
		if err == nil || !Temporary(err) {
			return err
		}
		wait := b.NextBackOff()
		if wait == backoff.Stop {
			return err
		}
		if onRetry != nil {
			onRetry(attempt, err, wait)
		}
		if serr := r.Sleep(ctx, wait); serr != nil {
			return err
		}
	}
}

// Call runs op, one ECS call of action made with an aliyungo client,
// under the policy: every failure is classified (Classify) and retried
// while Temporary. It returns the last classified error, so its message is
// scrubbed of signed URLs.
func (r RetryPolicy) Call(ctx context.Context, action string, op func() error) error {
	return r.Do(ctx, func(int) error { return Classify(action, op()) }, nil)
}
