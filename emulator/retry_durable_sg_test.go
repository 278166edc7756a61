package emulator

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// TestAuthorizeRetryIsDurable: the same for AuthorizeSecurityGroup, whose
// retry finds the rule already there (added nothing) and answered success
// without saving.
func TestAuthorizeRetryIsDurable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	srv, fc := newTestServer(t, Options{StateFile: path})
	mustOK(t, api(t, srv, fc, runParams(nil))) // the state file exists
	auth := map[string]string{"Action": "AuthorizeSecurityGroup", "RegionId": DefaultRegion, "SecurityGroupId": DefaultSecurityGroupID,
		"IpProtocol": "tcp", "PortRange": "8443/8443", "SourceCidrIp": "10.9.0.0/16"}

	stop := failNextSave(srv)
	if r := api(t, srv, fc, auth); r.Status != http.StatusInternalServerError {
		t.Fatalf("AuthorizeSecurityGroup whose save failed: %d %s, want 500", r.Status, r.Text)
	}
	stop()
	mustOK(t, api(t, srv, fc, auth))

	srv2, fc2 := newTestServer(t, Options{StateFile: crashCopy(t, path)})
	if rules := describeRules(t, srv2, fc2, DefaultSecurityGroupID); !strings.Contains(rules, "10.9.0.0/16") {
		t.Fatalf("rule answered to an AuthorizeSecurityGroup retry is not in the state file: %s", rules)
	}
}
