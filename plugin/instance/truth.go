package instance

import (
	"context"
	"errors"
	"sync"
	"time"

	log "github.com/Sirupsen/logrus"

	"infrakit.aliyun/internal/ecs"
)

// Provision must tell the truth: an instance it created is returned, and an
// error means no instance was created by it. A RunInstances whose answer
// was lost (dropped connection, timeout, 5xx) may have created one; the
// ClientToken makes that knowable, because RunInstances with the same token
// and parameters is idempotent: it answers the IDs of the first call, or
// creates the instance now.

// DefaultConfirmTimeout bounds asking again with the same ClientToken once
// the Provision's retries are spent: DefaultProvisionTimeout plus this stays
// under InfraKit's 15 s RPC timeout.
const DefaultConfirmTimeout = 2 * time.Second

// settleTimeout bounds the background settling of a RunInstances whose
// outcome stayed unknown (on the plugin's clock and in real time).
const settleTimeout = 10 * time.Minute

// creator makes Provision's RunInstances calls and keeps them truthful:
// it asks again with the same ClientToken, and settles in the background
// what stayed unknown.
type creator struct {
	api   ecs.InstanceAPI
	log   *log.Logger
	now   func() time.Time
	retry ecs.RetryPolicy
	// confirmTimeout: see Config.ConfirmTimeout.
	confirmTimeout time.Duration
	settling       sync.WaitGroup // settleLater; Close waits for it
	closing        closeMark      // when Close began: bounds settleLater
}

// run is RunInstances for Provision: when the outcome is unknown
// it asks again with the same ClientToken for up to confirmTimeout (its own
// budget, so it works even when the Provision's is spent). An ID found so is
// returned. A definite refusal of the same token means the first call
// created nothing. If the outcome is still unknown, the call fails and
// settleLater keeps asking in the background and releases any instance the
// token created, so the error stays true.
func (c *creator) run(ctx context.Context, req *runRequest) (string, error) {
	id, err := c.api.RunInstances(ctx, req.ecs())
	if err == nil || !ecs.IsOutcomeUnknown(err) || req.ClientToken == "" {
		return id, err
	}
	logger := c.log.WithFields(log.Fields{"action": "provision", "group": req.Tags[tagGroup]})
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.confirmTimeout)
	defer cancel()
	for cctx.Err() == nil {
		id, cerr := c.api.RunInstances(cctx, req.ecs())
		if cerr == nil {
			logger.WithField("instance", id).Info("an earlier RunInstances attempt's answer was lost; the same ClientToken found the instance")
			return id, nil
		}
		if !ecs.IsOutcomeUnknown(cerr) && !ecs.Temporary(cerr) && !errors.Is(cerr, context.DeadlineExceeded) {
			// The same token, refused for good: the first call created nothing.
			return "", cerr
		}
		err = cerr
	}
	unknown := &ecs.OutcomeUnknownError{Err: errors.Unwrap(err), ClientToken: req.ClientToken}
	if unknown.Err == nil {
		unknown.Err = err
	}
	logger.WithField("code", ecs.ErrorCode(err)).Warn("RunInstances outcome unknown; settling it in the background")
	c.settleLater(req)
	return "", unknown
}

// settleLater asks again with req's ClientToken until ECS answers, and
// releases the instance if one exists: the Provision that made req has
// already reported failure.
func (c *creator) settleLater(req *runRequest) {
	r := *req
	c.settling.Add(1)
	go func() {
		defer c.settling.Done()
		ctx, cancel := context.WithTimeout(context.Background(), settleTimeout)
		defer cancel()
		deadline := c.now().Add(settleTimeout)
		logger := c.log.WithFields(log.Fields{"action": "settle", "group": r.Tags[tagGroup]})
		for ctx.Err() == nil && c.before(deadline) {
			id, err := c.api.RunInstances(ctx, r.ecs())
			if err == nil {
				c.releaseUnreported(ctx, id, deadline, logger.WithField("instance", id))
				return
			}
			if !ecs.IsOutcomeUnknown(err) && !ecs.Temporary(err) {
				logger.WithField("code", ecs.ErrorCode(err)).Info("RunInstances refused for good: the failed Provision created nothing")
				return
			}
			if c.retry.Sleep(ctx, 5*time.Second) != nil {
				break
			}
		}
		logger.Error("could not learn whether a failed Provision created an instance; look for instances with its group tags")
	}()
}

// before reports whether settling may go on: deadline has not passed, nor
// attachCloseWait since Close began (Close waits for it).
func (c *creator) before(deadline time.Time) bool {
	end, _ := c.closing.deadline(deadline)
	return c.now().Before(end)
}

// releaseUnreported releases an instance whose Provision reported failure.
func (c *creator) releaseUnreported(ctx context.Context, id string, deadline time.Time, logger *log.Entry) {
	for ctx.Err() == nil && c.before(deadline) {
		err := c.api.DeleteInstance(ctx, id, true)
		if err == nil || ecs.IsNotFound(err) {
			logger.Info("released an instance created by a Provision that reported failure")
			return
		}
		if c.retry.Sleep(ctx, 2*time.Second) != nil {
			break
		}
	}
	logger.Error("could not release an instance created by a Provision that reported failure")
}
