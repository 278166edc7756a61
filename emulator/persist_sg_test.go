package emulator

import (
	"encoding/json"
	"path/filepath"
	"testing"
	"time"
)

// TestSecurityGroupsSurviveRestart: a created group, its tags and rules
// (on it and on a catalogue group), and a deleted catalogue group all come
// back from the state file; rule IDs are not reused after the restart, an
// instance can still be started in the created group, and the group is
// still protected by its dependants.
func TestSecurityGroupsSurviveRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	srv, fc := newTestServer(t, Options{StateFile: path})
	sg := mustOK(t, api(t, srv, fc, map[string]string{"Action": "CreateSecurityGroup", "RegionId": DefaultRegion,
		"VpcId": DefaultVpcID, "SecurityGroupName": "web", "Description": "front", "Tag.1.Key": "team", "Tag.1.Value": "a"})).Body["SecurityGroupId"].(string)
	spare := mustOK(t, api(t, srv, fc, map[string]string{"Action": "CreateSecurityGroup", "RegionId": DefaultRegion,
		"VpcId": DefaultVpcID, "SecurityGroupName": "spare"})).Body["SecurityGroupId"].(string)
	auth := func(srv *Server, fc *fakeClock, group string, kv ...string) {
		t.Helper()
		p := map[string]string{"Action": "AuthorizeSecurityGroup", "RegionId": DefaultRegion, "SecurityGroupId": group}
		for i := 0; i+1 < len(kv); i += 2 {
			p[kv[i]] = kv[i+1]
		}
		mustOK(t, api(t, srv, fc, p))
	}
	auth(srv, fc, sg, "IpProtocol", "tcp", "PortRange", "443/443", "SourceCidrIp", "0.0.0.0/0", "Priority", "5")
	auth(srv, fc, DefaultSecurityGroupID, "IpProtocol", "tcp", "PortRange", "22/22", "SourceGroupId", sg)
	mustOK(t, api(t, srv, fc, map[string]string{"Action": "DeleteSecurityGroup", "RegionId": DefaultRegion, "SecurityGroupId": spare}))
	rulesBefore := map[string]string{sg: describeRules(t, srv, fc, sg), DefaultSecurityGroupID: describeRules(t, srv, fc, DefaultSecurityGroupID)}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}

	srv2, fc2 := newTestServer(t, Options{StateFile: path})
	for id, want := range rulesBefore {
		if got := describeRules(t, srv2, fc2, id); got != want {
			t.Fatalf("rules of %s after restart:\n got %s\nwant %s", id, got, want)
		}
	}
	attr := mustOK(t, api(t, srv2, fc2, map[string]string{"Action": "DescribeSecurityGroupAttribute", "RegionId": DefaultRegion, "SecurityGroupId": sg}))
	if attr.Body["SecurityGroupName"] != "web" || attr.Body["Description"] != "front" || attr.Body["VpcId"] != DefaultVpcID {
		t.Fatalf("group attributes after restart: %s", attr.Text)
	}
	list := mustOK(t, api(t, srv2, fc2, map[string]string{"Action": "DescribeSecurityGroups", "RegionId": DefaultRegion}))
	found := false
	for _, x := range list.Body["SecurityGroups"].(map[string]any)["SecurityGroup"].([]any) {
		g := x.(map[string]any)
		if g["SecurityGroupId"] != sg {
			continue
		}
		tags, _ := json.Marshal(g["Tags"])
		if string(tags) != `{"Tag":[{"TagKey":"team","TagValue":"a"}]}` {
			t.Fatalf("tags of %s after restart: %s", sg, tags)
		}
		found = true
	}
	if !found {
		t.Fatalf("%s not listed after restart: %s", sg, list.Text)
	}
	if r := api(t, srv2, fc2, map[string]string{"Action": "DescribeSecurityGroupAttribute", "RegionId": DefaultRegion, "SecurityGroupId": spare}); r.Code() != "InvalidSecurityGroupId.NotFound" {
		t.Fatalf("deleted group came back: %d %s", r.Status, r.Text)
	}
	// A rule added after the restart gets a new ID.
	auth(srv2, fc2, sg, "IpProtocol", "tcp", "PortRange", "80/80", "SourceCidrIp", "10.0.0.0/8")
	ids := map[string]bool{}
	for _, p := range permissions(t, srv2, fc2, sg) {
		id := p["SecurityGroupRuleId"].(string)
		if ids[id] {
			t.Fatalf("rule ID %s reused after restart", id)
		}
		ids[id] = true
	}
	if len(ids) != 2 {
		t.Fatalf("%d rules on %s, want 2", len(ids), sg)
	}
	// The group is usable and still guarded by the rule that names it.
	runIDs(t, api(t, srv2, fc2, runParams(map[string]string{"SecurityGroupId": sg})))
	srv2.Advance(time.Minute)
	if r := api(t, srv2, fc2, map[string]string{"Action": "DeleteSecurityGroup", "RegionId": DefaultRegion, "SecurityGroupId": sg}); r.Code() != "DependencyViolation" {
		t.Fatalf("delete of a used group after restart: %d %s", r.Status, r.Text)
	}
}

func permissions(t *testing.T, srv *Server, fc *fakeClock, sg string) []map[string]any {
	t.Helper()
	r := mustOK(t, api(t, srv, fc, map[string]string{"Action": "DescribeSecurityGroupAttribute", "RegionId": DefaultRegion, "SecurityGroupId": sg}))
	var out []map[string]any
	for _, p := range r.Body["Permissions"].(map[string]any)["Permission"].([]any) {
		out = append(out, p.(map[string]any))
	}
	return out
}

func describeRules(t *testing.T, srv *Server, fc *fakeClock, sg string) string {
	t.Helper()
	r := mustOK(t, api(t, srv, fc, map[string]string{"Action": "DescribeSecurityGroupAttribute", "RegionId": DefaultRegion, "SecurityGroupId": sg}))
	b, err := json.Marshal(r.Body["Permissions"])
	if err != nil {
		t.Fatal(err)
	}
	if len(permissions(t, srv, fc, sg)) == 0 {
		t.Fatalf("no rules on %s", sg)
	}
	return string(b)
}
