package instance

import (
	"context"
	"testing"
	"time"

	"github.com/docker/infrakit/pkg/spi/instance"

	"infrakit.aliyun/plugin/instance/groupspec"
)

// A KeepData "disks" spot member that also has an operator's disk from
// Spec.Attachments: at the reclaim only the member's own data disks are
// kept; the attachment disk is the operator's, survives the instance on its
// own (DeleteWithInstance=false) and is never tagged kept, released or
// deleted, even after the group is destroyed.
func TestReclaimLeavesAttachmentDiskAlone(t *testing.T) {
	e := preemptEmu(t)
	p := e.plugin
	att := e.createDisk(t, map[string]string{TagAttachment: "data-1"})
	spec := spotSpec(groupspec.KeepDataDisks)
	spec.Attachments = []instance.Attachment{{ID: "data-1", Type: "disk"}}
	old, err := p.Provision(spec)
	noErr(t, err)
	p.attacher.background.Wait()
	e.srv.Advance(time.Minute)
	equal(t, string(*old), e.diskView(t, att).InstanceId)

	noErr(t, e.srv.Preempt(string(*old)))
	_, err = p.DescribeInstances(map[string]string{tagGroup: "spot"}, false) // the notice
	noErr(t, err)
	p.spot.Wait()
	equal(t, "", e.diskView(t, att).Tags[TagKept], "the operator's attachment disk is not kept data")

	e.srv.Advance(6 * time.Minute) // ECS releases the reclaimed instance
	repl, err := p.Provision(spec)
	noErr(t, err)
	p.attacher.background.Wait()
	e.srv.Advance(time.Minute)
	p.spot.Wait()
	equal(t, string(*repl), e.diskView(t, att).InstanceId, "the replacement has the attachment")

	noErr(t, p.Destroy(*repl, instance.Termination)) // group destroy
	e.srv.Advance(time.Minute)
	for i := 0; i < 2; i++ {
		p.spot.Watch.Once(context.Background())
		e.srv.Advance(time.Minute)
	}
	v := e.diskView(t, att)
	equal(t, false, v.Deleted, "the operator's attachment disk deleted as kept data")
	equal(t, "", v.Tags[TagKeepStep])
	equal(t, "data-1", v.Tags[TagAttachment])
}
