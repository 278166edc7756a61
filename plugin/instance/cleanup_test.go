package instance

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/docker/infrakit/pkg/spi/instance"

	"infrakit.aliyun/internal/ecs"
	"infrakit.aliyun/plugin/instance/spot"
)

// expiringECS is keepFake with the adapter's handling of contexts: a call
// on an ended context fails at once with CallTimeout, as adapter.invoke
// does, and does nothing. attach replaces AttachDisk.
type expiringECS struct {
	*keepFake
	attach func(ctx context.Context) error

	cleanupDeadlines []time.Duration // how long each cleanup call had left
}

func expired(ctx context.Context, action string) error {
	if ctx.Err() != nil {
		return &ecs.APIError{Action: action, Code: ecs.CodeCallTimeout, Message: "no response before the operation's deadline", StatusCode: -1}
	}
	return nil
}

func (f *expiringECS) noteDeadline(ctx context.Context) {
	left := time.Duration(-1) // no deadline
	if d, ok := ctx.Deadline(); ok {
		left = time.Until(d)
	}
	f.mu.Lock()
	f.cleanupDeadlines = append(f.cleanupDeadlines, left)
	f.mu.Unlock()
}

func (f *expiringECS) AttachDisk(ctx context.Context, instanceID, diskID string, dwi bool) error {
	if err := f.attach(ctx); err != nil {
		return err
	}
	return f.keepFake.AttachDisk(ctx, instanceID, diskID, dwi)
}

func (f *expiringECS) DeleteInstance(ctx context.Context, id string, force bool) error {
	f.noteDeadline(ctx)
	if err := expired(ctx, "DeleteInstance"); err != nil {
		return err
	}
	return f.keepFake.DeleteInstance(ctx, id, force)
}

func (f *expiringECS) TagResource(ctx context.Context, typ, id string, tags map[string]string) error {
	f.noteDeadline(ctx)
	if err := expired(ctx, "TagResources"); err != nil {
		return err
	}
	return f.keepFake.TagResource(ctx, typ, id, tags)
}

// The calls that undo or record what Provision already did in ECS must not
// run under the Provision's deadline: it is typically spent exactly when
// they are needed. Each case spends the whole budget (1 ns) before the
// attach fails; the new instance must still be released, under a bounded
// context of its own.
func TestProvisionCleanupOutlivesSpentBudget(t *testing.T) {
	tests := []struct {
		name   string
		attach func(ctx context.Context) error
		want   string
	}{
		{
			name: "attach hangs until the budget is spent",
			attach: func(ctx context.Context) error {
				<-ctx.Done()
				return expired(ctx, "AttachDisk")
			},
			want: "attachDisk: " + ecs.CodeCallTimeout,
		},
		{
			name: "attach refused once the budget is spent",
			attach: func(ctx context.Context) error {
				<-ctx.Done()
				return &ecs.APIError{Action: "AttachDisk", Code: "InvalidDiskCategory.NotSupported"}
			},
			want: "attachDisk: InvalidDiskCategory.NotSupported",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := &expiringECS{keepFake: newKeepFake(), attach: tt.attach}
			d := &ecs.Disk{ID: "d-1", Zone: "cn-hangzhou-h", Status: "Available"}
			d.Tags = []ecs.Tag{{Key: TagAttachment, Value: "data-1"}}
			fake.disks["d-1"] = d
			p, _, _ := newTestPlugin(t, fake)
			p.provisionTimeout = time.Nanosecond
			spec := groupSpec()
			spec.Attachments = []instance.Attachment{{ID: "data-1", Type: "disk"}}

			_, err := p.Provision(spec)
			contains(t, fmt.Sprint(err), "attach disk d-1 to instance i-0001: "+tt.want)
			contains(t, fmt.Sprint(err), "instance i-0001 released")
			equal(t, []string{"i-0001 force=true"}, fake.deletes)
			equal(t, 0, len(fake.instances), "instances left behind")
			equal(t, 1, len(fake.cleanupDeadlines))
			if left := fake.cleanupDeadlines[0]; left <= 0 || left > time.Duration(p.cleanup) {
				t.Fatalf("cleanup had %v left, want a deadline of its own within %v", left, time.Duration(p.cleanup))
			}
		})
	}
}

// spot.Reclaims.Finish claims kept data for an instance that already exists:
// a spent Provision deadline must not leave the kept data unclaimed.
func TestClaimKeptDataOutlivesSpentBudget(t *testing.T) {
	for _, typ := range []string{"disk", "image"} {
		t.Run(typ, func(t *testing.T) {
			fake := &expiringECS{keepFake: newKeepFake(), attach: func(context.Context) error { return nil }}
			rep := &spot.Claim{}
			if typ == "disk" {
				fake.disks["d-1"] = &ecs.Disk{ID: "d-1", Status: "Available"}
				rep.Disks = []ecs.Disk{*fake.disks["d-1"]}
			} else {
				fake.images["m-1"] = &ecs.Image{ID: "m-1", Status: "Available"}
				rep.Image = fake.images["m-1"]
			}
			p, _, _ := newTestPlugin(t, fake)
			spent, cancel := context.WithDeadline(context.Background(), time.Time{})
			defer cancel()

			p.spot.Finish(spent, rep, "i-new")
			p.spot.Wait() // the disk's attach, in the background

			var tags map[string]string
			if typ == "disk" {
				tags = fake.disks["d-1"].TagMap()
			} else {
				tags = fake.images["m-1"].TagMap()
			}
			equal(t, "i-new", tags[TagClaimedBy])
			if typ == "disk" {
				equal(t, "attached", tags[TagKeepStep])
				equal(t, "i-new", fake.disks["d-1"].InstanceID)
				fake.cleanupDeadlines = fake.cleanupDeadlines[:1] // the claim; then the attach's step
			}
			equal(t, 1, len(fake.cleanupDeadlines))
			if left := fake.cleanupDeadlines[0]; left <= 0 || left > time.Duration(p.cleanup) {
				t.Fatalf("claim had %v left, want a deadline of its own within %v", left, time.Duration(p.cleanup))
			}
		})
	}
}
