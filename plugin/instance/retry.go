package instance

import (
	"context"
	"time"
)

// DefaultProvisionTimeout bounds a whole Provision (retries and rate-limit
// waits included): InfraKit gives up on the RPC at 15 s.
const DefaultProvisionTimeout = 12 * time.Second

// cleanupBudget is Config.CallTimeout, the bound of a cleanup call (see
// context).
type cleanupBudget time.Duration

// context is the context for a call that undoes or records a side
// effect Provision has already made (releasing an instance whose disks could
// not be attached, claiming kept data for a new instance). It must not share
// the Provision's deadline: that budget is most often spent precisely when
// such a call is needed (an attach that timed out), and a call on an expired
// context fails at once, leaving the side effect behind. So it keeps ctx's
// values but not its cancellation, with a bound of its own: one ECS call's
// worth (Config.CallTimeout, 10 s by default), retries included. In that
// rare case the Provision may answer after InfraKit's 15 s RPC timeout; the
// group plugin counts it as failed either way, and nothing is left behind.
func (b cleanupBudget) context(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), time.Duration(b))
}
