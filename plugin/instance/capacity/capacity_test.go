package capacity

import (
	"context"
	"testing"
	"time"

	log "github.com/Sirupsen/logrus"

	"infrakit.aliyun/internal/ecs"
	"infrakit.aliyun/internal/testutil"
)

var equal = testutil.Equal

// Provisions in flight and instances ECS does not list yet count for the
// spread, so concurrent Provisions of one group land in different zones.
func TestCapacitySpreadCountsInFlightAndRecent(t *testing.T) {
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	failing := false
	p := New(Config{Log: log.New(), Now: func() time.Time { return now },
		Members: func(context.Context, string) (map[string]string, error) {
			if failing {
				failing = false
				return nil, &ecs.APIError{Action: "DescribeInstances", Code: "ServiceUnavailable", StatusCode: 503}
			}
			return map[string]string{}, nil
		}})
	vsws := []string{"vsw-h", "vsw-i", "vsw-j"}
	entry := p.cfg.Log.WithField("test", t.Name())
	a := p.spreadOrder(context.Background(), "workers", vsws, entry)
	b := p.spreadOrder(context.Background(), "workers", vsws, entry)
	equal(t, "vsw-h", a[0])
	equal(t, "vsw-i", b[0], "second concurrent Provision")
	p.release("workers", "vsw-h")
	p.release("workers", "vsw-i")
	equal(t, "vsw-h", p.spreadOrder(context.Background(), "workers", vsws, entry)[0], "after both released")
	p.release("workers", "vsw-h")

	// Created but not yet listed (describe fails): still counted, until it expires.
	p.reserve("workers", "vsw-h")
	p.remember("workers", "i-new", "vsw-h") // releases the reservation
	failing = true
	c := p.spreadOrder(context.Background(), "workers", vsws, entry)
	equal(t, "vsw-i", c[0], "recent instance counted")
	p.release("workers", c[0])
	now = now.Add(recentTTL + time.Second)
	equal(t, "vsw-h", p.spreadOrder(context.Background(), "workers", vsws, entry)[0], "recent entry expired")
}
