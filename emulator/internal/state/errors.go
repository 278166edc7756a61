package state

import "fmt"

// Kind classifies a state error; the ECS front maps each kind (with the
// resource) to an ECS Code, HTTP status and Message in one place.
type Kind int

// Kinds of state errors.
const (
	// NotFound: no live resource of that kind and ID (in that region).
	NotFound Kind = iota + 1
	// TokenMismatch: a ClientToken reused with different parameters.
	TokenMismatch
	// IncorrectStatus: the resource's status (Error.Status) or an
	// operation lock does not allow the operation.
	IncorrectStatus
	// DeletionProtected: the instance has deletion protection on.
	DeletionProtected
	// IPReserved: the private address is reserved by the vswitch.
	IPReserved
	// IPInUse: the private address belongs to another instance.
	IPInUse
	// ZoneMismatch: a disk and an instance in different zones.
	ZoneMismatch
	// LimitExceeded: the instance (ID) has as many data disks as allowed
	// (Detail: how many).
	LimitExceeded
	// SystemDisk: the operation is not allowed on a system disk.
	SystemDisk
	// AlreadyPreempted: the instance got its interruption notice at Detail.
	AlreadyPreempted
	// InUse: another resource (By, ByID) depends on this one.
	InUse
	// AlreadyAllocated: the instance already has public address Detail.
	AlreadyAllocated
	// NoBandwidth: the instance has no public bandwidth for an address.
	NoBandwidth
	// AlreadyMember, VPCMismatch, GroupLimit, NotMember, LastGroup:
	// JoinSecurityGroup / LeaveSecurityGroup refusals (ID the instance,
	// ByID the group).
	AlreadyMember
	VPCMismatch
	GroupLimit
	NotMember
	LastGroup
	// RuleLimit: the group would have more than Detail rules.
	RuleLimit
	// TagLimit: the resource would have too many tags.
	TagLimit
	// NameTaken: the name (ID) is already used in the region.
	NameTaken
)

// Resources named in errors.
const (
	ResInstance      = "instance"
	ResDisk          = "disk"
	ResImage         = "image"
	ResSnapshot      = "snapshot"
	ResSecurityGroup = "security group"
	ResPrivateIP     = "private ip"
	// ResAny is a resource of a kind the caller named (tag operations).
	ResAny = "resource"
)

// Error is what a state operation refuses with. It says what, not how ECS
// spells it: the front turns it into an ECS error.
type Error struct {
	Kind     Kind
	Resource string // ResInstance, ...
	ID       string
	Status   string // IncorrectStatus: the status found
	Detail   string // what a message needs besides the ID, in words
	By, ByID string // InUse: the dependant's resource and ID
}

func (e *Error) Error() string {
	switch e.Kind {
	case NotFound:
		return fmt.Sprintf("%s %s not found", e.Resource, e.ID)
	case TokenMismatch:
		return fmt.Sprintf("client token %s reused with other parameters", e.ID)
	case IncorrectStatus:
		return fmt.Sprintf("%s %s is %s", e.Resource, e.ID, e.Status)
	case DeletionProtected:
		return fmt.Sprintf("%s %s has deletion protection", e.Resource, e.ID)
	case IPReserved:
		return fmt.Sprintf("%s %s is reserved", e.Resource, e.ID)
	case IPInUse:
		return fmt.Sprintf("%s %s is in use", e.Resource, e.ID)
	case ZoneMismatch:
		return "zones differ: " + e.Detail
	case LimitExceeded:
		return fmt.Sprintf("instance %s has %s data disks", e.ID, e.Detail)
	case InUse:
		return fmt.Sprintf("%s %s is used by %s %s", e.Resource, e.ID, e.By, e.ByID)
	case AlreadyAllocated:
		return fmt.Sprintf("%s %s already has public address %s", e.Resource, e.ID, e.Detail)
	case NoBandwidth:
		return fmt.Sprintf("%s %s has no public bandwidth", e.Resource, e.ID)
	case AlreadyMember, VPCMismatch, GroupLimit, NotMember, LastGroup:
		return fmt.Sprintf("%s %s and security group %s: refusal %d", e.Resource, e.ID, e.ByID, e.Kind)
	case NameTaken:
		return fmt.Sprintf("%s name %q is taken", e.Resource, e.ID)
	case TagLimit:
		return fmt.Sprintf("%s %s would have too many tags", e.Resource, e.ID)
	case RuleLimit:
		return fmt.Sprintf("%s %s would have more than %s rules", e.Resource, e.ID, e.Detail)
	case AlreadyPreempted:
		return "already preempted at " + e.Detail
	case SystemDisk:
		return fmt.Sprintf("%s %s is a system disk", e.Resource, e.ID)
	}
	return fmt.Sprintf("state error %d on %s %s", e.Kind, e.Resource, e.ID)
}
