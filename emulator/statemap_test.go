package emulator

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"infrakit.aliyun/emulator/internal/state"
)

// TestStateErrorsMapToECS: ecsError is the one place state errors become
// ECS errors; each kind and resource gets real ECS's Code and status, a
// wrapped state error maps the same, and anything the state does not
// classify is an InternalError rather than a made-up code.
func TestStateErrorsMapToECS(t *testing.T) {
	cases := []struct {
		err    error
		status int
		code   string
	}{
		{&state.Error{Kind: state.NotFound, Resource: state.ResInstance, ID: "i-1"}, http.StatusNotFound, "InvalidInstanceId.NotFound"},
		{&state.Error{Kind: state.NotFound, Resource: state.ResDisk, ID: "d-1"}, http.StatusNotFound, "InvalidDiskId.NotFound"},
		{&state.Error{Kind: state.NotFound, Resource: state.ResImage, ID: "m-1"}, http.StatusNotFound, "InvalidImageId.NotFound"},
		{&state.Error{Kind: state.NotFound, Resource: state.ResSnapshot, ID: "s-1"}, http.StatusNotFound, "InvalidSnapshotId.NotFound"},
		{&state.Error{Kind: state.NotFound, Resource: state.ResSecurityGroup, ID: "sg-1"}, http.StatusNotFound, "InvalidSecurityGroupId.NotFound"},
		{&state.Error{Kind: state.TokenMismatch, ID: "tok"}, http.StatusBadRequest, "IdempotentParameterMismatch"},
		{&state.Error{Kind: state.IncorrectStatus, Resource: state.ResInstance, ID: "i-2", Status: StatusStopping}, http.StatusForbidden, "IncorrectInstanceStatus"},
		{&state.Error{Kind: state.IPReserved, Resource: state.ResPrivateIP, ID: "172.16.0.0"}, http.StatusBadRequest, "InvalidPrivateIpAddress.NotInVSwitch"},
		{&state.Error{Kind: state.IPInUse, Resource: state.ResPrivateIP, ID: "172.16.0.9"}, http.StatusBadRequest, "InvalidPrivateIpAddress.Duplicated"},
		{&state.Error{Kind: state.IncorrectStatus, Resource: state.ResDisk, ID: "d-3", Status: "In_use"}, http.StatusForbidden, "IncorrectDiskStatus"},
		{&state.Error{Kind: state.ZoneMismatch, Resource: state.ResDisk, ID: "d-4", Detail: "disk d-4 (z1), instance i-4 (z2)"}, http.StatusForbidden, "InstanceDiskZone.Mismatch"},
		{&state.Error{Kind: state.LimitExceeded, Resource: state.ResDisk, ID: "i-5", Detail: "16"}, http.StatusForbidden, "InstanceDiskNumber.LimitExceed"},
		{&state.Error{Kind: state.SystemDisk, Resource: state.ResDisk, ID: "d-6"}, http.StatusForbidden, "OperationDenied"},
		{&state.Error{Kind: state.InUse, Resource: state.ResImage, ID: "m-1", By: state.ResInstance, ByID: "i-7"}, http.StatusForbidden, "IncorrectImageStatus"},
		{&state.Error{Kind: state.InUse, Resource: state.ResSnapshot, ID: "s-1", By: state.ResImage, ByID: "m-2"}, http.StatusForbidden, "SnapshotCreatedImage"},
		{&state.Error{Kind: state.InUse, Resource: state.ResSnapshot, ID: "s-2", By: state.ResDisk, ByID: "d-8"}, http.StatusForbidden, "SnapshotCreatedDisk"},
		{&state.Error{Kind: state.InUse, Resource: state.ResDisk, ID: "d-9", By: state.ResInstance, ByID: "i-9"}, http.StatusInternalServerError, "InternalError"},
		{&state.Error{Kind: state.AlreadyAllocated, Resource: state.ResInstance, ID: "i-10", Detail: "47.96.0.1"}, http.StatusForbidden, "AllocatedAddress"},
		{&state.Error{Kind: state.NoBandwidth, Resource: state.ResInstance, ID: "i-11"}, http.StatusForbidden, "InvalidInternetMaxBandwidthOut.ValueNotSupported"},
		{&state.Error{Kind: state.InUse, Resource: state.ResSecurityGroup, ID: "sg-1", By: state.ResInstance, ByID: "i-12"}, http.StatusForbidden, "DependencyViolation"},
		{&state.Error{Kind: state.InUse, Resource: state.ResSecurityGroup, ID: "sg-2", By: state.ResSecurityGroup, ByID: "sg-3"}, http.StatusForbidden, "DependencyViolation"},
		{&state.Error{Kind: state.AlreadyMember, Resource: state.ResInstance, ID: "i-13", ByID: "sg-4"}, http.StatusForbidden, "InvalidInstanceId.AlreadyExists"},
		{&state.Error{Kind: state.VPCMismatch, Resource: state.ResInstance, ID: "i-14", ByID: "sg-5"}, http.StatusBadRequest, "InvalidInstanceId.Mismatch"},
		{&state.Error{Kind: state.GroupLimit, Resource: state.ResInstance, ID: "i-15", ByID: "sg-6"}, http.StatusBadRequest, "InstanceSecurityGroupLimitExceeded"},
		{&state.Error{Kind: state.NotMember, Resource: state.ResInstance, ID: "i-16", ByID: "sg-7"}, http.StatusNotFound, "InvalidSecurityGroupAssociation.NotFound"},
		{&state.Error{Kind: state.LastGroup, Resource: state.ResInstance, ID: "i-17", ByID: "sg-8"}, http.StatusForbidden, "InstanceLastSecurityGroup"},
		{&state.Error{Kind: state.RuleLimit, Resource: state.ResSecurityGroup, ID: "sg-9", Detail: "200"}, http.StatusForbidden, "AuthorizationLimitExceed"},
		{&state.Error{Kind: state.NotFound, Resource: state.ResAny, ID: "x-1"}, http.StatusNotFound, "InvalidResourceId.NotFound"},
		{&state.Error{Kind: state.TagLimit, Resource: state.ResAny, ID: "i-18"}, http.StatusBadRequest, "InvalidTagCount"},
		{&state.Error{Kind: state.IncorrectStatus, Resource: state.ResImage, ID: "m-3", Status: "Creating"}, http.StatusForbidden, "IncorrectImageStatus"},
		{&state.Error{Kind: state.NameTaken, Resource: state.ResImage, ID: "golden"}, http.StatusBadRequest, "InvalidImageName.Duplicated"},
		{&state.Error{Kind: state.DeletionProtected, Resource: state.ResInstance, ID: "i-3"}, http.StatusForbidden, "InvalidOperation.DeletionProtection"},
		{fmt.Errorf("attach: %w", &state.Error{Kind: state.NotFound, Resource: state.ResDisk, ID: "d-2"}), http.StatusNotFound, "InvalidDiskId.NotFound"},
		{&state.Error{Kind: state.NotFound, Resource: "volcano", ID: "v-1"}, http.StatusInternalServerError, "InternalError"},
		{errors.New("disk on fire"), http.StatusInternalServerError, "InternalError"},
	}
	// ECS's own wording of these does not name the resource.
	unnamed := map[state.Kind]bool{state.TokenMismatch: true, state.SystemDisk: true, state.LimitExceeded: true,
		state.AlreadyMember: true, state.VPCMismatch: true, state.GroupLimit: true, state.LastGroup: true, state.TagLimit: true}
	for _, c := range cases {
		got := ecsError(c.err)
		if got == nil || got.Status != c.status || got.Code != c.code {
			t.Errorf("ecsError(%v) = %v, want %d %s", c.err, got, c.status, c.code)
			continue
		}
		var se *state.Error
		if errors.As(c.err, &se) && c.status != http.StatusInternalServerError && !unnamed[se.Kind] && !strings.Contains(got.Message, se.ID) && (se.ByID == "" || !strings.Contains(got.Message, se.ByID)) {
			t.Errorf("message %q names neither %s nor %q", got.Message, se.ID, se.ByID)
		}
	}
	if ecsError(nil) != nil {
		t.Fatal("ecsError(nil) is not nil")
	}
}
