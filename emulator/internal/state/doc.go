// Package state is the ECS emulator's state, with no knowledge of the
// wire: no HTTP, no request parameters, no ECS error codes.
//
// It holds the records (instances, disks, custom images, snapshots,
// ClientTokens) in a Store with one lock, the private IP pools and the tag
// index, the security groups (SecGroups, their own lock, taken after the
// store's), the issued STS keys, the emulated Clock, and the state file
// (Persister, which writes a World before a change is answered).
//
// Every change goes through an operation here (CreateInstances, Start,
// Stop, AttachDisk, DeleteSnapshot, JoinSecurityGroup, ApplyTags, ...);
// the front (package emulator) validates parameters first, reads records
// under Store.Lock to build its answers, and never writes them itself.
// Operations refuse with *Error, a Kind and the resource concerned; the
// front maps each to an ECS Code, HTTP status and Message in one place
// (ecsError).
package state
