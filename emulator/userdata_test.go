package emulator

import (
	"encoding/base64"
	"strings"
	"testing"

	openapi "github.com/alibabacloud-go/darabonba-openapi/v2/models"
	ecs7 "github.com/alibabacloud-go/ecs-20140526/v7/client"
	"github.com/alibabacloud-go/tea/tea"
)

// TestUserDataLimitIs32KB checks the UserData limit against the official
// SDK in default settings: the API model of RunInstances and
// ModifyInstanceAttribute allows 32 KB before base64, so exactly 32 KB is
// accepted (and kept byte for byte) and one byte more is refused with
// InvalidUserData.SizeExceeded, creating nothing.
func TestUserDataLimitIs32KB(t *testing.T) {
	srv, fc := newTestServer(t, Options{})
	c, err := ecs7.NewClient(&openapi.Config{AccessKeyId: tea.String(DefaultAccessKeyID), AccessKeySecret: tea.String(DefaultAccessKeySecret),
		RegionId: tea.String(DefaultRegion), Endpoint: tea.String(srv.Addr()), Protocol: tea.String("http")})
	if err != nil {
		t.Fatal(err)
	}
	ud := func(n int) *string {
		return tea.String(base64.StdEncoding.EncodeToString([]byte(strings.Repeat("u", n))))
	}
	runReq := func(n int) *ecs7.RunInstancesRequest {
		return &ecs7.RunInstancesRequest{RegionId: tea.String(DefaultRegion), ImageId: tea.String(DefaultImageID),
			InstanceType: tea.String(DefaultInstanceType), VSwitchId: tea.String(DefaultVSwitchH),
			SecurityGroupId: tea.String(DefaultSecurityGroupID), UserData: ud(n)}
	}
	resp, err := c.RunInstances(runReq(32 * 1024))
	if err != nil {
		t.Fatalf("RunInstances with 32 KB UserData: %v", err)
	}
	id := tea.StringValue(resp.Body.InstanceIdSets.InstanceIdSet[0])
	if v, ok := srv.Instance(id); !ok || len(v.UserData) != 32*1024 {
		t.Fatalf("instance %s keeps %d bytes of UserData, want %d", id, len(v.UserData), 32*1024)
	}
	_, err = c.RunInstances(runReq(32*1024 + 1))
	if st, code := apiErr(err); st != 400 || code != "InvalidUserData.SizeExceeded" {
		t.Fatalf("RunInstances with 32 KB + 1: %d %s (%v)", st, code, err)
	}
	if n := len(srv.Instances()); n != 1 {
		t.Fatalf("%d instances after a refused RunInstances, want 1", n)
	}

	// ModifyInstanceAttribute has the same limit (stopped instance).
	stopped := mustOK(t, api(t, srv, fc, runParams(map[string]string{"Action": "CreateInstance"}))).Body["InstanceId"].(string)
	srv.Advance(DefaultBootTime)
	if _, err := c.ModifyInstanceAttribute(&ecs7.ModifyInstanceAttributeRequest{InstanceId: tea.String(stopped), UserData: ud(32 * 1024)}); err != nil {
		t.Fatalf("ModifyInstanceAttribute with 32 KB UserData: %v", err)
	}
	_, err = c.ModifyInstanceAttribute(&ecs7.ModifyInstanceAttributeRequest{InstanceId: tea.String(stopped), UserData: ud(32*1024 + 1)})
	if st, code := apiErr(err); st != 400 || code != "InvalidUserData.SizeExceeded" {
		t.Fatalf("ModifyInstanceAttribute with 32 KB + 1: %d %s (%v)", st, code, err)
	}
	if v, _ := srv.Instance(stopped); len(v.UserData) != 32*1024 {
		t.Fatalf("refused modify changed UserData to %d bytes", len(v.UserData))
	}
}
