package e2e

import (
	"slices"
	"strings"
	"testing"
	"time"

	"infrakit.aliyun/emulator"
	"infrakit.aliyun/internal/e2e/harness"
)

const (
	hashTag  = "infrakit.config.hash"
	groupTag = "infrakit.group"
)

// members is the live instances of group gid among v.
func members(v []emulator.InstanceView, gid string) []emulator.InstanceView {
	var out []emulator.InstanceView
	for _, i := range v {
		if i.Tags[groupTag] == gid {
			out = append(out, i)
		}
	}
	return out
}

// atSize reports whether group gid has exactly size live members, all
// Running and, when hash is set, all with that config hash.
func atSize(v []emulator.InstanceView, gid string, size int, hash string) bool {
	m := members(v, gid)
	if len(m) != size {
		return false
	}
	for _, i := range m {
		if i.Status != "Running" || (hash != "" && i.Tags[hashTag] != hash) {
			return false
		}
	}
	return true
}

// checkSteady checks what must hold once groups have converged, then lets
// two emulated minutes (several group polls) pass and checks again: every
// live instance of the namespace belongs to one of groups (no orphan),
// carries the group's, the flavor's and the spec's tags, each group has
// exactly its size (no duplicate) with one config hash, and IDs are unique.
// It returns the config hash of each group.
func (c *cluster) checkSteady(groups map[string]int) map[string]string {
	c.t.Helper()
	var hashes map[string]string
	check := func() {
		c.t.Helper()
		hashes = map[string]string{}
		live := c.live()
		seen := map[string]bool{}
		for _, i := range live {
			if seen[i.InstanceId] {
				c.t.Fatalf("instance %s listed twice\n%s", i.InstanceId, dump(live))
			}
			seen[i.InstanceId] = true
			gid := i.Tags[groupTag]
			if _, ok := groups[gid]; !ok {
				c.t.Fatalf("orphan: live instance %s belongs to no group (tags %v)\n%s", i.InstanceId, i.Tags, dump(live))
			}
			for _, k := range []string{hashTag, "project", "tier", "e2e"} {
				if i.Tags[k] == "" {
					c.t.Fatalf("instance %s lacks tag %s: %v", i.InstanceId, k, i.Tags)
				}
			}
			if h, ok := hashes[gid]; ok && h != i.Tags[hashTag] {
				c.t.Fatalf("group %s has two config hashes, %s and %s\n%s", gid, h, i.Tags[hashTag], dump(live))
			}
			hashes[gid] = i.Tags[hashTag]
		}
		for gid, size := range groups {
			if !atSize(live, gid, size, "") {
				c.t.Fatalf("group %s: want exactly %d Running members\n%s", gid, size, dump(live))
			}
		}
	}
	check()
	first := hashes
	now, err := c.emu.Now(c.ctx)
	if err != nil {
		c.t.Fatal(err)
	}
	c.wait("two emulated minutes", func() bool {
		t, err := c.emu.Now(c.ctx)
		return err == nil && t.After(now.Add(2*time.Minute))
	}, func() string { return "" })
	check()
	for gid, h := range first {
		if hashes[gid] != h {
			c.t.Fatalf("group %s changed config hash from %s to %s while steady", gid, h, hashes[gid])
		}
	}
	return hashes
}

// failover kills the leader node, runs during (e.g. behind InfraKit's
// back) and waits for a new leader and for done to hold; it logs and
// returns the two durations, both from the kill.
func (c *cluster) failover(label string, during func(), done func([]emulator.InstanceView) bool) (*node, time.Duration, time.Duration) {
	c.t.Helper()
	old := c.waitLeader(nil)
	killed := time.Now()
	c.killNode(old)
	if during != nil {
		during()
	}
	leader := c.waitLeader(old)
	toLeader := time.Since(killed)
	var last []emulator.InstanceView
	c.wait(label+": the group back at size", func() bool {
		last = c.live()
		return done(last)
	}, func() string { return dump(last) })
	toSize := time.Since(killed)
	c.t.Logf("FIGURES %s: killed leader %s; new leader %s after %v; group at size after %v",
		label, old.name, leader.name, toLeader.Round(10*time.Millisecond), toSize.Round(10*time.Millisecond))
	return old, toLeader, toSize
}

func TestFailover(t *testing.T) {
	c := newCluster(t)

	// 1. steady group of 3; the leader node dies and, behind InfraKit's
	// back, one member too: the new leader replaces exactly that one.
	l := c.waitLeader(nil)
	spec := c.spec(l, "aliyun-vanilla.json", "cattle.json")
	out := c.cli(l, "group/groups", "commit-group", spec)
	if !strings.Contains(out, "Committed cattle") {
		t.Fatalf("commit: %s", out)
	}
	c.wait("3 Running", func() bool { return atSize(c.live(), "cattle", 3, "") }, func() string { return dump(c.live()) })
	c.checkSteady(map[string]int{"cattle": 3})
	var victim string
	old, _, _ := c.failover("steady", func() {
		victim = c.live()[0].InstanceId
		if _, err := c.emu.Kill(c.ctx, victim); err != nil {
			t.Fatal(err)
		}
	}, func(v []emulator.InstanceView) bool {
		return atSize(v, "cattle", 3, "") && !slices.ContainsFunc(v, func(i emulator.InstanceView) bool { return i.InstanceId == victim })
	})
	c.checkSteady(map[string]int{"cattle": 3})
	if n := len(members(c.all(), "cattle")); n != 4 {
		t.Fatalf("cattle: %d instances ever created, want 4 (3 and one replacement)\n%s", n, dump(c.all()))
	}
	c.restartNode(old)

	// 2. scale-up to 10, the leader killed while it is under way.
	l = c.waitLeader(nil)
	spec = c.spec(l, "aliyun-vanilla.json", "cattle10.json", `"Size": 3`, `"Size": 10`)
	// 300 ms per ECS answer and two provisions at a time: the scale-up
	// takes several seconds, so the kill lands in its middle
	c.setLatency(300)
	c.cli(l, "group/groups", "commit-group", spec)
	c.wait("the scale-up under way", func() bool {
		n := len(members(c.live(), "cattle"))
		return n > 3 && n < 10
	}, func() string { return dump(c.live()) })
	old, _, _ = c.failover("scale-up", func() { c.setLatency(0) }, func(v []emulator.InstanceView) bool { return atSize(v, "cattle", 10, "") })
	hashes := c.checkSteady(map[string]int{"cattle": 10})
	c.restartNode(old)

	// 3. rolling update of the 10, the leader killed in the middle.
	l = c.waitLeader(nil)
	spec = c.spec(l, "aliyun-vanilla.json", "cattle10v2.json", `"Size": 3`, `"Size": 10`,
		`hello from infrakit`, `hello from infrakit v2`)
	c.cli(l, "group/groups", "commit-group", spec)
	oldHash := hashes["cattle"]
	c.wait("the rolling update under way", func() bool {
		m := members(c.live(), "cattle")
		updated := 0
		for _, i := range m {
			if i.Tags[hashTag] != oldHash {
				updated++
			}
		}
		return updated > 0 && updated < len(m)
	}, func() string { return dump(c.live()) })
	old, _, _ = c.failover("rolling update", nil, func(v []emulator.InstanceView) bool {
		m := members(v, "cattle")
		return atSize(v, "cattle", 10, "") && m[0].Tags[hashTag] != oldHash && atSize(v, "cattle", 10, m[0].Tags[hashTag])
	})
	if h := c.checkSteady(map[string]int{"cattle": 10}); h["cattle"] == oldHash {
		t.Fatalf("rolling update: still the old config hash %s", oldHash)
	}
	c.restartNode(old)

	// 4. a spot group while every node's copy of the plugin serves the same
	// account and runs its reclaim watcher: the reclaimed member is replaced
	// once, its kept data disk claimed once.
	l = c.waitLeader(nil)
	spec = c.spec(l, "aliyun-spot.json", "spot.json")
	c.cli(l, "group/groups", "commit-group", spec)
	c.wait("3 Running spot members", func() bool { return atSize(c.live(), "spot", 3, "") }, func() string { return dump(c.live()) })
	victimView, err := c.emu.Preempt(c.ctx, members(c.live(), "spot")[1].InstanceId)
	if err != nil {
		t.Fatal(err)
	}
	c.wait("the reclaimed member released and replaced", func() bool {
		i, err := c.emu.Instance(c.ctx, victimView.InstanceId)
		return err == nil && i.Released && atSize(c.live(), "spot", 3, "")
	}, func() string { return dump(c.all()) })
	c.checkSteady(map[string]int{"cattle": 10, "spot": 3})
	if n := len(members(c.all(), "spot")); n != 4 {
		t.Fatalf("spot: %d instances ever created, want 4 (3 and one replacement)\n%s", n, dump(c.all()))
	}
	for _, d := range victimView.DataDiskIds {
		holders := 0
		for _, i := range c.live() {
			if slices.Contains(i.DataDiskIds, d) {
				holders++
			}
		}
		if holders != 1 {
			t.Fatalf("kept disk %s attached to %d live instances, want 1\n%s", d, holders, dump(c.live()))
		}
	}
	t.Logf("spot: %s reclaimed, replaced once with its data disk, leader %s", victimView.InstanceId, c.waitLeader(nil).name)

	// 5. the whole cluster dies (every etcd member, manager and group
	// plugin SIGKILLed) and comes back: the specs come from etcd's data
	// dirs, the members from their ECS tags; nothing is created or
	// destroyed.
	before := len(c.all())
	killed := time.Now()
	for _, n := range c.nodes {
		c.killNode(n)
	}
	for _, n := range c.nodes {
		n.etcd = n.env.Start(n.name+"/etcd", Etcd, n.etcdArgs)
	}
	for _, n := range c.nodes {
		c.waitEtcd(n)
		c.startControl(n)
	}
	l = c.waitLeader(nil)
	t.Logf("FIGURES whole cluster: restarted, leader %s %v after the kill", l.name, time.Since(killed).Round(10*time.Millisecond))
	c.checkSteady(map[string]int{"cattle": 10, "spot": 3})
	if after := len(c.all()); after != before {
		t.Fatalf("whole-cluster restart: %d instances ever created, was %d\n%s", after, before, dump(c.all()))
	}
	specs := c.cli(l, "group", "specs")
	harness.MustContain(t, "infrakit group specs", specs, `"cattle"`, `"spot"`, "hello from infrakit v2")
}
