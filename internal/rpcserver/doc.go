// Package rpcserver serves an InfraKit instance plugin over JSON-RPC on a
// unix socket, for every InfraKit client from v0.3.0 to master. It knows
// nothing of ECS: give it any InfraKit instance.Plugin (and, when the
// plugin has them, its event and metadata SPIs through EventPlugin() and
// MetadataPlugin()).
//
//   - serve.go, socket.go: the socket <dir>/<name> (0600, bound privately
//     then linked into place), the pid file (never through a planted
//     symlink), a stale socket removed and a live plugin refused, the
//     plugin directory InfraKit discovers plugins in.
//   - handler.go, spis.go: the gorilla JSON-RPC server with infrakit's
//     Instance, Event and Metadata services, error messages scrubbed by
//     internal/redact, event streams that end on shutdown.
//   - handshake.go: the one Handshake service (Hello, Implements, Types)
//     and Plugin.Implements.
//   - codec.go: the JSON-RPC codec: body limit, batches refused, clear
//     "invalid params", DescribeInstances answers streamed.
//   - limits.go: the socket's connection and timeout limits
//     (internal/httplimit).
package rpcserver
