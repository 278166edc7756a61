package instance

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker/infrakit/pkg/spi/instance"

	"infrakit.aliyun/internal/ecs"
	"infrakit.aliyun/plugin/instance/groupspec"
	"infrakit.aliyun/plugin/instance/spot"
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

// Close does not leave a background settle running for up to 10 minutes
// after the plugin is closed: it lets it go on for attachCloseWait at most
// (on the plugin's clock), waits for it, and the settle says it stopped
// without an answer.
func TestCloseWaitsForSettle(t *testing.T) {
	fake := newFake()
	logger, buf := quietLogger()
	clock := &fakeClock{now: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
	var armed atomic.Bool
	slept, resume := make(chan struct{}, 1), make(chan struct{})
	sleep := func(d time.Duration) {
		if armed.CompareAndSwap(true, false) {
			slept <- struct{}{}
			<-resume
		}
		clock.Sleep(d)
	}
	p, err := newPlugin(fake, Config{RegionID: "cn-hangzhou", NamespaceTags: testNamespace, Logger: logger, Now: clock.Now,
		Retry: ecs.RetryConfig{Sleep: sleep}, ConfirmTimeout: time.Nanosecond})
	noErr(t, err)
	lost := &ecs.OutcomeUnknownError{Err: &ecs.APIError{Action: "RunInstances", Code: ecs.CodeCallTimeout, StatusCode: -1}}
	for i := 0; i < 400; i++ {
		fake.failNext("RunInstances", lost)
	}
	armed.Store(true)
	_, err = p.Provision(groupSpec())
	isErr(t, err)
	<-slept // the settle waits to ask again
	fake.mu.Lock()
	before := len(fake.runs)
	fake.mu.Unlock()

	closed := make(chan error)
	go func() { closed <- p.Close() }()
	<-p.spot.Stopping() // Close began
	close(resume)
	noErr(t, <-closed)
	contains(t, buf.String(), "could not learn whether a failed Provision created an instance")
	p.creator.settling.Wait()
	fake.mu.Lock()
	after := len(fake.runs) - before
	fake.mu.Unlock()
	if max := int(attachCloseWait/(5*time.Second)) + 2; after > max {
		t.Fatalf("the settle asked %d more times after Close began, want at most %d", after, max)
	}
}

// A terminate Destroy that tagged its instance destroying but never
// deleted it (DeleteInstance failed, or the copy was killed) leaves a live
// member: an hour later, the scale-down of the group's other member must
// not count it as leaving and release the kept disk it holds.
func TestStaleDestroyingTagIsALiveMember(t *testing.T) {
	e := preemptEmu(t)
	p := e.plugin
	disk, repl, other := e.keptGroupOfTwo(t, p)
	equal(t, string(*repl), e.diskView(t, disk).InstanceId)

	found, err := p.api.DescribeInstances(context.Background(), ecs.InstanceFilter{InstanceIDs: []string{string(*repl)}})
	noErr(t, err)
	equal(t, 1, len(found))
	noErr(t, p.spot.Release(context.Background(), &found[0])) // the Destroy of repl, whose DeleteInstance then failed
	equal(t, false, e.view(t, string(*repl)).Released)

	e.srv.Advance(time.Hour)
	noErr(t, p.Destroy(*other, instance.Termination)) // a later scale-down
	p.spot.Watch.Once(context.Background())
	v := e.diskView(t, disk)
	equal(t, string(*repl), v.InstanceId)
	equal(t, spot.KeepStepAttached, v.Tags[TagKeepStep], "released while its holder "+string(*repl)+" still runs")
}

// Destroys of IDs that do not exist (a client's junk) leave no memory
// behind: only a member a group describe listed is remembered as
// destroyed (so it is not reported lost), not every ID asked for.
func TestDestroyOfUnknownIDsIsNotRemembered(t *testing.T) {
	fake := newKeepFake()
	fake.spotMember("i-1", "172.16.0.1", nil)
	fake.spotMember("i-2", "172.16.0.2", nil)
	p, _, _ := newTestPlugin(t, fake)
	events := subscribe(p)
	_, err := p.DescribeInstances(groupG, false)
	noErr(t, err)
	fake.mu.Lock()
	delete(fake.instances, "i-1") // gone before InfraKit's Destroy reaches it
	fake.mu.Unlock()
	noErr(t, p.Destroy("i-1", instance.Termination))
	for i := 0; i < 500; i++ {
		noErr(t, p.Destroy(instance.ID(fmt.Sprintf("i-junk-%d", i)), instance.Termination))
	}
	got, err := p.DescribeInstances(groupG, false)
	noErr(t, err)
	equal(t, []string{"i-2"}, ids(got))
	noEvent(t, events) // i-1 was destroyed by InfraKit, not lost

	p.views.lost.mu.Lock()
	n := len(p.views.lost.destroyed)
	p.views.lost.mu.Unlock()
	equal(t, 1, n, "destroyed IDs remembered")
}

// The properties' Tags cannot set the plugin's own tags (infrakit-aliyun.*):
// an instance made with replaces=<another group's reclaimed instance> would
// be taken for that set's replacement, and any copy's watcher would attach
// the other group's kept disks to it.
func TestPropertiesCannotSetPluginTags(t *testing.T) {
	fake := newFake()
	p, _, _ := newTestPlugin(t, fake)
	for _, k := range []string{TagReplaces, spot.TagDestroying, TagKeepData, TagManaged} {
		spec := groupSpec()
		spec.Properties = props(strings.Replace(goodProps, `"Tags":{"project":"demo"}`, `"Tags":{"`+k+`":"i-other"}`, 1))
		_, err := p.Provision(spec)
		contains(t, fmt.Sprint(err), `Tags["`+k+`"]`)
		contains(t, fmt.Sprint(err), "reserved")
		isErr(t, p.Validate(spec.Properties))
	}
	equal(t, 0, len(fake.runs), "nothing created")
}

// Spec.Attachments never take another namespace's disk: a disk tagged
// infrakit.attachment=<ID> that carries a namespace tag of another value
// belongs to another plugin sharing the account; it is neither attached
// nor does it make this namespace's own disk ambiguous.
func TestAttachmentIgnoresAnotherNamespacesDisk(t *testing.T) {
	e := newEmu(t)
	foreign := e.createDisk(t, map[string]string{TagAttachment: "data-1", "infrakit.scope": "other"})
	spec := emuSpec("stateful")
	spec.Attachments = []instance.Attachment{{ID: "data-1", Type: "disk"}}
	before := e.live()
	_, err := e.plugin.Provision(spec)
	contains(t, fmt.Sprint(err), "no disk tagged infrakit.attachment=data-1")
	equal(t, before, e.live())
	equal(t, "", e.diskView(t, foreign).InstanceId)

	mine := e.createDisk(t, map[string]string{TagAttachment: "data-1"})
	id, err := e.plugin.Provision(spec)
	noErr(t, err)
	e.plugin.attacher.background.Wait()
	equal(t, string(*id), e.diskView(t, mine).InstanceId)
	equal(t, "", e.diskView(t, foreign).InstanceId)
}
