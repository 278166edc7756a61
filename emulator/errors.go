package emulator

import (
	"errors"
	"fmt"
	"net/http"

	"infrakit.aliyun/emulator/internal/state"
)

// apiError is an ECS error answer. Every error the ECS API side produces is an
// *apiError and is written by Server.writeError, the single place that knows
// the wire shape {"RequestId","HostId","Code","Message"}.
type apiError struct {
	Status  int
	Code    string
	Message string
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

// errorBody is the JSON error document real ECS returns.
type errorBody struct {
	RequestId string
	HostId    string
	Code      string
	Message   string
	Recommend string `json:",omitempty"`
}

// hostID is what real ECS puts in HostId for the public endpoint.
const hostID = "ecs.aliyuncs.com"

func newErr(status int, code, format string, args ...any) *apiError {
	return &apiError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// The constructors below keep codes, statuses and messages consistent; their
// messages follow the wording real ECS uses where it is known.

func errMissing(name string) *apiError {
	return newErr(http.StatusBadRequest, "MissingParameter",
		"The input parameter %q that is mandatory for processing this request is not supplied.", name)
}

func errInvalid(name string, why string) *apiError {
	if why == "" {
		return newErr(http.StatusBadRequest, "InvalidParameter", "The specified parameter %q is not valid.", name)
	}
	return newErr(http.StatusBadRequest, "InvalidParameter", "The specified parameter %q is not valid: %s.", name, why)
}

func errInstanceNotFound(id string) *apiError {
	return newErr(http.StatusNotFound, "InvalidInstanceId.NotFound", "The specified InstanceId %q does not exist.", id)
}

func errIncorrectStatus(id, status string) *apiError {
	return newErr(http.StatusForbidden, "IncorrectInstanceStatus",
		"The current status of the resource does not support this operation (instance %s is %s).", id, status)
}

func errDiskNotFound(id string) *apiError {
	return newErr(http.StatusNotFound, "InvalidDiskId.NotFound", "The specified disk %q does not exist.", id)
}

func errIncorrectDiskStatus(id, status string) *apiError {
	return newErr(http.StatusForbidden, "IncorrectDiskStatus",
		"The current disk status does not support this operation (disk %s is %s).", id, status)
}

func errImageNotFound(id string) *apiError {
	return newErr(http.StatusNotFound, "InvalidImageId.NotFound", "The specified ImageId %q does not exist.", id)
}

func errSnapshotNotFound(id string) *apiError {
	return newErr(http.StatusNotFound, "InvalidSnapshotId.NotFound", "The specified SnapshotId %q does not exist.", id)
}

func errInstanceTypeNotSupported(instanceType string) *apiError {
	return newErr(http.StatusBadRequest, "InvalidInstanceType.ValueNotSupported",
		"The specified InstanceType %q does not exist or beyond the permitted range.", instanceType)
}

func errRegionNotFound(id string) *apiError {
	return newErr(http.StatusNotFound, "InvalidRegionId.NotFound", "The specified RegionId %q does not exist.", id)
}

func errThrottling() *apiError {
	return newErr(http.StatusBadRequest, "Throttling", "Request was denied due to request throttling.")
}

func errThrottlingUser() *apiError {
	return newErr(http.StatusBadRequest, "Throttling.User", "Request was denied due to user flow control.")
}

func errInternal() *apiError {
	return newErr(http.StatusInternalServerError, "InternalError",
		"The request processing has failed due to some unknown error, exception or failure.")
}

func errUnavailable() *apiError {
	return newErr(http.StatusServiceUnavailable, "ServiceUnavailable",
		"The request has failed due to a temporary failure of the server.")
}

func errNoStock(instanceType, zone string) *apiError {
	return newErr(http.StatusForbidden, "OperationDenied.NoStock",
		"The requested resource (%s in %s) is sold out in the specified zone; try other types of resources or other regions and zones.", instanceType, zone)
}

func errDryRun() *apiError {
	return newErr(http.StatusBadRequest, "DryRunOperation", "Request validation has been passed with DryRun flag set.")
}

func errNotOnSale(instanceType, zone string) *apiError {
	return newErr(http.StatusForbidden, "Zone.NotOnSale",
		"The specified zone is not available for purchase (%s in %s is no longer sold).", instanceType, zone)
}

// errConflict is what ECS answers while another operation on the same
// resource is in progress.
func errConflict() *apiError {
	return newErr(http.StatusConflict, "OperationConflict",
		"Request was denied due to conflict with a previous request, please try again later.")
}

// ecsError maps a state error to the ECS error real ECS answers: the one
// place that turns what the state refused (package state says what, for
// which resource) into a Code, an HTTP status and a Message. Recommend is
// added by writeError. nil stays nil; an error the state does not classify
// is an InternalError (a bug, logged by the caller's InternalError path).
func ecsError(err error) *apiError {
	if err == nil {
		return nil
	}
	var se *state.Error
	if !errors.As(err, &se) {
		return errInternal()
	}
	if e := resourceError(se); e != nil {
		return e
	}
	if e := kindError(se); e != nil {
		return e
	}
	return errInternal()
}

// resourceError maps the kinds whose code depends on the resource (and, for
// InUse, on what uses it); nil if unmapped.
func resourceError(se *state.Error) *apiError {
	switch se.Kind {
	case state.NotFound:
		switch se.Resource {
		case state.ResInstance:
			return errInstanceNotFound(se.ID)
		case state.ResDisk:
			return errDiskNotFound(se.ID)
		case state.ResImage:
			return errImageNotFound(se.ID)
		case state.ResSnapshot:
			return errSnapshotNotFound(se.ID)
		case state.ResSecurityGroup:
			return errSecurityGroupNotFound(se.ID)
		case state.ResAny:
			return errResourceNotFound(se.ID)
		}
	case state.IncorrectStatus:
		switch se.Resource {
		case state.ResInstance:
			return errIncorrectStatus(se.ID, se.Status)
		case state.ResDisk:
			return errIncorrectDiskStatus(se.ID, se.Status)
		case state.ResImage:
			return newErr(http.StatusForbidden, "IncorrectImageStatus", "The image %s is %s; only an Available image can be copied.", se.ID, se.Status)
		}
	case state.NameTaken:
		if se.Resource == state.ResImage {
			return newErr(http.StatusBadRequest, "InvalidImageName.Duplicated", "The specified ImageName %q is already in use.", se.ID)
		}
	case state.InUse:
		switch {
		case se.Resource == state.ResImage && se.By == state.ResInstance:
			return newErr(http.StatusForbidden, "IncorrectImageStatus",
				"The image %s is used by instance %s; delete with Force=true.", se.ID, se.ByID)
		case se.Resource == state.ResSnapshot && se.By == state.ResImage:
			return newErr(http.StatusForbidden, "SnapshotCreatedImage",
				"The snapshot %s has been used to create custom image %s and cannot be deleted.", se.ID, se.ByID)
		case se.Resource == state.ResSecurityGroup && se.By == state.ResInstance:
			return newErr(http.StatusForbidden, "DependencyViolation",
				"There is still instance(s) in the specified security group (%s is in %s).", se.ByID, se.ID)
		case se.Resource == state.ResSecurityGroup && se.By == state.ResSecurityGroup:
			return newErr(http.StatusForbidden, "DependencyViolation",
				"The specified security group is referenced by a rule of %s.", se.ByID)
		case se.Resource == state.ResSnapshot && se.By == state.ResDisk:
			return newErr(http.StatusForbidden, "SnapshotCreatedDisk",
				"The snapshot %s has been used to create disk %s; delete it with Force=true.", se.ID, se.ByID)
		}
	case state.DeletionProtected:
		if se.Resource == state.ResInstance {
			return newErr(http.StatusForbidden, "InvalidOperation.DeletionProtection",
				"The instance %s has deletion protection enabled.", se.ID)
		}
	}
	return nil
}

// kindError maps the kinds that have one code each; nil if unmapped.
func kindError(se *state.Error) *apiError {
	switch se.Kind {
	case state.TokenMismatch:
		return newErr(http.StatusBadRequest, "IdempotentParameterMismatch",
			"The specified parameters are different from before with the same ClientToken.")
	case state.ZoneMismatch:
		return newErr(http.StatusForbidden, "InstanceDiskZone.Mismatch",
			"The disk and the instance are not in the same zone (%s).", se.Detail)
	case state.LimitExceeded:
		return newErr(http.StatusForbidden, "InstanceDiskNumber.LimitExceed", "The instance already has %s data disks.", se.Detail)
	case state.SystemDisk:
		return newErr(http.StatusForbidden, "OperationDenied", "The system disk of a running or stopped instance cannot be detached.")
	case state.IPReserved:
		return newErr(http.StatusBadRequest, "InvalidPrivateIpAddress.NotInVSwitch",
			"The specified PrivateIpAddress %s is reserved by the vswitch.", se.ID)
	case state.IPInUse:
		return newErr(http.StatusBadRequest, "InvalidPrivateIpAddress.Duplicated",
			"The specified PrivateIpAddress %s is already in use.", se.ID)
	case state.TagLimit:
		return errTagCount()
	case state.RuleLimit:
		return newErr(http.StatusForbidden, "AuthorizationLimitExceed",
			"The number of rules in security group %s would exceed %s.", se.ID, se.Detail)
	case state.AlreadyMember:
		return newErr(http.StatusForbidden, "InvalidInstanceId.AlreadyExists",
			"The specified instance already exists in the specified security group.")
	case state.VPCMismatch:
		return newErr(http.StatusBadRequest, "InvalidInstanceId.Mismatch",
			"Specified instance and security group are not in the same VPC.")
	case state.GroupLimit:
		return newErr(http.StatusBadRequest, "InstanceSecurityGroupLimitExceeded",
			"Exceeding the allowed amount of security groups that an instance can be in.")
	case state.NotMember:
		return newErr(http.StatusNotFound, "InvalidSecurityGroupAssociation.NotFound",
			"The instance %s is not in security group %s.", se.ID, se.ByID)
	case state.LastGroup:
		return newErr(http.StatusForbidden, "InstanceLastSecurityGroup",
			"The instance must belong to at least one security group.")
	case state.AlreadyAllocated:
		return newErr(http.StatusForbidden, "AllocatedAddress", "The instance %s already has public IP address %s.", se.ID, se.Detail)
	case state.NoBandwidth:
		return newErr(http.StatusForbidden, "InvalidInternetMaxBandwidthOut.ValueNotSupported",
			"The instance %s has no public bandwidth (InternetMaxBandwidthOut is 0).", se.ID)
	}
	return nil
}

// found maps the error of a state lookup (see ecsError).
func found[T any](x T, err error) (T, *apiError) { return x, ecsError(err) }
