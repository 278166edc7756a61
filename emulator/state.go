package emulator

import "infrakit.aliyun/emulator/internal/state"

// The front (this package) keeps the ECS wire: HTTP, signatures,
// parameters, encodings, the action table and the control API. The state
// it serves lives in package state; these aliases keep the front's code
// reading in its own terms.
type (
	instance    = state.Instance
	disk        = state.Disk
	customImage = state.CustomImage
	store       = state.Store
	tagFilter   = state.TagFilter
	clock       = state.Clock
)

// Tag is one key/value tag.
type Tag = state.Tag

// Instance statuses, as ECS spells them.
const (
	StatusPending  = state.StatusPending
	StatusStarting = state.StatusStarting
	StatusRunning  = state.StatusRunning
	StatusStopping = state.StatusStopping
	StatusStopped  = state.StatusStopped
	// StatusReleased is not an ECS status (released instances vanish from
	// the API); it labels released instances in Stats and InstanceView.
	StatusReleased = state.StatusReleased
)

// Release reasons recorded on released instances.
const (
	ReleaseDeleted   = state.ReleaseDeleted   // DeleteInstance(s)
	ReleaseKilled    = state.ReleaseKilled    // Kill / DELETE /emulator/instances/{id}
	ReleasePreempted = state.ReleasePreempted // spot interruption after PreemptNotice
)
