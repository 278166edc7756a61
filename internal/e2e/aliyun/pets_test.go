package aliyun

import (
	"strings"
	"testing"

	"infrakit.aliyun/emulator"
	"infrakit.aliyun/emulator/emuctl"
	"infrakit.aliyun/internal/e2e/aliyunenv"
	"infrakit.aliyun/internal/e2e/harness"
)

// TestPetsKeepTheirIPs commits example/aliyun-pets.json (Allocation.LogicalIDs
// are static private IPs): each pet gets its IP and the infrakit.logical_id
// tag, and a pet killed outside InfraKit comes back with the same IP.
func TestPetsKeepTheirIPs(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{credsFromEnv: true})
	e := w.E
	specPath := examplePath(t, "aliyun-pets.json")
	spec := readSpec(t, specPath)
	ips := spec.Properties.Allocation.LogicalIDs
	if len(ips) == 0 {
		t.Fatalf("%s has no Allocation.LogicalIDs", specPath)
	}
	group := map[string]string{tagGroup: spec.ID}

	out := strings.TrimSpace(e.MustCLI("group", "commit", specPath))
	harness.MustContain(t, "commit", out, "Committed pets")
	pets := w.WaitLive("a Running pet per logical ID", group, allRunning(len(ips)))
	checkMembers(t, pets, spec, nil)
	checkPets(t, pets, ips)
	if n := w.Calls("RunInstances"); n != len(ips) {
		t.Fatalf("RunInstances called %d times for %d pets", n, len(ips))
	}

	// InfraKit shows the IPs as logical IDs
	out = e.MustCLI("group", "describe", "pets")
	byIP := map[string]string{}
	for _, p := range pets {
		byIP[p.PrivateIpAddress] = p.InstanceId
	}
	r := rows(out)
	for ip, id := range byIP {
		if f := r[id]; len(f) < 3 || f[1] != ip || !strings.Contains(f[2], tagLogicalID+"="+ip) {
			t.Fatalf("group describe row of %s: %v, want logical ID %s:\n%s", id, f, ip, out)
		}
	}

	// kill the middle pet: its replacement is a new instance with the same IP
	ip := ips[1]
	victim := byIP[ip]
	if _, err := w.Emu.Kill(w.Ctx, victim); err != nil {
		t.Fatal(err)
	}
	healed := w.WaitLive("the killed pet to be replaced", group, func(v []emulator.InstanceView) bool {
		return allRunning(len(ips))(v) && !contains(emuctl.IDs(v), victim)
	})
	checkPets(t, healed, ips)
	var replacement emulator.InstanceView
	for _, p := range healed {
		if p.PrivateIpAddress == ip {
			replacement = p
		}
		if p.PrivateIpAddress != ip && p.InstanceId != byIP[p.PrivateIpAddress] {
			t.Fatalf("pet %s was replaced too: %s -> %s", p.PrivateIpAddress, byIP[p.PrivateIpAddress], p.InstanceId)
		}
	}
	if replacement.InstanceId == "" || replacement.InstanceId == victim {
		t.Fatalf("no new instance at %s: %s", ip, aliyunenv.Dump(healed))
	}
	if n := w.Calls("RunInstances"); n != len(ips)+1 {
		t.Fatalf("RunInstances called %d times, want %d", n, len(ips)+1)
	}
	w.WaitCLI("group describe to show the replacement at "+ip, func(out string) bool {
		f := rows(out)[replacement.InstanceId]
		return len(harness.IDs(out, "i-")) == len(ips) && len(f) >= 2 && f[1] == ip
	}, "group", "describe", "pets")

	mustEqual(t, "destroy", strings.TrimSpace(e.MustCLI("group", "destroy", "pets")), "Destroy pets initiated")
	w.WaitLive("all pets to be released", nil, func(v []emulator.InstanceView) bool { return len(v) == 0 })
	w.Stop()
}

// checkPets checks there is one pet per IP, with that private IP and the
// matching infrakit.logical_id tag.
func checkPets(t *testing.T, pets []emulator.InstanceView, ips []string) {
	t.Helper()
	var got []string
	for _, p := range pets {
		got = append(got, p.PrivateIpAddress)
		if l := p.Tags[tagLogicalID]; l != p.PrivateIpAddress {
			t.Errorf("%s: private IP %s but %s=%q", p.InstanceId, p.PrivateIpAddress, tagLogicalID, l)
		}
	}
	if !harness.SameIDs(got, ips) {
		t.Fatalf("pets' private IPs %v, want %v", got, ips)
	}
}
