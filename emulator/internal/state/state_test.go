package state

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func newTestStore(t *testing.T) (*Store, time.Time) {
	t.Helper()
	p := netip.MustParsePrefix("172.16.0.0/28")
	return NewStore(map[string]netip.Prefix{"vsw-a": p}, 1, time.Minute, time.Minute), time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
}

func addInstance(st *Store, region string, now time.Time) *Instance {
	in := &Instance{Seq: st.NextSeq(), ID: st.NewID("i", region), RegionID: region, VSwitchID: "vsw-a", Created: now,
		State: Transition{From: StatusRunning, MidAt: now, Mid: StatusRunning, ToAt: now, To: StatusRunning}}
	in.PrivateIP, _ = st.Pools["vsw-a"].Take(in.ID)
	st.Instances[in.ID] = in
	st.Order = append(st.Order, in)
	st.Live++
	return in
}

// TestLookupsRefuseWithTypedErrors: a lookup of a released, unknown or
// foreign-region instance is refused with NotFound naming the resource and
// the ID (the front maps it; the state never spells ECS codes).
func TestLookupsRefuseWithTypedErrors(t *testing.T) {
	st, now := newTestStore(t)
	unlock := st.Lock(now)
	defer unlock()
	live := addInstance(st, "cn-hangzhou", now)
	gone := addInstance(st, "cn-hangzhou", now)
	st.Release(gone, now, ReleaseDeleted)
	if got, err := st.LiveInstance(live.ID, "cn-hangzhou"); err != nil || got != live {
		t.Fatalf("live instance: %v %v", got, err)
	}
	for _, c := range []struct{ id, region string }{{gone.ID, ""}, {"i-nope", ""}, {live.ID, "cn-beijing"}} {
		_, err := st.LiveInstance(c.id, c.region)
		var se *Error
		if !errors.As(err, &se) || se.Kind != NotFound || se.Resource != ResInstance || se.ID != c.id {
			t.Fatalf("LiveInstance(%q, %q): %v, want NotFound instance %s", c.id, c.region, err, c.id)
		}
	}
	if _, err := st.LiveDisk("d-nope", ""); !isKind(err, NotFound, ResDisk) {
		t.Fatalf("LiveDisk: %v", err)
	}
	if _, err := st.LiveImage("m-nope", ""); !isKind(err, NotFound, ResImage) {
		t.Fatalf("LiveImage: %v", err)
	}
	if _, err := st.LiveSnapshot("s-nope", ""); !isKind(err, NotFound, ResSnapshot) {
		t.Fatalf("LiveSnapshot: %v", err)
	}
	g := NewSecGroups(nil)
	if _, err := g.Get("sg-nope", ""); !isKind(err, NotFound, ResSecurityGroup) {
		t.Fatalf("SecGroups.Get: %v", err)
	}
	// The released instance's address went back to the pool.
	if free, usable := st.Pools["vsw-a"].Free(), st.Pools["vsw-a"].Usable(); free != usable-1 {
		t.Fatalf("pool: %d free of %d, want %d", free, usable, usable-1)
	}
}

func isKind(err error, k Kind, res string) bool {
	var se *Error
	return errors.As(err, &se) && se.Kind == k && se.Resource == res
}

// TestClientTokenMismatch: a token reused with other parameters is
// refused; the same parameters get the first IDs back.
func TestClientTokenMismatch(t *testing.T) {
	st, _ := newTestStore(t)
	st.Remember("RunInstances", "tok", "h1", []string{"i-1"})
	if ids, err := st.Idempotent("RunInstances", "tok", "h1"); err != nil || len(ids) != 1 || ids[0] != "i-1" {
		t.Fatalf("same parameters: %v %v", ids, err)
	}
	if _, err := st.Idempotent("RunInstances", "tok", "h2"); !isKind(err, TokenMismatch, "") {
		t.Fatalf("other parameters: %v, want TokenMismatch", err)
	}
	if ids, err := st.Idempotent("CreateInstance", "tok", "h2"); err != nil || ids != nil {
		t.Fatalf("same token, other action: %v %v", ids, err)
	}
}

// TestStateFileKeepsEveryPart: the state file holds instances, security
// groups (also when every group was deleted), issued keys and emulated
// time; a file from before groups were saved keeps the seeded groups.
func TestStateFileKeepsEveryPart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	real := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	newWorld := func(groups ...*SecGroup) *World {
		st, _ := newTestStore(t)
		return &World{Clock: NewClock(func() time.Time { return real }, 1), Store: st, SecGroups: NewSecGroups(groups),
			Keys: &IssuedKeys{}, KeysNow: func() time.Time { return real }}
	}
	seeded := func() *SecGroup { return &SecGroup{ID: "sg-seed", RegionID: "cn-hangzhou"} }

	w := newWorld(seeded())
	w.Clock.Advance(time.Hour)
	unlock := w.Store.Lock(w.Clock.Now())
	in := addInstance(w.Store, "cn-hangzhou", w.Clock.Now())
	unlock()
	w.Keys.Put("STS.a", Credential{AccessKeySecret: "s", SecurityToken: "t"}, real)
	w.SecGroups.Lock()
	w.SecGroups.Order, w.SecGroups.Groups = nil, map[string]*SecGroup{} // every group deleted
	w.SecGroups.Unlock()
	p := NewPersister(w, path, log)
	if err := p.Commit(); err != nil {
		t.Fatal(err)
	}

	w2 := newWorld(seeded())
	if err := NewPersister(w2, path, log).Load(); err != nil {
		t.Fatal(err)
	}
	if _, err := w2.Store.LiveInstance(in.ID, ""); err != nil {
		t.Fatalf("instance lost: %v", err)
	}
	if _, ok := w2.Keys.Get("STS.a"); !ok {
		t.Fatal("issued key lost")
	}
	if n := len(w2.SecGroups.Order); n != 0 {
		t.Fatalf("%d groups after loading a file where all were deleted, want 0", n)
	}
	if got := w2.Clock.Now(); got.Before(real.Add(time.Hour)) {
		t.Fatalf("emulated time went back to %v", got)
	}
	old := filepath.Join(t.TempDir(), "old.json")
	if err := os.WriteFile(old, []byte(`{"Version":1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	w3 := newWorld(seeded())
	if err := NewPersister(w3, old, log).Load(); err != nil {
		t.Fatal(err)
	}
	if _, err := w3.SecGroups.Get("sg-seed", ""); err != nil {
		t.Fatalf("a file without groups dropped the seeded ones: %v", err)
	}
	if p.Saves() != 1 || p.Counted() != 1 {
		t.Fatalf("saves %d, counted %d, want 1 and 1", p.Saves(), p.Counted())
	}
}

// TestLifecycleRefusals: Start, Stop and Reboot refuse an instance in the
// wrong status or under an operation lock with IncorrectStatus naming the
// status found, and change nothing; CheckDelete honours deletion
// protection and Force.
func TestLifecycleRefusals(t *testing.T) {
	st, now := newTestStore(t)
	in := addInstance(st, "cn-hangzhou", now)
	if err := st.Start(in, now); !isKind(err, IncorrectStatus, ResInstance) || err.(*Error).Status != StatusRunning {
		t.Fatalf("Start of a Running instance: %v", err)
	}
	in.Locks = []string{"Recycling"}
	before := in.State
	if err := st.Stop(in, now); !isKind(err, IncorrectStatus, ResInstance) || in.State != before {
		t.Fatalf("Stop of a locked instance: %v (state %v)", err, in.State)
	}
	in.Locks = nil
	if err := st.Stop(in, now); err != nil {
		t.Fatal(err)
	}
	if got := in.Status(now.Add(st.StopTime)); got != StatusStopped {
		t.Fatalf("after StopTime: %s", got)
	}
	if err := st.Reboot(in, now.Add(st.StopTime)); !isKind(err, IncorrectStatus, ResInstance) {
		t.Fatalf("Reboot of a Stopped instance: %v", err)
	}
	if err := CheckDelete(in, false, now); !isKind(err, IncorrectStatus, ResInstance) {
		t.Fatalf("delete while Stopping without force: %v", err)
	}
	if err := CheckDelete(in, true, now); err != nil {
		t.Fatalf("forced delete: %v", err)
	}
	in.DeletionProtection = true
	if err := CheckDelete(in, true, now); !isKind(err, DeletionProtected, ResInstance) {
		t.Fatalf("delete of a protected instance: %v", err)
	}
}

// TestCreateInstances: instances get distinct addresses from the pool (a
// requested one is honoured and then refused as in use; the network and
// the last three addresses are reserved), a system disk each, numbered
// host names with UniqueSuffix, and are found by their tags.
func TestCreateInstances(t *testing.T) {
	st, now := newTestStore(t) // 172.16.0.0/28: .1 to .12 usable
	for _, ip := range []string{"172.16.0.0", "172.16.0.13", "172.16.0.15", "10.0.0.1"} {
		if err := st.CheckPrivateIP("vsw-a", ip); !isKind(err, IPReserved, ResPrivateIP) {
			t.Fatalf("CheckPrivateIP(%s): %v, want IPReserved", ip, err)
		}
	}
	if err := st.CheckPrivateIP("vsw-a", "172.16.0.5"); err != nil {
		t.Fatal(err)
	}
	spec := &InstanceSpec{Region: "cn-hangzhou", Zone: "z", Type: "t", Image: "img", VSwitchID: "vsw-a", PrivateIP: "172.16.0.5",
		SysSize: 40, Tags: []Tag{{Key: "g", Value: "a"}}}
	one := st.CreateInstances(spec, 1, now, true)
	if err := st.CheckPrivateIP("vsw-a", "172.16.0.5"); !isKind(err, IPInUse, ResPrivateIP) {
		t.Fatalf("CheckPrivateIP of a used address: %v", err)
	}
	spec.PrivateIP, spec.HostName, spec.UniqueSuffix = "", "web", true
	two := st.CreateInstances(spec, 2, now, false)
	ips := map[string]bool{}
	for i, id := range append(one, two...) {
		in := st.Instances[id]
		if ips[in.PrivateIP] {
			t.Fatalf("address %s handed out twice", in.PrivateIP)
		}
		ips[in.PrivateIP] = true
		if d := st.Disks[in.SystemDiskID]; d == nil || d.InstanceID != id || d.Size != 40 {
			t.Fatalf("system disk of %s: %+v", id, d)
		}
		if i > 0 && in.HostName != fmt.Sprintf("web%03d", i) {
			t.Fatalf("host name %q, want web%03d", in.HostName, i)
		}
	}
	if got := st.Instances[one[0]].Status(now.Add(st.BootTime)); got != StatusRunning {
		t.Fatalf("run: %s after boot", got)
	}
	if got := st.Instances[two[0]].Status(now.Add(st.BootTime)); got != StatusStopped {
		t.Fatalf("create: %s after boot", got)
	}
	v := "a"
	if c, ok := st.Candidates([]TagFilter{{Key: "g", Value: &v}}); !ok || len(c) != 3 {
		t.Fatalf("tag index: %d instances", len(c))
	}
}

// TestDiskOperations: attach finds a free device, refuses another zone, a
// disk in use and a full instance; detach refuses the system disk; delete
// refuses a disk in use; every refusal changes nothing.
func TestDiskOperations(t *testing.T) {
	st, now := newTestStore(t)
	ids := st.CreateInstances(&InstanceSpec{Region: "r", Zone: "z1", VSwitchID: "vsw-a", SysSize: 40}, 1, now, true)
	in := st.Instances[ids[0]]
	now = now.Add(st.BootTime)
	mk := func(zone string) *Disk {
		d := &Disk{Seq: st.NextSeq(), ID: st.NewID("d", "r"), RegionID: "r", ZoneID: zone, Type: "data", Size: 20}
		st.AddDisk(d)
		return d
	}
	far := mk("z2")
	if err := st.AttachDisk(in.ID, far.ID, "r", "", false, now); !isKind(err, ZoneMismatch, ResDisk) || far.InstanceID != "" {
		t.Fatalf("attach across zones: %v", err)
	}
	d := mk("z1")
	if err := st.AttachDisk(in.ID, d.ID, "r", "", true, now); err != nil || d.Device != "/dev/xvdb" || d.InstanceID != in.ID {
		t.Fatalf("attach: %v, device %q", err, d.Device)
	}
	if err := st.AttachDisk(in.ID, d.ID, "r", "", true, now); !isKind(err, IncorrectStatus, ResDisk) {
		t.Fatalf("attach of an attached disk: %v", err)
	}
	if err := st.DeleteDisk(d.ID, "r", now); !isKind(err, IncorrectStatus, ResDisk) || d.IsDeleted() {
		t.Fatalf("delete of a disk in use: %v", err)
	}
	if err := st.DetachDisk(in.ID, in.SystemDiskID, "r", now); !isKind(err, SystemDisk, ResDisk) {
		t.Fatalf("detach of the system disk: %v", err)
	}
	for i := 1; i < MaxDataDisks; i++ {
		if err := st.AttachDisk(in.ID, mk("z1").ID, "r", "", false, now); err != nil {
			t.Fatalf("attach %d: %v", i+1, err)
		}
	}
	extra := mk("z1")
	if err := st.AttachDisk(in.ID, extra.ID, "r", "", false, now); !isKind(err, LimitExceeded, ResDisk) || extra.InstanceID != "" {
		t.Fatalf("attach beyond %d: %v", MaxDataDisks, err)
	}
	if err := st.DetachDisk(in.ID, d.ID, "r", now); err != nil || d.InstanceID != "" {
		t.Fatalf("detach: %v", err)
	}
	if err := st.DeleteDisk(d.ID, "r", now); err != nil || !d.IsDeleted() {
		t.Fatalf("delete: %v", err)
	}
	if _, err := st.LiveDisk(d.ID, ""); !isKind(err, NotFound, ResDisk) {
		t.Fatalf("deleted disk still found: %v", err)
	}
}

// TestPreemptAndKill: a preempted instance is locked at once, refused a
// second notice, and released by the first Lock after the notice; Kill
// releases at once and refuses what is already gone.
func TestPreemptAndKill(t *testing.T) {
	st, now := newTestStore(t)
	a := addInstance(st, "r", now)
	b := addInstance(st, "r", now)
	if err := st.Preempt(a.ID, now, 5*time.Minute); err != nil || len(a.Locks) != 1 {
		t.Fatalf("preempt: %v, locks %v", err, a.Locks)
	}
	if err := st.Preempt(a.ID, now, 5*time.Minute); !isKind(err, AlreadyPreempted, ResInstance) {
		t.Fatalf("second preempt: %v", err)
	}
	st.Lock(now.Add(5*time.Minute - time.Second))()
	if a.Released() {
		t.Fatal("released before the notice ran out")
	}
	st.Lock(now.Add(5 * time.Minute))()
	if !a.Released() || a.ReleaseReason != ReleasePreempted {
		t.Fatalf("after the notice: released %v, reason %q", a.Released(), a.ReleaseReason)
	}
	if err := st.Kill(b.ID, now); err != nil || b.ReleaseReason != ReleaseKilled {
		t.Fatalf("kill: %v, reason %q", err, b.ReleaseReason)
	}
	if err := st.Kill(b.ID, now); !isKind(err, NotFound, ResInstance) {
		t.Fatalf("kill of a released instance: %v", err)
	}
	if st.Live != 0 {
		t.Fatalf("live = %d, want 0", st.Live)
	}
}

// TestImageAndSnapshotDependants: an image in use and a snapshot an image
// or a disk was made from are refused deletion (naming the dependant);
// Force overrides only what real ECS lets it override.
func TestImageAndSnapshotDependants(t *testing.T) {
	st, now := newTestStore(t)
	ids := st.CreateInstances(&InstanceSpec{Region: "r", Zone: "z", VSwitchID: "vsw-a", Image: "m-own", SysSize: 40}, 1, now, true)
	im := &CustomImage{Seq: st.NextSeq(), ID: "m-own", RegionID: "r"}
	st.Images[im.ID], st.ImgOrder = im, append(st.ImgOrder, im)
	if err := st.DeleteImage(im.ID, "r", false); !isKind(err, InUse, ResImage) || err.(*Error).ByID != ids[0] || im.Deleted {
		t.Fatalf("delete of a used image: %v", err)
	}
	snID, err := st.CreateSnapshot(st.Instances[ids[0]].SystemDiskID, "r", "snap", nil, now)
	if err != nil {
		t.Fatal(err)
	}
	d := &Disk{Seq: st.NextSeq(), ID: "d-from-snap", RegionID: "r", SnapshotID: snID}
	st.AddDisk(d)
	if err := st.DeleteSnapshot(snID, "r", false); !isKind(err, InUse, ResSnapshot) || err.(*Error).By != ResDisk {
		t.Fatalf("delete of a snapshot a disk came from: %v", err)
	}
	made := &CustomImage{Seq: st.NextSeq(), ID: "m-snap", RegionID: "r", SourceSnapshot: snID}
	st.Images[made.ID], st.ImgOrder = made, append(st.ImgOrder, made)
	if err := st.DeleteSnapshot(snID, "r", true); !isKind(err, InUse, ResSnapshot) || err.(*Error).By != ResImage {
		t.Fatalf("forced delete of a snapshot an image came from: %v", err)
	}
	made.Deleted = true
	if err := st.DeleteSnapshot(snID, "r", true); err != nil {
		t.Fatalf("forced delete: %v", err)
	}
	if err := st.DeleteImage(im.ID, "r", true); err != nil || !im.Deleted {
		t.Fatalf("forced image delete: %v", err)
	}
	if _, err := st.AllocatePublicIP(ids[0], "r", now.Add(st.BootTime)); !isKind(err, NoBandwidth, ResInstance) {
		t.Fatalf("public IP without bandwidth: %v", err)
	}
}

// TestCreateDiskAndModifyInstance: a disk from a snapshot takes its size;
// an unknown snapshot creates nothing; ModifyInstance changes only the
// fields given and refuses new UserData unless the instance is Stopped.
func TestCreateDiskAndModifyInstance(t *testing.T) {
	st, now := newTestStore(t)
	ids := st.CreateInstances(&InstanceSpec{Region: "r", Zone: "z", VSwitchID: "vsw-a", Name: "web", SysSize: 50}, 1, now, true)
	in := st.Instances[ids[0]]
	sn, err := st.CreateSnapshot(in.SystemDiskID, "r", "", nil, now)
	if err != nil {
		t.Fatal(err)
	}
	id, err := st.CreateDisk(&DiskSpec{Region: "r", Zone: "z", SnapshotID: sn}, now)
	if err != nil || st.Disks[id].Size != 50 || st.Disks[id].Status() != "Available" {
		t.Fatalf("disk from snapshot: %v %+v", err, st.Disks[id])
	}
	n := len(st.Disks)
	if _, err := st.CreateDisk(&DiskSpec{Region: "r", Zone: "z", SnapshotID: "s-nope", Size: 20}, now); !isKind(err, NotFound, ResSnapshot) || len(st.Disks) != n {
		t.Fatalf("disk from an unknown snapshot: %v, %d disks", err, len(st.Disks))
	}
	ud, desc := "ZWNobw==", "front"
	if err := st.ModifyInstance(in.ID, "r", InstanceChange{UserData: &ud, Description: &desc}, now.Add(st.BootTime)); !isKind(err, IncorrectStatus, ResInstance) || in.Description != "" {
		t.Fatalf("UserData on a Running instance: %v, description %q", err, in.Description)
	}
	on := true
	if err := st.ModifyInstance(in.ID, "r", InstanceChange{Description: &desc, DeletionProtection: &on}, now); err != nil {
		t.Fatal(err)
	}
	if in.Name != "web" || in.Description != "front" || !in.DeletionProtection {
		t.Fatalf("after modify: name %q description %q protection %v", in.Name, in.Description, in.DeletionProtection)
	}
}

// TestAuthorize: rules are added all or none (an unknown or foreign source
// group, or going over the quota, adds nothing), duplicates are skipped,
// and rule IDs keep counting.
func TestAuthorize(t *testing.T) {
	st, _ := newTestStore(t)
	g := NewSecGroups([]*SecGroup{{ID: "sg-far", RegionID: "cn-beijing"}})
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	id := g.Create(st, &SecGroup{RegionID: "cn-hangzhou"})
	web := SGRule{IpProtocol: "tcp", PortRange: "443/443", SourceCidrIp: "0.0.0.0/0", Policy: "Accept", Priority: 1}
	bad := SGRule{IpProtocol: "tcp", PortRange: "22/22", SourceGroupId: "sg-far"}
	if n, err := g.Authorize(id, "cn-hangzhou", []SGRule{web, bad}, now); !isKind(err, NotFound, ResSecurityGroup) || n != 0 || len(g.Groups[id].Rules) != 0 {
		t.Fatalf("foreign source group: %d %v, %d rules", n, err, len(g.Groups[id].Rules))
	}
	if n, err := g.Authorize(id, "cn-hangzhou", []SGRule{web, web}, now); err != nil || n != 1 {
		t.Fatalf("add with a duplicate: %d %v", n, err)
	}
	many := make([]SGRule, MaxRulesPerGroup)
	for i := range many {
		many[i] = SGRule{IpProtocol: "tcp", PortRange: fmt.Sprintf("%d/%d", i+1000, i+1000), SourceCidrIp: "10.0.0.0/8"}
	}
	if n, err := g.Authorize(id, "cn-hangzhou", many, now); !isKind(err, RuleLimit, ResSecurityGroup) || n != 0 || len(g.Groups[id].Rules) != 1 {
		t.Fatalf("over the quota: %d %v, %d rules", n, err, len(g.Groups[id].Rules))
	}
	if n, err := g.Authorize(id, "cn-hangzhou", many[:1], now); err != nil || n != 1 {
		t.Fatal(n, err)
	}
	r := g.Groups[id].Rules
	if r[0].ID == r[1].ID || g.Groups[id].RuleSeq != 2 {
		t.Fatalf("rule IDs %s %s, seq %d", r[0].ID, r[1].ID, g.Groups[id].RuleSeq)
	}
}

// TestApplyTags: tags go on every resource or none; an instance's tags
// are indexed, a disk's are kept on the disk; unknown resources are
// NotFound.
func TestApplyTags(t *testing.T) {
	st, now := newTestStore(t)
	ids := st.CreateInstances(&InstanceSpec{Region: "r", Zone: "z", VSwitchID: "vsw-a", SysSize: 40}, 1, now, true)
	in, err := st.Taggable("instance", ids[0], "r")
	if err != nil {
		t.Fatal(err)
	}
	d, err := st.Taggable("disk", st.Instances[ids[0]].SystemDiskID, "r")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Taggable("image", "m-nope", "r"); !isKind(err, NotFound, ResAny) {
		t.Fatalf("unknown image: %v", err)
	}
	if err := ApplyTags([]*Taggable{in, d}, []Tag{{Key: "a", Value: "1"}, {Key: "b", Value: "2"}}, 2); err != nil {
		t.Fatal(err)
	}
	if err := ApplyTags([]*Taggable{d, in}, []Tag{{Key: "c", Value: "3"}}, 2); !isKind(err, TagLimit, ResAny) || len(in.Tags()) != 2 || len(d.Tags()) != 2 {
		t.Fatalf("over the limit: %v, tags %v %v", err, in.Tags(), d.Tags())
	}
	v := "1"
	if c, _ := st.Candidates([]TagFilter{{Key: "a", Value: &v}}); len(c) != 1 {
		t.Fatalf("tag index: %d", len(c))
	}
	in.Remove("a")
	if c, _ := st.Candidates([]TagFilter{{Key: "a", Value: &v}}); len(c) != 0 {
		t.Fatalf("tag index after remove: %d", len(c))
	}
}

// TestModifyDisks: all disks or none; nil fields untouched.
func TestModifyDisks(t *testing.T) {
	st, now := newTestStore(t)
	a, _ := st.CreateDisk(&DiskSpec{Region: "r", Zone: "z", Name: "a", Size: 20}, now)
	b, _ := st.CreateDisk(&DiskSpec{Region: "r", Zone: "z", Name: "b", Size: 20}, now)
	name, on := "renamed", true
	if err := st.ModifyDisks([]string{a, "d-nope"}, "r", DiskChange{Name: &name}); !isKind(err, NotFound, ResDisk) || st.Disks[a].Name != "a" {
		t.Fatalf("with an unknown disk: %v, name %q", err, st.Disks[a].Name)
	}
	if err := st.ModifyDisks([]string{a, b}, "r", DiskChange{DeleteWithInstance: &on}); err != nil {
		t.Fatal(err)
	}
	if !st.Disks[a].DeleteWithInstance || !st.Disks[b].DeleteWithInstance || st.Disks[a].Name != "a" {
		t.Fatalf("after modify: %+v %+v", st.Disks[a], st.Disks[b])
	}
}

// TestCreateAndCopyImage: an image made from an instance inherits the OS
// of the instance's (system) image and its disk size; a taken name and a
// copy of an image still Creating are refused and create nothing.
func TestCreateAndCopyImage(t *testing.T) {
	st, now := newTestStore(t)
	ids := st.CreateInstances(&InstanceSpec{Region: "r", Zone: "z", VSwitchID: "vsw-a", Image: "sys-img", SysSize: 60}, 1, now, true)
	system := func(id string) (ImageOS, bool) {
		return ImageOS{OSName: "Debian 12", OSType: "linux", Platform: "Debian", Architecture: "arm64"}, id == "sys-img"
	}
	ready := now.Add(time.Minute)
	spec := &ImageSpec{Region: "r", Name: "golden", FromInstance: ids[0]}
	if _, err := st.CreateImage(spec, system, ready, now); !isKind(err, IncorrectStatus, ResInstance) {
		t.Fatalf("image of a Pending instance: %v", err)
	}
	now = now.Add(st.BootTime)
	id, err := st.CreateImage(spec, system, now.Add(time.Minute), now)
	if err != nil {
		t.Fatal(err)
	}
	if im := st.Images[id]; im.OSName != "Debian 12" || im.Architecture != "arm64" || im.Size != 60 || im.Status(now) != "Creating" {
		t.Fatalf("image: %+v", im)
	}
	n := len(st.ImgOrder)
	if _, err := st.CreateImage(spec, system, now, now); !isKind(err, NameTaken, ResImage) || len(st.ImgOrder) != n {
		t.Fatalf("taken name: %v, %d images", err, len(st.ImgOrder))
	}
	if _, err := st.CopyImage(id, "r", &ImageSpec{Region: "r2"}, now, now); !isKind(err, IncorrectStatus, ResImage) {
		t.Fatalf("copy of a Creating image: %v", err)
	}
	later := now.Add(time.Minute)
	cp, err := st.CopyImage(id, "r", &ImageSpec{Region: "r2", Name: "golden"}, later, later)
	if err != nil || st.Images[cp].RegionID != "r2" || st.Images[cp].OSName != "Debian 12" {
		t.Fatalf("copy: %v %+v", err, st.Images[cp])
	}
}
