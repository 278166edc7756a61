package aliyun

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"infrakit.aliyun/emulator"
	"infrakit.aliyun/emulator/emuctl"
	"infrakit.aliyun/internal/e2e/aliyunenv"
	"infrakit.aliyun/internal/e2e/harness"
)

const (
	tagGroup      = "infrakit.group"
	tagConfigHash = "infrakit.config.hash"
	tagLogicalID  = "infrakit.logical_id"
)

// writeChangedSpec writes a copy of the spec at src into the world's home
// with change applied to its generic JSON form, and returns its path.
func (w *world) writeChangedSpec(src, name string, change func(spec map[string]any)) string {
	w.T.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		w.T.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		w.T.Fatal(err)
	}
	change(m)
	out, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		w.T.Fatal(err)
	}
	return w.E.WriteFile(name, string(out)+"\n")
}

// at walks nested JSON objects.
func at(m map[string]any, keys ...string) map[string]any {
	for _, k := range keys {
		m = m[k].(map[string]any)
	}
	return m
}

// checkMembers checks every instance against the spec as ECS sees it: the
// group, config hash, flavor, property and namespace tags, the user data
// (the flavor's Init, sent base64 and decoded by the emulator) and the
// RunInstances parameters. It returns the common config hash.
func checkMembers(t *testing.T, views []emulator.InstanceView, spec groupSpec, namespace map[string]string) string {
	t.Helper()
	props := spec.instance(t)
	wantInit := strings.Join(spec.Properties.Flavor.Properties.Init, "\n")
	hash := ""
	for _, v := range views {
		if got := v.Tags[tagGroup]; got != spec.ID {
			t.Errorf("%s: tag %s = %q, want %q", v.InstanceId, tagGroup, got, spec.ID)
		}
		h := v.Tags[tagConfigHash]
		switch {
		case h == "":
			t.Errorf("%s: no %s tag: %v", v.InstanceId, tagConfigHash, v.Tags)
		case hash == "":
			hash = h
		case h != hash:
			t.Errorf("%s: config hash %q differs from %q", v.InstanceId, h, hash)
		}
		for what, want := range map[string]map[string]string{
			"flavor": spec.Properties.Flavor.Properties.Tags, "property": props.Tags, "namespace": namespace,
		} {
			if !emuctl.HasTags(v.Tags, want) {
				t.Errorf("%s: lacks the %s tags %v: %v", v.InstanceId, what, want, v.Tags)
			}
		}
		if v.UserData != wantInit {
			t.Errorf("%s: user data %q, want the flavor's Init %q", v.InstanceId, v.UserData, wantInit)
		}
		for field, got := range map[string]string{
			"ImageId": v.ImageId, "InstanceType": v.InstanceType, "VSwitchId": v.VSwitchId, "InstanceName": v.InstanceName,
		} {
			if want, _ := props.RunInstances[field].(string); got != want {
				t.Errorf("%s: %s = %q, want %q", v.InstanceId, field, got, want)
			}
		}
		if sg, _ := props.RunInstances["SecurityGroupId"].(string); len(v.SecurityGroupIds) != 1 || v.SecurityGroupIds[0] != sg {
			t.Errorf("%s: security groups %v, want [%s]", v.InstanceId, v.SecurityGroupIds, sg)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	return hash
}

func allRunning(n int) func([]emulator.InstanceView) bool {
	return func(v []emulator.InstanceView) bool {
		return len(v) == n && emuctl.CountStatus(v, "Running") == n
	}
}

// TestCattleLifecycle drives example/aliyun-vanilla.json through InfraKit:
// commit, self-healing, free and adopt, rolling update, destroy.
func TestCattleLifecycle(t *testing.T) {
	t.Parallel()
	namespace := map[string]string{"e2e": "cattle", "owner": "infrakit-aliyun"}
	w := newWorld(t, worldOptions{namespaceTags: "e2e=cattle,owner=infrakit-aliyun"})
	e := w.E
	specPath := examplePath(t, "aliyun-vanilla.json")
	spec := readSpec(t, specPath)
	group := map[string]string{tagGroup: "cattle"}

	// --- plugins are discovered
	out := e.MustCLI("plugin", "ls")
	found := false
	for _, l := range harness.Lines(out) {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "Instance/0.6.1" && f[1] == pluginName && f[2] == e.SocketPath(pluginName) {
			found = true
		}
	}
	if !found {
		t.Fatalf("plugin ls lacks Instance/0.6.1 %s:\n%s", pluginName, out)
	}

	// --- a spec the plugin rejects is refused at commit, with the field path
	bad := w.writeChangedSpec(specPath, "bad.json", func(m map[string]any) {
		at(m, "Properties", "Instance", "Properties", "RunInstances")["ImageID"] = "typo"
	})
	if r := e.CLI("group", "commit", bad); r.ExitCode == 0 || !strings.Contains(r.Stdout+r.Stderr, "RunInstances.ImageID") {
		t.Fatalf("commit of an invalid spec:\n%s", r)
	}

	// --- pretend creates nothing
	mustEqual(t, "pretend", strings.TrimSpace(e.MustCLI("group", "commit", specPath, "--pretend")),
		"Committing cattle would involve: Managing 3 instances")
	if n := w.Calls("RunInstances"); n != 0 {
		t.Fatalf("RunInstances called %d times before any commit", n)
	}

	// --- commit: 3 instances, tagged, with the flavor's Init as user data
	mustEqual(t, "commit", strings.TrimSpace(e.MustCLI("group", "commit", specPath)), "Committed cattle: Managing 3 instances")
	if got := harness.Lines(e.MustCLI("group", "ls")); len(got) != 2 || got[1] != "cattle" {
		t.Fatalf("group ls = %q", got)
	}
	members := w.WaitLive("3 Running instances", group, allRunning(3))
	hash1 := checkMembers(t, members, spec, namespace)
	if n := w.Calls("RunInstances"); n != 3 {
		t.Fatalf("RunInstances called %d times for 3 instances", n)
	}
	ids := emuctl.IDs(members)

	out = e.MustCLI("group", "describe", "cattle")
	harness.MustContain(t, "group describe", out, "ID", "LOGICAL", "TAGS")
	if got := harness.IDs(out, "i-"); !harness.SameIDs(got, ids) {
		t.Fatalf("group describe lists %v, the emulator holds %v:\n%s", got, ids, out)
	}
	for id, f := range rows(out) {
		harness.MustContain(t, "group describe row "+id, f[len(f)-1], "infrakit.group=cattle", "infrakit.config.hash="+hash1,
			"tier=web", "project=infrakit-demo", "e2e=cattle", "owner=infrakit-aliyun")
	}

	// --- infrakit instance-aliyun describe, -p and --tags
	out = e.MustCLI("instance-aliyun", "describe")
	if got := harness.IDs(out, "i-"); !harness.SameIDs(got, ids) {
		t.Fatalf("instance-aliyun describe lists %v, want %v:\n%s", got, ids, out)
	}
	byID := map[string]emulator.InstanceView{}
	for _, v := range members {
		byID[v.InstanceId] = v
	}
	for id, f := range rows(out) {
		// cattle have no logical ID tag: the LOGICAL column is the private IP
		if len(f) < 3 || f[1] != byID[id].PrivateIpAddress {
			t.Fatalf("describe row %v: want logical ID %s", f, byID[id].PrivateIpAddress)
		}
	}
	// the plugin may answer from a describe cache made before the instances
	// were Running (DefaultDescribeCacheTTL), so poll
	out = w.WaitCLI("describe -p to show every instance Running", func(out string) bool {
		return strings.Count(out, "Status:Running") == len(ids)
	}, "instance-aliyun", "describe", "-p")
	harness.MustContain(t, "describe -p", out, "PROPERTIES", "Status:Running", "InstanceType:ecs.g6.large",
		"VSwitchId:vsw-bp1emulator000000000h", "SecurityGroupIds:[sg-bp1emulator0000000001]")
	for _, id := range ids {
		harness.MustContain(t, "describe -p", out, "InstanceId:"+id, "PrivateIpAddress:["+byID[id].PrivateIpAddress+"]")
	}
	if got := harness.IDs(e.MustCLI("instance-aliyun", "describe", "--tags", "tier=web"), "i-"); !harness.SameIDs(got, ids) {
		t.Fatalf("describe --tags tier=web: %v", got)
	}
	if got := harness.IDs(e.MustCLI("instance-aliyun", "describe", "--tags", "tier=db"), "i-"); len(got) != 0 {
		t.Fatalf("describe --tags tier=db: %v", got)
	}
	if got := harness.IDs(e.MustCLI("instance-aliyun", "describe", "--tags", "infrakit.config.hash="+hash1), "i-"); !harness.SameIDs(got, ids) {
		t.Fatalf("describe --tags infrakit.config.hash=%s: %v", hash1, got)
	}

	// --- self-healing: an instance killed outside InfraKit is replaced
	victim := ids[1]
	if _, err := w.Emu.Kill(w.Ctx, victim); err != nil {
		t.Fatal(err)
	}
	healed := w.WaitLive("the killed instance to be replaced", group, func(v []emulator.InstanceView) bool {
		return allRunning(3)(v) && !contains(emuctl.IDs(v), victim)
	})
	if h := checkMembers(t, healed, spec, namespace); h != hash1 {
		t.Fatalf("replacement has config hash %q, want %q", h, hash1)
	}
	if n := w.Calls("RunInstances"); n != 4 {
		t.Fatalf("RunInstances called %d times, want 4 (3 + 1 replacement)", n)
	}
	if n := w.Calls("DeleteInstance"); n != 0 {
		t.Fatalf("DeleteInstance called %d times while healing", n)
	}
	ids = emuctl.IDs(healed)
	w.WaitCLI("group describe to show the replacement", func(out string) bool { return harness.SameIDs(harness.IDs(out, "i-"), ids) },
		"group", "describe", "cattle")

	// --- free: InfraKit lets go, the instances stay
	mustEqual(t, "free", strings.TrimSpace(e.MustCLI("group", "free", "cattle")), "Freed cattle")
	if got := harness.Lines(e.MustCLI("group", "ls")); len(got) != 1 || got[0] != "ID" {
		t.Fatalf("group ls after free = %q", got)
	}
	if r := e.CLI("group", "describe", "cattle"); r.ExitCode == 0 {
		t.Fatalf("describe of a freed group succeeded:\n%s", r)
	}
	if got := emuctl.IDs(w.Live(group)); !harness.SameIDs(got, ids) {
		t.Fatalf("instances after free: %v, want %v", got, ids)
	}
	if got := harness.IDs(e.MustCLI("instance-aliyun", "describe"), "i-"); !harness.SameIDs(got, ids) {
		t.Fatalf("instance-aliyun describe after free: %v, want %v", got, ids)
	}

	// --- commit again: the group adopts the instances, creating none
	runs, deletes := w.Calls("RunInstances"), w.Calls("DeleteInstance")
	mustEqual(t, "re-commit", strings.TrimSpace(e.MustCLI("group", "commit", specPath)), "Committed cattle: Managing 3 instances")
	described := w.Calls("DescribeInstances")
	// several group polls (each is a DescribeInstances) happen before we judge
	w.WaitCalls("DescribeInstances", described+6)
	w.WaitCLI("the group to report the adopted instances", func(out string) bool { return harness.SameIDs(harness.IDs(out, "i-"), ids) },
		"group", "describe", "cattle")
	if r, d := w.Calls("RunInstances"), w.Calls("DeleteInstance"); r != runs || d != deletes {
		t.Fatalf("re-commit of a freed group made RunInstances %d->%d, DeleteInstance %d->%d: it did not adopt", runs, r, deletes, d)
	}
	if got := emuctl.IDs(w.Live(group)); !harness.SameIDs(got, ids) {
		t.Fatalf("instances after re-commit: %v, want %v", got, ids)
	}

	// --- rolling update: a changed spec (bigger instances, new Init, 5 of them)
	v2 := w.writeChangedSpec(specPath, "aliyun-vanilla-v2.json", func(m map[string]any) {
		at(m, "Properties", "Allocation")["Size"] = 5
		at(m, "Properties", "Instance", "Properties", "RunInstances")["InstanceType"] = "ecs.g6.xlarge"
		fl := at(m, "Properties", "Flavor", "Properties")
		fl["Init"] = append(fl["Init"].([]any), "echo v2 >> /etc/motd")
	})
	spec2 := readSpec(t, v2)
	mustEqual(t, "pretend v2", strings.TrimSpace(e.MustCLI("group", "commit", v2, "--pretend")),
		"Committing cattle would involve: Performing a rolling update on 3 instances, then adding 2 instances to increase the group size to 5")
	mustEqual(t, "commit v2", strings.TrimSpace(e.MustCLI("group", "commit", v2)),
		"Committed cattle: Performing a rolling update on 3 instances, then adding 2 instances to increase the group size to 5")
	updated := w.WaitLive("5 Running instances of the new config", group, func(v []emulator.InstanceView) bool {
		if !allRunning(5)(v) {
			return false
		}
		for _, in := range v {
			if in.Tags[tagConfigHash] == hash1 {
				return false
			}
		}
		return true
	})
	hash2 := checkMembers(t, updated, spec2, namespace)
	if hash2 == hash1 {
		t.Fatalf("config hash unchanged by a changed spec: %s", hash2)
	}
	for _, id := range ids {
		if contains(emuctl.IDs(updated), id) {
			t.Fatalf("old instance %s survived the rolling update", id)
		}
		if v, err := w.Emu.Instance(w.Ctx, id); err != nil || !v.Released || v.ReleaseReason != emulator.ReleaseDeleted {
			t.Fatalf("old instance %s after the rolling update: %+v %v", id, v, err)
		}
	}
	if n := w.Calls("RunInstances"); n != 9 {
		t.Fatalf("RunInstances called %d times, want 9 (4 + 5 of the new config)", n)
	}
	if n := w.Calls("DeleteInstance"); n != 3 {
		t.Fatalf("DeleteInstance called %d times, want 3 (the old config)", n)
	}
	ids = emuctl.IDs(updated)
	out = w.WaitCLI("group describe to show the new config", func(out string) bool { return harness.SameIDs(harness.IDs(out, "i-"), ids) },
		"group", "describe", "cattle")
	harness.MustContain(t, "group describe after update", out, "infrakit.config.hash="+hash2)
	if strings.Contains(out, hash1) {
		t.Fatalf("group describe still shows the old config hash:\n%s", out)
	}
	mustEqual(t, "scale query", strings.TrimSpace(e.MustCLI("group", "scale", "cattle")), "Group cattle at 5 instances")
	harness.MustContain(t, "describe -p after update", e.MustCLI("instance-aliyun", "describe", "-p"), "InstanceType:ecs.g6.xlarge")

	// --- destroy: nothing left
	mustEqual(t, "destroy", strings.TrimSpace(e.MustCLI("group", "destroy", "cattle")), "Destroy cattle initiated")
	w.WaitLive("all instances to be released", nil, func(v []emulator.InstanceView) bool { return len(v) == 0 })
	if got := harness.IDs(e.MustCLI("instance-aliyun", "describe"), "i-"); len(got) != 0 {
		t.Fatalf("instance-aliyun describe after destroy: %v", got)
	}
	if got := harness.Lines(e.MustCLI("group", "ls")); len(got) != 1 {
		t.Fatalf("group ls after destroy = %q", got)
	}
	stats, err := w.Emu.Stats(w.Ctx)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Calls["RunInstances"] != 9 || stats.Calls["DeleteInstance"] != 8 || stats.Instances["Released"] != 9 || len(stats.Instances) != 1 {
		t.Fatalf("emulator after destroy: %s", aliyunenv.Dump(stats))
	}

	w.Stop()
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
