package instance

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	log "github.com/Sirupsen/logrus"
	"github.com/docker/infrakit/pkg/spi/instance"

	"infrakit.aliyun/internal/ecs"
)

// attacher owns Spec.Attachments: it finds their disks before anything is
// created, attaches them (finishing in the background what ECS refuses
// while the instance is Pending), and keeps them on a rolling update.
type attacher struct {
	api ecs.InstanceAPI
	// namespace: a disk with one of these keys at another value is
	// another plugin's, never an attachment of this one.
	namespace map[string]string
	log       *log.Logger
	now       func() time.Time
	retry     ecs.RetryPolicy

	background sync.WaitGroup // attachLater
	closing    closeMark      // when Close began: bounds attachLater
}

// resolve finds the disk tagged infrakit.attachment=<ID> for each
// attachment, before anything is created.
func (a *attacher) resolve(ctx context.Context, atts []instance.Attachment, zone string) ([]ecs.Disk, error) {
	var out []ecs.Disk
	for _, at := range atts {
		found, err := a.api.DescribeDisks(ctx, ecs.DiskFilter{Tags: map[string]string{TagAttachment: at.ID}})
		if err != nil {
			return nil, fmt.Errorf("find disk for attachment %q: %w", at.ID, err)
		}
		var disks []ecs.Disk
		for _, d := range found {
			if !a.otherNamespace(d.TagMap()) {
				disks = append(disks, d)
			}
		}
		switch len(disks) {
		case 0:
			return nil, fmt.Errorf("find disk for attachment %q: no disk tagged %s=%s", at.ID, TagAttachment, at.ID)
		case 1:
		default:
			ids := make([]string, len(disks))
			for i, d := range disks {
				ids[i] = d.ID
			}
			return nil, fmt.Errorf("find disk for attachment %q: %d disks tagged %s=%s (%s), want one", at.ID, len(disks), TagAttachment, at.ID, strings.Join(ids, ", "))
		}
		d := disks[0]
		if d.InstanceID != "" || (d.Status != "" && d.Status != "Available") {
			return nil, fmt.Errorf("find disk for attachment %q: disk %s is %s (instance %q), want Available", at.ID, d.ID, d.Status, d.InstanceID)
		}
		if zone != "" && d.Zone != "" && d.Zone != zone {
			return nil, fmt.Errorf("find disk for attachment %q: disk %s is in zone %s, instances are created in %s", at.ID, d.ID, d.Zone, zone)
		}
		out = append(out, d)
	}
	return out, nil
}

// otherNamespace reports whether tags carry one of the namespace's keys
// at another value (an operator's disk without them is this plugin's to use).
func (a *attacher) otherNamespace(tags map[string]string) bool {
	for k, v := range a.namespace {
		if have, ok := tags[k]; ok && have != v {
			return true
		}
	}
	return false
}

// attach attaches the resolved disks. ECS refuses AttachDisk while the new
// instance is still Pending; those attachments are finished in the
// background so Provision can return at once.
func (a *attacher) attach(ctx context.Context, id string, disks []ecs.Disk) error {
	var later []ecs.Disk
	for _, d := range disks {
		err := a.api.AttachDisk(ctx, id, d.ID, false)
		switch {
		case err == nil:
		case ecs.ErrorCode(err) == ecs.CodeIncorrectInstanceStatus:
			later = append(later, d)
		default:
			return fmt.Errorf("attach disk %s to instance %s: %w", d.ID, id, err)
		}
	}
	if len(later) > 0 {
		a.background.Add(1)
		go func() {
			defer a.background.Done()
			a.attachLater(id, later)
		}()
	}
	return nil
}

// attachTimeout is how long attachLater keeps trying a disk while the new
// instance is not yet in a state that takes it.
const attachTimeout = 10 * time.Minute

// attachCloseWait bounds, on the plugin's clock, how long Close lets
// attaches in flight go on: a new instance usually takes its disks within
// it, and the daemon's shutdown is not held for attachTimeout.
const attachCloseWait = time.Minute

// closeMark records when Close began.
type closeMark struct {
	mu sync.Mutex
	at time.Time
}

func (c *closeMark) set(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.at.IsZero() {
		c.at = now
	}
}

// deadline is d, or earlier once Close began; stopping reports the latter.
func (c *closeMark) deadline(d time.Time) (end time.Time, stopping bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.at.IsZero() {
		return d, false
	}
	if stop := c.at.Add(attachCloseWait); stop.Before(d) {
		return stop, true
	}
	return d, true
}

// attachLater retries the attaches ECS refused while the instance was
// Pending. Close waits for it, for at most attachCloseWait more; an attach
// still refused then is logged as an error naming the disk and instance
// (nothing in ECS records it, so no other copy could finish it).
func (a *attacher) attachLater(id string, disks []ecs.Disk) {
	ctx := context.Background()
	deadline := a.now().Add(attachTimeout)
	wait := 2 * time.Second
	for _, d := range disks {
		logger := a.log.WithFields(log.Fields{"action": "attach", "instance": id, "disk": d.ID})
		for {
			if err := a.retry.Sleep(ctx, wait); err != nil {
				return
			}
			err := a.api.AttachDisk(ctx, id, d.ID, false)
			if err == nil {
				logger.Info("attached")
				break
			}
			end, stopping := a.closing.deadline(deadline)
			if ecs.ErrorCode(err) != ecs.CodeIncorrectInstanceStatus || !a.now().Before(end) {
				if stopping && ecs.ErrorCode(err) == ecs.CodeIncorrectInstanceStatus {
					logger.WithError(err).Error("the plugin stopped before the instance took the disk: attach it by hand")
				} else {
					logger.WithError(err).Error("attach failed")
				}
				break
			}
			if wait < 15*time.Second {
				wait *= 2
			}
		}
	}
}

func (a *attacher) keepAttached(ctx context.Context, id string) error {
	disks, err := a.api.DescribeDisks(ctx, ecs.DiskFilter{InstanceID: id})
	if err != nil {
		return fmt.Errorf("list disks: %w", err)
	}
	for _, d := range disks {
		if _, ok := d.TagMap()[TagAttachment]; !ok || !d.DeleteWithInstance {
			continue
		}
		if err := a.api.ModifyDiskAttribute(ctx, d.ID, false); err != nil {
			return fmt.Errorf("keep disk %s: %w", d.ID, err)
		}
	}
	return nil
}
