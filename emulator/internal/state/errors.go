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
)

// Resources named in errors.
const (
	ResInstance      = "instance"
	ResDisk          = "disk"
	ResImage         = "image"
	ResSnapshot      = "snapshot"
	ResSecurityGroup = "security group"
)

// Error is what a state operation refuses with. It says what, not how ECS
// spells it: the front turns it into an ECS error.
type Error struct {
	Kind     Kind
	Resource string // ResInstance, ...
	ID       string
}

func (e *Error) Error() string {
	switch e.Kind {
	case NotFound:
		return fmt.Sprintf("%s %s not found", e.Resource, e.ID)
	case TokenMismatch:
		return fmt.Sprintf("client token %s reused with other parameters", e.ID)
	}
	return fmt.Sprintf("state error %d on %s %s", e.Kind, e.Resource, e.ID)
}
