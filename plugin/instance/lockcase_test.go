package instance

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"infrakit.aliyun/internal/ecs"
	"infrakit.aliyun/plugin/instance/spot"
)

// lockCaseECS accepts only one spelling of the LockReason filter: another
// is refused with InvalidParameter (reject) or silently matches nothing.
type lockCaseECS struct {
	*keepFake
	accepted string
	reject   bool
	filters  []string // the LockReason of every DescribeInstances ("" = none)
}

func (f *lockCaseECS) DescribeInstances(ctx context.Context, flt ecs.InstanceFilter) ([]ecs.Instance, error) {
	f.mu.Lock()
	f.filters = append(f.filters, flt.LockReason)
	f.mu.Unlock()
	if flt.LockReason == "" {
		return f.keepFake.DescribeInstances(ctx, flt)
	}
	if flt.LockReason != f.accepted {
		if f.reject {
			return nil, &ecs.APIError{Action: "DescribeInstances", Code: "InvalidParameter.LockReason", Message: "The specified LockReason is not valid."}
		}
		return nil, nil
	}
	flt.LockReason = ""
	all, err := f.keepFake.DescribeInstances(ctx, flt)
	var out []ecs.Instance
	for _, inst := range all {
		for _, l := range inst.Locks {
			if strings.EqualFold(l, f.accepted) {
				out = append(out, inst)
			}
		}
	}
	return out, err
}

func (f *lockCaseECS) calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := append([]string(nil), f.filters...)
	f.filters = nil
	return out
}

func lockedSpot(f *keepFake, id, reason string) {
	inst := f.spotMember(id, "172.16.0.1", nil)
	inst.Locks = append(inst.Locks, reason)
}

func TestWatcherLockCaseRejected(t *testing.T) {
	fake := &lockCaseECS{keepFake: newKeepFake(), accepted: "recycling", reject: true}
	lockedSpot(fake.keepFake, "i-1", "recycling")
	p, _, _ := newTestPlugin(t, fake)
	ctx := context.Background()
	p.spot.Watch.Once(ctx)
	equal(t, []string{"Recycling", "recycling"}, fake.calls(), "refused once, then the other case in the same tick")
	equal(t, true, p.spot.Noticed("i-1"), "noticed, whatever the case of the lock in the answer")
	p.spot.Watch.Once(ctx)
	equal(t, []string{"recycling"}, fake.calls(), "remembered: one call per tick again")
}

func TestWatcherLockCaseSilentlyIgnored(t *testing.T) {
	fake := &lockCaseECS{keepFake: newKeepFake(), accepted: "recycling"}
	lockedSpot(fake.keepFake, "i-1", "Recycling")
	p, _, _ := newTestPlugin(t, fake)
	ctx := context.Background()
	for i := 1; i < spot.FullScanEvery; i++ {
		p.spot.Watch.Once(ctx)
	}
	equal(t, false, p.spot.Noticed("i-1"), "the filter in the wrong case matches nothing")
	equal(t, spot.FullScanEvery-1, len(fake.calls()), "one call per tick")
	p.spot.Watch.Once(ctx) // the full scan's tick
	equal(t, []string{"Recycling", ""}, fake.calls())
	equal(t, true, p.spot.Noticed("i-1"), "the full scan noticed it")
	p.spot.Watch.Once(ctx)
	equal(t, []string{"recycling"}, fake.calls(), "switched and remembered")
}

func TestWatcherLockCaseCommon(t *testing.T) {
	fake := &lockCaseECS{keepFake: newKeepFake(), accepted: LockRecycling, reject: true}
	lockedSpot(fake.keepFake, "i-1", LockRecycling)
	p, _, _ := newTestPlugin(t, fake)
	for i := 0; i < 2*spot.FullScanEvery; i++ {
		p.spot.Watch.Once(context.Background())
	}
	calls := fake.calls()
	equal(t, 2*spot.FullScanEvery+2, len(calls), "one call per tick, and a full scan every spot.FullScanEvery ticks")
	for _, c := range calls {
		if c != LockRecycling && c != "" {
			t.Fatalf("switched case to %q though ECS took %q", c, LockRecycling)
		}
	}
}

// maxIDsECS refuses more than 100 InstanceIds, as ECS does.
type maxIDsECS struct {
	*keepFake
	pages []int
}

func (f *maxIDsECS) DescribeInstances(ctx context.Context, flt ecs.InstanceFilter) ([]ecs.Instance, error) {
	if len(flt.InstanceIDs) > 0 {
		f.mu.Lock()
		f.pages = append(f.pages, len(flt.InstanceIDs))
		f.mu.Unlock()
	}
	if len(flt.InstanceIDs) > 100 {
		return nil, &ecs.APIError{Action: "DescribeInstances", Code: "InvalidParameter.InstanceIds", Message: "at most 100"}
	}
	return f.keepFake.DescribeInstances(ctx, flt)
}

// Kept images claimed by 250 replacements: the claimers are looked up in
// pages of at most 100 IDs, and every running one is found.
func TestClaimersPagedBy100(t *testing.T) {
	fake := &maxIDsECS{keepFake: newKeepFake()}
	for i := 0; i < 250; i++ {
		id := fmt.Sprintf("i-r%03d", i)
		fake.spotMember(id, fmt.Sprintf("172.16.%d.%d", i/200, i%200), nil)
		im := &ecs.Image{ID: fmt.Sprintf("m-%03d", i), Status: "Available", CreationTime: "2024-01-01T00:00Z"}
		for k, v := range mergeTags(testNamespace, map[string]string{tagGroup: "g", TagPreemptedFrom: fmt.Sprintf("i-old%03d", i), TagClaimedBy: id}) {
			im.Tags = append(im.Tags, ecs.Tag{Key: k, Value: v})
		}
		fake.images[im.ID] = im
	}
	p, clock, _ := newTestPlugin(t, fake)
	clock.Sleep(time.Minute)
	noErr(t, p.spot.Watch.CleanImages(context.Background()))
	equal(t, []int{100, 100, 50}, fake.pages)
	equal(t, 0, len(fake.images), "every image whose replacement runs is deleted")
}
