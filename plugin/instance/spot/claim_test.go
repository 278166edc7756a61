package spot

import (
	"context"
	"fmt"
	"testing"
	"time"

	log "github.com/Sirupsen/logrus"

	"infrakit.aliyun/internal/ecs"
	"infrakit.aliyun/plugin/instance/groupspec"
)

// noKeptImages is ECS with no kept image anywhere.
type noKeptImages struct{ ecs.SpotAPI }

func (noKeptImages) DescribeImages(context.Context, ecs.ImageFilter) ([]ecs.Image, error) {
	return nil, nil
}

// Group names come from Provision's spec: the per-group claim locks of
// groups no Provision is claiming for are not kept.
func TestGroupLocksAreNotKeptPerGroupName(t *testing.T) {
	r := New(Config{Kept: noKeptImages{}, Log: log.New(), Now: time.Now})
	defer r.Close()
	for i := 0; i < 1000; i++ {
		c, err := r.Claim(context.Background(), ClaimRequest{Group: fmt.Sprintf("g-%d", i), KeepData: groupspec.KeepDataImage})
		if err != nil || c != nil {
			t.Fatalf("claim: %v, %v", c, err)
		}
	}
	r.mu.Lock()
	n := len(r.groupLocks)
	r.mu.Unlock()
	equal(t, 0, n, "claim locks kept")
}
