// Package state is the ECS emulator's state: the records it keeps
// (instances, disks, custom images, snapshots, ClientTokens), the private
// IP pools, the tag index and the emulated clock, behind one store lock.
// It knows nothing of the wire: no HTTP, no parameters, no ECS error codes.
// Operations refuse with *Error (a Kind and the resource), which the front
// (package emulator) maps to ECS errors in one place.
//
// Callers take Store.Lock (which first applies due scheduled releases)
// around every read or change; records are read and written under it.
package state
