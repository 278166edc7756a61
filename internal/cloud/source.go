package cloud

import (
	"fmt"
	"sync"
	"time"

	"github.com/Sirupsen/logrus"
	"github.com/denverdino/aliyungo/ecs"
)

// Refresh timing for temporary credentials.
const (
	// RefreshFraction of a credential's lifetime is used before refreshing.
	RefreshFraction = 0.8
	// RefreshMargin: refresh at the latest this long before expiry.
	RefreshMargin = 5 * time.Minute
	// RefreshRetry is the pause after a failed (or non-renewing) refresh
	// while the current credentials are still valid.
	RefreshRetry = 30 * time.Second
)

// ClientSource hands out the ECS client for a resolved Config. For
// permanent credentials it is always the same client. For temporary ones it
// fetches new credentials before the current ones expire (at 80% of their
// lifetime, and at least 5 minutes before expiry) and builds a new client:
// aliyungo clients have no lock, so a client in use is never mutated. A
// failed refresh keeps the current client while it is valid and is retried
// after RefreshRetry; only once the credentials have expired does Client
// return an error.
type ClientSource struct {
	opts      []ClientOption
	now       func() time.Time
	log       *logrus.Logger
	onRefresh func(source string, err error) // WithRefreshObserver; nil: none

	mu        sync.Mutex
	cfg       Config
	client    *ecs.Client
	refreshAt time.Time
	nextTry   time.Time
	refreshes int
}

// NewClientSource builds the first client for cfg. now is the clock (nil:
// time.Now); log receives refresh warnings (nil: none).
func NewClientSource(cfg Config, now func() time.Time, log *logrus.Logger, opts ...ClientOption) (*ClientSource, error) {
	if now == nil {
		now = time.Now
	}
	c, err := NewECSClient(cfg, opts...)
	if err != nil {
		return nil, err
	}
	s := &ClientSource{opts: opts, now: now, log: log, cfg: cfg, client: c}
	var o clientOptions
	for _, opt := range opts {
		opt(&o)
	}
	s.onRefresh = o.onRefresh
	s.refreshAt = refreshTime(now(), cfg.Expiration)
	return s, nil
}

// refreshTime is when credentials obtained at got and expiring at exp are
// to be replaced: the earlier of 80% of the lifetime and exp-5m (for a
// lifetime under 5 minutes: half of it).
func refreshTime(got, exp time.Time) time.Time {
	if exp.IsZero() {
		return time.Time{}
	}
	life := exp.Sub(got)
	if life <= RefreshMargin {
		return got.Add(life / 2)
	}
	at := got.Add(time.Duration(float64(life) * RefreshFraction))
	if m := exp.Add(-RefreshMargin); m.Before(at) {
		at = m
	}
	return at
}

// Config is the configuration in use (its String is safe to log).
func (s *ClientSource) Config() Config {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cfg
}

// RefreshAt is when the credentials will next be refreshed (zero: never).
func (s *ClientSource) RefreshAt() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refreshAt
}

// Refreshes counts successful credential refreshes.
func (s *ClientSource) Refreshes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refreshes
}

// Client returns the client to use for the next call.
func (s *ClientSource) Client() (*ecs.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cfg.refresh == nil {
		return s.client, nil
	}
	now := s.now()
	expired := !now.Before(s.cfg.Expiration)
	if now.Before(s.refreshAt) || (!expired && now.Before(s.nextTry)) {
		return s.client, nil
	}
	kind := s.cfg.RefreshKind()
	c, err := s.cfg.refresh()
	if err == nil && !c.Expiration.After(s.cfg.Expiration) {
		err = fmt.Errorf("the source returned credentials expiring at %s, no later than the current ones",
			c.Expiration.UTC().Format(credentialTimeFormat))
	}
	var client *ecs.Client
	if err == nil {
		next := s.cfg.withCredentials(c)
		if errs := next.credentialErrors(); len(errs) > 0 {
			err = errs[0]
		}
		if err == nil {
			client, err = NewECSClient(next, s.opts...)
		}
		if err == nil {
			s.cfg, s.client = next, client
			s.refreshAt = refreshTime(now, next.Expiration)
			s.nextTry = time.Time{}
			s.refreshes++
			s.observe(kind, nil)
			if s.log != nil {
				s.log.WithFields(logrus.Fields{
					"credential_source": next.Source, "access_key_id": MaskID(next.AccessKeyID),
					"expiration": next.Expiration.UTC().Format(credentialTimeFormat),
				}).Info("Refreshed temporary credentials")
			}
			return client, nil
		}
	}
	s.observe(kind, err)
	if expired {
		return nil, fmt.Errorf("credentials from %s expired at %s and could not be refreshed: %w",
			s.cfg.Source, s.cfg.Expiration.UTC().Format(credentialTimeFormat), err)
	}
	s.nextTry = now.Add(RefreshRetry)
	if s.log != nil {
		s.log.WithFields(logrus.Fields{
			"credential_source": s.cfg.Source, "expiration": s.cfg.Expiration.UTC().Format(credentialTimeFormat),
			"retry_in": RefreshRetry.String(), "error": err.Error(),
		}).Warn("Could not refresh temporary credentials; the current ones are still valid")
	}
	return s.client, nil
}

func (s *ClientSource) observe(kind string, err error) {
	if s.onRefresh != nil {
		s.onRefresh(kind, err)
	}
}
