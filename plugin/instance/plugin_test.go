package instance

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	log "github.com/Sirupsen/logrus"
	"github.com/docker/infrakit/pkg/spi/instance"
	"github.com/docker/infrakit/pkg/types"

	"infrakit.aliyun/internal/ecs"
	"infrakit.aliyun/internal/testutil"
	"infrakit.aliyun/plugin/instance/groupspec"
)

// fakeECS is an in-memory ecsAPI. Errors queued in fail[action] are
// returned (one per call) before the call does anything.
type fakeECS struct {
	mu        sync.Mutex
	instances map[string]*ecs.Instance
	disks     map[string]*ecs.Disk
	next      int
	runs      []runRequest
	tagCalls  []map[string]string
	deletes   []string
	attaches  []string
	modifies  []string
	describes []ecs.InstanceFilter
	fail      map[string][]error
}

func newFake() *fakeECS {
	return &fakeECS{instances: map[string]*ecs.Instance{}, disks: map[string]*ecs.Disk{}, fail: map[string][]error{}}
}

func (f *fakeECS) failNext(action string, errs ...error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail[action] = append(f.fail[action], errs...)
}

func (f *fakeECS) popFail(action string) error {
	if errs := f.fail[action]; len(errs) > 0 {
		f.fail[action] = errs[1:]
		return errs[0]
	}
	return nil
}

func (f *fakeECS) addInstance(id string, tags map[string]string, ip string) {
	inst := &ecs.Instance{ID: id, Status: "Running", Type: "ecs.g7.large", Zone: "cn-hangzhou-h"}
	for _, k := range sortedKeys(tags) {
		inst.Tags = append(inst.Tags, ecs.Tag{Key: k, Value: tags[k]})
	}
	if ip != "" {
		inst.PrivateIPs = []string{ip}
	}
	f.instances[id] = inst
}

func (f *fakeECS) RunInstances(_ context.Context, req *ecs.RunRequest) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.runs = append(f.runs, typed(req))
	if err := f.popFail("RunInstances"); err != nil {
		return "", err
	}
	f.next++
	id := fmt.Sprintf("i-%04d", f.next)
	f.addInstance(id, req.Tags, req.PrivateIP)
	f.instances[id].Status = "Pending"
	return id, nil
}

func (f *fakeECS) DescribeInstances(_ context.Context, flt ecs.InstanceFilter) ([]ecs.Instance, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.describes = append(f.describes, flt)
	if err := f.popFail("DescribeInstances"); err != nil {
		return nil, err
	}
	var out []ecs.Instance
	for _, id := range sortedKeys(f.instances) {
		inst := f.instances[id]
		if len(flt.InstanceIDs) > 0 && !containsStr(flt.InstanceIDs, id) {
			continue
		}
		if !hasTags(inst.TagMap(), flt.Tags) {
			continue
		}
		if flt.LockReason != "" && !containsStr(inst.Locks, flt.LockReason) {
			continue
		}
		out = append(out, *inst)
	}
	return out, nil
}

func containsStr(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (f *fakeECS) DeleteInstance(_ context.Context, id string, force bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deletes = append(f.deletes, fmt.Sprintf("%s force=%t", id, force))
	if err := f.popFail("DeleteInstance"); err != nil {
		return err
	}
	if _, ok := f.instances[id]; !ok {
		return &ecs.APIError{Action: "DeleteInstance", Code: ecs.CodeInstanceNotFound, StatusCode: 404}
	}
	delete(f.instances, id)
	return nil
}

func (f *fakeECS) TagResources(_ context.Context, id string, tags map[string]string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tagCalls = append(f.tagCalls, tags)
	if err := f.popFail("TagResources"); err != nil {
		return err
	}
	inst := f.instances[id]
	cur := inst.TagMap()
	for k, v := range tags {
		cur[k] = v
	}
	inst.Tags = nil
	for _, k := range sortedKeys(cur) {
		inst.Tags = append(inst.Tags, ecs.Tag{Key: k, Value: cur[k]})
	}
	return nil
}

func (f *fakeECS) DescribeDisks(_ context.Context, flt ecs.DiskFilter) ([]ecs.Disk, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.popFail("DescribeDisks"); err != nil {
		return nil, err
	}
	var out []ecs.Disk
	for _, id := range sortedKeys(f.disks) {
		d := f.disks[id]
		if flt.InstanceID != "" && d.InstanceID != flt.InstanceID {
			continue
		}
		if !hasTags(d.TagMap(), flt.Tags) {
			continue
		}
		out = append(out, *d)
	}
	return out, nil
}

func (f *fakeECS) AttachDisk(_ context.Context, instanceID, diskID string, deleteWithInstance bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attaches = append(f.attaches, fmt.Sprintf("%s->%s dwi=%t", diskID, instanceID, deleteWithInstance))
	if err := f.popFail("AttachDisk"); err != nil {
		return err
	}
	d := f.disks[diskID]
	d.InstanceID, d.Status, d.DeleteWithInstance = instanceID, "In_use", deleteWithInstance
	return nil
}

func (f *fakeECS) ModifyDiskAttribute(_ context.Context, diskID string, deleteWithInstance bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.modifies = append(f.modifies, fmt.Sprintf("%s dwi=%t", diskID, deleteWithInstance))
	if err := f.popFail("ModifyDiskAttribute"); err != nil {
		return err
	}
	f.disks[diskID].DeleteWithInstance = deleteWithInstance
	return nil
}

var _ ecs.InstanceAPI = (*fakeECS)(nil)

// fakeClock advances only when slept on.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Sleep(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// quietLogger logs everything into a buffer the test may read while
// background work still logs.
func quietLogger() (*log.Logger, *testutil.SyncBuffer) {
	l := log.New()
	buf := &testutil.SyncBuffer{}
	l.Out = buf
	l.Level = log.DebugLevel
	return l, buf
}

var testNamespace = map[string]string{"infrakit.scope": "test"}

func newTestPlugin(t *testing.T, api ecs.InstanceAPI) (*Plugin, *fakeClock, *testutil.SyncBuffer) {
	t.Helper()
	clock := &fakeClock{now: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
	logger, buf := quietLogger()
	p, err := newPlugin(api, Config{RegionID: "cn-hangzhou", NamespaceTags: testNamespace, Logger: logger, Now: clock.Now,
		Retry: ecs.RetryConfig{Sleep: clock.Sleep}})
	noErr(t, err)
	n := 0
	p.nonce = func() (string, error) { n++; return fmt.Sprintf("nonce-%d", n), nil }
	return p, clock, buf
}

func props(s string) *types.Any { return types.AnyString(s) }

const goodProps = `{"RunInstances":{"ImageId":"img-1","InstanceType":"ecs.g7.large","VSwitchId":"vsw-1","SecurityGroupId":"sg-1","Password":"Sup3r-Secret!","UserData":"#!/bin/sh\necho props"},"Tags":{"project":"demo"}}`

func groupSpec() instance.Spec {
	return instance.Spec{
		Properties: props(goodProps),
		Tags:       map[string]string{"infrakit.group": "workers", "infrakit.config.hash": "abc123"},
		Init:       "echo init",
	}
}

func TestNewValidatesConfig(t *testing.T) {
	_, err := New(Config{RegionID: "cn-hangzhou"})
	contains(t, fmt.Sprint(err), "Clients is required")
	tests := []struct {
		cfg  Config
		want string
	}{
		{Config{}, "RegionID is required"},
		{Config{RegionID: "r", RateLimit: -1}, "RateLimit is -1"},
		{Config{RegionID: "r", CallTimeout: -1}, "CallTimeout"},
		{Config{RegionID: "r", DescribeCacheTTL: -1}, "DescribeCacheTTL is -1ns, must be 0 (no cache) or positive"},
		{Config{RegionID: "r", Retry: ecs.RetryConfig{MaxElapsed: -1}}, "retry MaxElapsed"},
		{Config{RegionID: "r", Retry: ecs.RetryConfig{InitialInterval: 2 * time.Second, MaxInterval: time.Second}}, "above MaxInterval"},
		{Config{RegionID: "r", NamespaceTags: map[string]string{"acs:x": "y"}}, `NamespaceTags["acs:x"]: key must not start with`},
	}
	for _, tt := range tests {
		_, err := newPlugin(newFake(), tt.cfg)
		isErr(t, err)
		contains(t, err.Error(), tt.want)
	}
}

// Of several bad retry settings the first in field order is reported, the
// same one every time.
func TestNewReportsRetryProblemsInOrder(t *testing.T) {
	cfg := Config{RegionID: "r", Retry: ecs.RetryConfig{MaxElapsed: -1, InitialInterval: -1, MaxInterval: -1}}
	for i := 0; i < 20; i++ {
		_, err := newPlugin(newFake(), cfg)
		contains(t, fmt.Sprint(err), "retry MaxElapsed is -1ns")
	}
}

func TestValidate(t *testing.T) {
	p, _, _ := newTestPlugin(t, newFake())
	noErr(t, p.Validate(props(goodProps)))

	err := p.Validate(props(`{"RunInstances":{"InstanceType":"t"}}`))
	contains(t, fmt.Sprint(err), "RunInstances.ImageId: required")

	err = p.Validate(props(`{"RunInstances":{"ImageId":"i","InstanceType":"t","RegionId":"cn-beijing"}}`))
	contains(t, fmt.Sprint(err), `RunInstances.RegionId: "cn-beijing", the plugin runs in region "cn-hangzhou"`)

	// 20 property tags + 1 namespace tag.
	err = p.Validate(props(`{"RunInstances":{"ImageId":"i","InstanceType":"t"},"Tags":` + manyTags(20) + `}`))
	contains(t, fmt.Sprint(err), "Tags: 21 tags, at most 20 per instance including the plugin's own")
}

func TestProvisionMapping(t *testing.T) {
	lid := instance.LogicalID("10.0.0.7")
	tests := []struct {
		name      string
		spec      func() instance.Spec
		wantTags  map[string]string
		wantIP    string
		wantUser  string
		wantError string
	}{
		{
			name:     "cattle",
			spec:     groupSpec,
			wantTags: map[string]string{"project": "demo", "infrakit.group": "workers", "infrakit.config.hash": "abc123", "infrakit.scope": "test"},
			wantUser: "#!/bin/sh\necho props\necho init",
		},
		{
			name: "pet with IP logical id",
			spec: func() instance.Spec { s := groupSpec(); s.LogicalID = &lid; return s },
			wantTags: map[string]string{"project": "demo", "infrakit.group": "workers", "infrakit.config.hash": "abc123", "infrakit.scope": "test",
				"infrakit.logical_id": "10.0.0.7"},
			wantIP:   "10.0.0.7",
			wantUser: "#!/bin/sh\necho props\necho init",
		},
		{
			name: "pet with name logical id",
			spec: func() instance.Spec {
				s := groupSpec()
				s.LogicalID = instance.LogicalIDFromString("db-1")
				s.Init = ""
				return s
			},
			wantTags: map[string]string{"project": "demo", "infrakit.group": "workers", "infrakit.config.hash": "abc123", "infrakit.scope": "test",
				"infrakit.logical_id": "db-1"},
			wantUser: "#!/bin/sh\necho props",
		},
		{
			name: "namespace and spec tags win over property tags",
			spec: func() instance.Spec {
				s := groupSpec()
				s.Properties = props(`{"RunInstances":{"ImageId":"i","InstanceType":"t"},"Tags":{"project":"demo","role":"a"}}`)
				s.Tags["role"] = "b"
				s.Tags["infrakit.scope"] = "other"
				return s
			},
			wantTags: map[string]string{"project": "demo", "role": "b", "infrakit.group": "workers", "infrakit.config.hash": "abc123", "infrakit.scope": "test"},
			wantUser: "echo init",
		},
		{
			name: "ip logical id needs vswitch",
			spec: func() instance.Spec {
				s := groupSpec()
				s.Properties = props(`{"RunInstances":{"ImageId":"i","InstanceType":"t"}}`)
				s.LogicalID = &lid
				return s
			},
			wantError: `LogicalID: "10.0.0.7" is used as PrivateIpAddress, which needs RunInstances.VSwitchId`,
		},
		{
			name: "too many tags in total",
			spec: func() instance.Spec {
				s := groupSpec()
				s.Properties = props(`{"RunInstances":{"ImageId":"i","InstanceType":"t"},"Tags":` + manyTags(17) + `}`)
				s.LogicalID = instance.LogicalIDFromString("x")
				return s
			},
			wantError: "Tags: 21 tags, at most 20 per instance including the plugin's own",
		},
		{
			name: "logical id is checked as a tag value",
			spec: func() instance.Spec {
				s := groupSpec()
				s.LogicalID = instance.LogicalIDFromString("acs:" + strings.Repeat("x", 125))
				return s
			},
			wantError: `LogicalID["infrakit.logical_id"]: value is 129 characters, at most 128; LogicalID["infrakit.logical_id"]: value must not start with "acs:"`,
		},
		{
			name: "reserved spec tag",
			spec: func() instance.Spec {
				s := groupSpec()
				s.Tags["aliyun:x"] = "y"
				return s
			},
			wantError: `Spec.Tags["aliyun:x"]: key must not start with "aliyun" or "acs:"`,
		},
		{
			name: "user data too big with init",
			spec: func() instance.Spec {
				s := groupSpec()
				s.Init = strings.Repeat("x", groupspec.MaxUserDataBytes)
				return s
			},
			wantError: "UserData: 32789 bytes (properties UserData and Init together), at most 32768 before base64",
		},
		{
			name: "bad properties",
			spec: func() instance.Spec {
				s := groupSpec()
				s.Properties = props(`{"RunInstances":{"ImageId":"i"}}`)
				return s
			},
			wantError: "RunInstances.InstanceType: required",
		},
		{
			name: "unsupported attachment type",
			spec: func() instance.Spec {
				s := groupSpec()
				s.Attachments = []instance.Attachment{{ID: "x", Type: "nic"}}
				return s
			},
			wantError: `Attachments[0].Type: "nic", only "disk" is supported`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFake()
			p, _, logs := newTestPlugin(t, fake)
			id, err := p.Provision(tt.spec())
			if tt.wantError != "" {
				isErr(t, err)
				contains(t, err.Error(), tt.wantError)
				contains(t, err.Error(), `provision instance in group "workers"`)
				equal(t, 0, len(fake.runs), "nothing must be created on bad input")
				return
			}
			noErr(t, err)
			equal(t, 1, len(fake.runs))
			run := fake.runs[0]
			equal(t, "i-0001", string(*id))
			equal(t, tt.wantTags, run.Tags)
			equal(t, tt.wantIP, run.PrivateIP)
			equal(t, tt.wantUser, run.UserData)
			equal(t, 64, len(run.ClientToken))
			notContains(t, logs.String(), "Sup3r-Secret!")
		})
	}
}

func TestProvisionClientTokenPerCall(t *testing.T) {
	fake := newFake()
	p, _, _ := newTestPlugin(t, fake)
	_, err := p.Provision(groupSpec())
	noErr(t, err)
	_, err = p.Provision(groupSpec())
	noErr(t, err)
	if fake.runs[0].ClientToken == fake.runs[1].ClientToken {
		t.Error("two Provision calls with the same spec must use different client tokens")
	}
	// Same nonce, same spec -> same token (deterministic per request).
	equal(t, clientToken(groupSpec(), "n"), clientToken(groupSpec(), "n"))
	other := groupSpec()
	other.Init = "echo other"
	if clientToken(groupSpec(), "n") == clientToken(other, "n") {
		t.Error("token must depend on Init")
	}
}

func TestProvisionErrorsNameTheCode(t *testing.T) {
	for _, code := range []string{"OperationDenied.NoStock", "InvalidImageId.NotFound", "QuotaExceed.Instance"} {
		fake := newFake()
		p, _, _ := newTestPlugin(t, fake)
		fake.failNext("RunInstances", &ecs.APIError{Action: "RunInstances", Code: code, Message: "m", RequestID: "req-1", StatusCode: 403})
		_, err := p.Provision(groupSpec())
		isErr(t, err)
		equal(t, code, ecs.ErrorCode(err))
		contains(t, err.Error(), code)
		contains(t, err.Error(), "req-1")
	}
}

func TestProvisionAttachments(t *testing.T) {
	disk := func() *ecs.Disk {
		d := &ecs.Disk{ID: "d-1", Zone: "cn-hangzhou-h", Status: "Available", DeleteWithInstance: true}
		d.Tags = []ecs.Tag{{Key: TagAttachment, Value: "data-1"}}
		return d
	}
	spec := func() instance.Spec {
		s := groupSpec()
		s.Attachments = []instance.Attachment{{ID: "data-1", Type: "disk"}}
		return s
	}

	t.Run("attached right away", func(t *testing.T) {
		fake := newFake()
		fake.disks["d-1"] = disk()
		p, _, _ := newTestPlugin(t, fake)
		id, err := p.Provision(spec())
		noErr(t, err)
		equal(t, []string{"d-1->" + string(*id) + " dwi=false"}, fake.attaches)
	})
	t.Run("missing disk creates nothing", func(t *testing.T) {
		fake := newFake()
		p, _, _ := newTestPlugin(t, fake)
		_, err := p.Provision(spec())
		contains(t, fmt.Sprint(err), `find disk for attachment "data-1": no disk tagged infrakit.attachment=data-1`)
		equal(t, 0, len(fake.runs))
	})
	t.Run("disk in use creates nothing", func(t *testing.T) {
		fake := newFake()
		fake.disks["d-1"] = disk()
		fake.disks["d-1"].Status, fake.disks["d-1"].InstanceID = "In_use", "i-old"
		p, _, _ := newTestPlugin(t, fake)
		_, err := p.Provision(spec())
		contains(t, fmt.Sprint(err), "disk d-1 is In_use")
		equal(t, 0, len(fake.runs))
	})
	t.Run("instance still pending: attached in background", func(t *testing.T) {
		fake := newFake()
		fake.disks["d-1"] = disk()
		fake.failNext("AttachDisk",
			&ecs.APIError{Code: ecs.CodeIncorrectInstanceStatus}, &ecs.APIError{Code: ecs.CodeIncorrectInstanceStatus}, &ecs.APIError{Code: ecs.CodeIncorrectInstanceStatus})
		p, _, _ := newTestPlugin(t, fake)
		_, err := p.Provision(spec())
		noErr(t, err)
		p.attacher.background.Wait()
		fake.mu.Lock()
		defer fake.mu.Unlock()
		equal(t, 4, len(fake.attaches))
		equal(t, "In_use", fake.disks["d-1"].Status)
	})
	t.Run("attach failure releases the instance", func(t *testing.T) {
		fake := newFake()
		fake.disks["d-1"] = disk()
		fake.failNext("AttachDisk", &ecs.APIError{Action: "AttachDisk", Code: "InvalidDiskCategory.NotSupported"})
		p, _, _ := newTestPlugin(t, fake)
		_, err := p.Provision(spec())
		contains(t, fmt.Sprint(err), "attach disk d-1 to instance i-0001: attachDisk: InvalidDiskCategory.NotSupported")
		contains(t, fmt.Sprint(err), "instance i-0001 released")
		equal(t, 0, len(fake.instances))
	})
}

func TestDestroy(t *testing.T) {
	t.Run("terminate", func(t *testing.T) {
		fake := newFake()
		fake.addInstance("i-1", testNamespace, "")
		p, _, _ := newTestPlugin(t, fake)
		noErr(t, p.Destroy("i-1", instance.Termination))
		equal(t, []string{"i-1 force=true"}, fake.deletes)
		equal(t, 0, len(fake.modifies))
	})
	t.Run("not found counts as destroyed", func(t *testing.T) {
		fake := newFake()
		p, _, _ := newTestPlugin(t, fake)
		noErr(t, p.Destroy("i-gone", instance.Termination))
	})
	t.Run("other errors are returned", func(t *testing.T) {
		fake := newFake()
		fake.addInstance("i-1", testNamespace, "")
		fake.failNext("DeleteInstance", &ecs.APIError{Action: "DeleteInstance", Code: "IncorrectInstanceStatus.Initializing"})
		p, _, _ := newTestPlugin(t, fake)
		err := p.Destroy("i-1", instance.Termination)
		contains(t, fmt.Sprint(err), "destroy instance i-1: deleteInstance: IncorrectInstanceStatus.Initializing")
	})
	t.Run("rolling update keeps attachment disks", func(t *testing.T) {
		fake := newFake()
		fake.addInstance("i-1", testNamespace, "")
		keep := &ecs.Disk{ID: "d-keep", InstanceID: "i-1", DeleteWithInstance: true}
		keep.Tags = []ecs.Tag{{Key: TagAttachment, Value: "data-1"}}
		fake.disks["d-keep"] = keep
		fake.disks["d-sys"] = &ecs.Disk{ID: "d-sys", InstanceID: "i-1", DeleteWithInstance: true}
		p, _, _ := newTestPlugin(t, fake)
		noErr(t, p.Destroy("i-1", instance.RollingUpdate))
		equal(t, []string{"d-keep dwi=false"}, fake.modifies)
		equal(t, []string{"i-1 force=true"}, fake.deletes)
	})
	t.Run("rolling update does not delete when disks cannot be kept", func(t *testing.T) {
		fake := newFake()
		fake.addInstance("i-1", testNamespace, "")
		fake.failNext("DescribeDisks", &ecs.APIError{Action: "DescribeDisks", Code: "Throttling"})
		p, _, _ := newTestPlugin(t, fake)
		isErr(t, p.Destroy("i-1", instance.RollingUpdate))
		equal(t, 0, len(fake.deletes))
	})
}

func TestLabel(t *testing.T) {
	base := map[string]string{"infrakit.scope": "test", "infrakit.group": "g", "infrakit.config.hash": "bootstrap"}
	tests := []struct {
		name     string
		existing int // extra tags already on the instance
		labels   map[string]string
		wantSent []map[string]string
		wantErr  string
	}{
		{name: "only the difference", labels: map[string]string{"infrakit.group": "g", "infrakit.config.hash": "h1", "new": "v"},
			wantSent: []map[string]string{{"infrakit.config.hash": "h1", "new": "v"}}},
		{name: "nothing to do", labels: map[string]string{"infrakit.group": "g"}},
		{name: "limit", existing: 16, labels: map[string]string{"a": "1", "b": "2"}, wantErr: "tags: 21 tags after labelling, at most 20 per instance"},
		{name: "overwrite at the limit is fine", existing: 17, labels: map[string]string{"infrakit.config.hash": "h2"},
			wantSent: []map[string]string{{"infrakit.config.hash": "h2"}}},
		{name: "bad key", labels: map[string]string{"acs:x": "1"}, wantErr: `Labels["acs:x"]: key must not start with`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFake()
			tags := mergeTags(base)
			for i := 0; i < tt.existing; i++ {
				tags[fmt.Sprintf("x%d", i)] = "v"
			}
			fake.addInstance("i-1", tags, "")
			p, _, _ := newTestPlugin(t, fake)
			err := p.Label("i-1", tt.labels)
			if tt.wantErr != "" {
				contains(t, fmt.Sprint(err), tt.wantErr)
				contains(t, fmt.Sprint(err), "label instance i-1: ")
				equal(t, 0, len(fake.tagCalls))
				return
			}
			noErr(t, err)
			equal(t, tt.wantSent, fake.tagCalls)
		})
	}
	t.Run("unknown instance", func(t *testing.T) {
		p, _, _ := newTestPlugin(t, newFake())
		err := p.Label("i-x", map[string]string{"a": "b"})
		equal(t, ecs.CodeInstanceNotFound, ecs.ErrorCode(err))
	})
}

func TestDescribeInstances(t *testing.T) {
	fake := newFake()
	fake.addInstance("i-3", map[string]string{"infrakit.scope": "test", "infrakit.group": "g", "infrakit.logical_id": "db-1"}, "172.16.0.3")
	fake.addInstance("i-1", map[string]string{"infrakit.scope": "test", "infrakit.group": "g"}, "172.16.0.1")
	fake.addInstance("i-2", map[string]string{"infrakit.scope": "test", "infrakit.group": "other"}, "172.16.0.2")
	fake.addInstance("i-4", map[string]string{"infrakit.scope": "elsewhere", "infrakit.group": "g"}, "172.16.0.4")
	fake.addInstance("i-5", map[string]string{"infrakit.scope": "test", "infrakit.group": "g"}, "")
	fake.instances["i-5"].Status = "Deleted"
	// (Recycling instances are left out of group describes: preempt_test.go.)
	fake.instances["i-1"].SpotStrategy = "SpotAsPriceGo"
	p, _, _ := newTestPlugin(t, fake)

	got, err := p.DescribeInstances(map[string]string{"infrakit.group": "g"}, true)
	noErr(t, err)
	equal(t, 2, len(got))
	equal(t, instance.ID("i-1"), got[0].ID)
	equal(t, "172.16.0.1", string(*got[0].LogicalID))
	equal(t, "db-1", string(*got[1].LogicalID))
	equal(t, map[string]string{"infrakit.scope": "test", "infrakit.group": "g"}, fake.describes[0].Tags)

	var ip InstanceProperties
	noErr(t, json.Unmarshal(got[0].Properties.Bytes(), &ip))
	equal(t, []string(nil), ip.OperationLocks)
	equal(t, "SpotAsPriceGo", ip.SpotStrategy)
	equal(t, "Running", ip.Status)

	got, err = p.DescribeInstances(map[string]string{"infrakit.group": "g"}, false)
	noErr(t, err)
	if got[0].Properties != nil {
		t.Error("properties not asked for")
	}

	// A filter that contradicts the namespace matches nothing.
	got, err = p.DescribeInstances(map[string]string{"infrakit.scope": "elsewhere"}, false)
	noErr(t, err)
	equal(t, 0, len(got))

	fake.failNext("DescribeInstances", &ecs.APIError{Action: "DescribeInstances", Code: "Throttling.User"})
	_, err = p.DescribeInstances(nil, false)
	contains(t, fmt.Sprint(err), "describe instances: describeInstances: Throttling.User")
}

func TestDescribeManyFilterTags(t *testing.T) {
	want := map[string]string{}
	for i := 0; i < 25; i++ {
		want[fmt.Sprintf("k%02d", i)] = "v"
	}
	got := serverTags(want, map[string]string{"k24": "v"})
	equal(t, groupspec.MaxTags, len(got))
	equal(t, "v", got["k24"]) // namespace first
}

func TestVendorInfoAndExample(t *testing.T) {
	p, _, _ := newTestPlugin(t, newFake())
	equal(t, "infrakit-instance-aliyun", p.VendorInfo().Name)
	noErr(t, p.Validate(p.ExampleProperties()))
}

// typed is the plugin's request a fake was sent.
func typed(req *ecs.RunRequest) runRequest {
	return runRequest{Args: req.Args.(groupspec.RunInstancesArgs), Tags: req.Tags, UserData: req.UserData, PrivateIP: req.PrivateIP, ClientToken: req.ClientToken}
}

// pendingForever is a fakeECS whose instances never leave Pending:
// AttachDisk is always refused with IncorrectInstanceStatus.
type pendingForever struct{ *fakeECS }

func (f pendingForever) AttachDisk(_ context.Context, instanceID, diskID string, _ bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attaches = append(f.attaches, diskID+"->"+instanceID)
	return &ecs.APIError{Code: ecs.CodeIncorrectInstanceStatus}
}

// Close waits for the background attaches of Spec.Attachments, bounded by
// attachCloseWait on the plugin's clock: the attacher's sleeps only end
// once Close began, so no attach can end before it; when Close returns
// the attacher has given up and said which disk to attach by hand.
func TestCloseWaitsForBackgroundAttach(t *testing.T) {
	fake := pendingForever{newFake()}
	d := &ecs.Disk{ID: "d-1", Zone: "cn-hangzhou-h", Status: "Available"}
	d.Tags = []ecs.Tag{{Key: TagAttachment, Value: "data-1"}}
	fake.disks["d-1"] = d
	clock := &fakeClock{now: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
	var stopping <-chan struct{}
	logger, buf := quietLogger()
	p, err := newPlugin(fake, Config{RegionID: "cn-hangzhou", NamespaceTags: testNamespace, Logger: logger, Now: clock.Now,
		Retry: ecs.RetryConfig{Sleep: func(d time.Duration) { <-stopping; clock.Sleep(d) }}})
	noErr(t, err)
	stopping = p.spot.Stopping()
	spec := groupSpec()
	spec.Attachments = []instance.Attachment{{ID: "data-1", Type: "disk"}}
	id, err := p.Provision(spec)
	noErr(t, err)

	start := clock.Now()
	noErr(t, p.Close())
	out := buf.String()
	contains(t, out, "the plugin stopped before the instance took the disk: attach it by hand")
	contains(t, out, "disk=d-1")
	fake.mu.Lock()
	n := len(fake.attaches)
	fake.mu.Unlock()
	// Refused at once, then after sleeps of 2, 4, 8, 16, 16 and 16 s: the
	// first attempt past attachCloseWait (1 min) gives up.
	equal(t, 7, n, "attempts")
	equal(t, "d-1->"+string(*id), fake.attaches[0])
	if waited := clock.Now().Sub(start); waited < attachCloseWait || waited > attachCloseWait+15*time.Second {
		t.Fatalf("Close let the attacher go on for %v, want about %v", waited, attachCloseWait)
	}
}
