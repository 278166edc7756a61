package rpcserver

import (
	"net/http"
	"sort"

	rpcbase "github.com/docker/infrakit/pkg/rpc"
	"github.com/docker/infrakit/pkg/spi"
	"github.com/docker/infrakit/pkg/spi/instance"
)

// SPI versions this daemon answers to. Every InfraKit release from v0.3.0
// on sends the same Instance request bodies this server decodes (v0.5 adds
// DescribeInstances.Properties, master Destroy.Context; absent fields
// decode to false and "terminate"), so one server serves them all; only
// the version each client requires in its handshake differs.
var (
	// InstanceSPI is the current interface (InfraKit master, Nov 2018),
	// served by infrakit's own pkg/rpc/instance server.
	InstanceSPI = instance.InterfaceSpec
	// LegacyInstanceSPI is what InfraKit v0.5 release binaries require.
	LegacyInstanceSPI = spi.InterfaceSpec{Name: "Instance", Version: "0.5.0"}
	// V03InstanceSPI is what InfraKit v0.3.0 to v0.4.1 require (the
	// releases the original aliyun plugin was built for).
	V03InstanceSPI = spi.InterfaceSpec{Name: "Instance", Version: "0.3.0"}
)

// legacyInstanceSPIs are listed, in this order, before the current SPIs by
// Handshake.Implements and Handshake.Types.
var legacyInstanceSPIs = []spi.InterfaceSpec{V03InstanceSPI, LegacyInstanceSPI}

// ImplementsRequest is the Handshake.Implements request (empty).
type ImplementsRequest struct{}

// ImplementsResponse is the Handshake.Implements response: v0.3.0 to v0.5
// read it as {"APIs":[{"Name":..,"Version":..}]}.
type ImplementsResponse struct {
	APIs []LegacyInterfaceSpec
}

// LegacyInterfaceSpec is the InterfaceSpec of v0.1 to v0.5: no Sub field.
type LegacyInterfaceSpec struct {
	Name    string
	Version string
}

// TypesRequest is the Handshake.Types request (empty).
type TypesRequest struct{}

// TypesResponse is the Handshake.Types response (v0.5's CLI): object names
// by "Name/Version"; "." is the plugin itself.
type TypesResponse struct {
	Types map[string][]string
}

// Handshake is the one "Handshake" JSON-RPC service, for every client
// generation:
//   - Hello (InfraKit master): the current SPIs and their objects, exactly
//     what infrakit's own rpc.Handshake answers (Instance/0.6.1, and
//     Event and Metadata when the plugin has them).
//   - Implements (v0.3.0 to v0.5): Instance/0.3.0 and Instance/0.5.0, then
//     the current SPIs. Those clients walk the list and pass when any
//     entry has their exact version, so one answer serves both; the
//     current entries keep the list a true account of what is served.
//   - Types (v0.5's CLI, which builds its `infrakit <plugin> ...` commands
//     from it): the same SPIs, each with its objects.
//
// The order of Implements and Types is fixed (legacy first, then the
// current SPIs sorted), unlike infrakit's map-ordered servers, so replies
// are reproducible.
type Handshake struct {
	current rpcbase.Handshake
}

func newHandshake(objects map[spi.InterfaceSpec]func() []rpcbase.Object) *Handshake {
	return &Handshake{current: rpcbase.Handshake(objects)}
}

// Hello answers InfraKit master's handshake.
func (h *Handshake) Hello(r *http.Request, req *rpcbase.HelloRequest, resp *rpcbase.HelloResponse) error {
	return h.current.Hello(r, req, resp)
}

// apis is every SPI served: the legacy Instance versions, then the current
// SPIs sorted (so Instance/0.6.1 is the last Instance entry, the one a
// client's version-mismatch message names).
func (h *Handshake) apis() []spi.InterfaceSpec {
	cur := make([]spi.InterfaceSpec, 0, len(h.current))
	for k := range h.current {
		cur = append(cur, k)
	}
	sort.Slice(cur, func(i, j int) bool { return cur[i].Encode() < cur[j].Encode() })
	return append(append([]spi.InterfaceSpec(nil), legacyInstanceSPIs...), cur...)
}

// Implements answers the handshake of InfraKit v0.3.0 to v0.5.
func (h *Handshake) Implements(_ *http.Request, _ *ImplementsRequest, resp *ImplementsResponse) error {
	resp.APIs = legacySpecs(h.apis())
	return nil
}

// Types answers v0.5's CLI: object names by SPI. The legacy Instance SPIs
// are the plugin itself (".").
func (h *Handshake) Types(_ *http.Request, _ *TypesRequest, resp *TypesResponse) error {
	resp.Types = map[string][]string{}
	for _, s := range legacyInstanceSPIs {
		resp.Types[s.Encode()] = []string{"."}
	}
	for s, objects := range h.current {
		names := []string{}
		for _, o := range objects() {
			n := o.Name
			if n == "" {
				n = "."
			}
			names = append(names, n)
		}
		resp.Types[s.Encode()] = names
	}
	return nil
}

// PluginImplements answers `Plugin.Implements`, the handshake of InfraKit
// v0.1.0 and v0.2.0, which require Instance/0.1.0.
//
// It lists what Handshake.Implements lists and deliberately NOT
// Instance/0.1.0. Those two releases were never built nor captured against
// this plugin (the Go module proxy cannot build them either), and their
// Instance/0.1.0 predates Label; claiming it would be an untested promise.
// The original aliyun plugin targeted v0.3+ (Instance/0.3.0), so no user of
// it ran v0.1/v0.2. Answering, rather than leaving the method unknown,
// gives such a client its own clear error ("Plugin supports Instance
// interface version 0.6.1, client requires 0.1.0") instead of "rpc: can't
// find method", which reads like a broken plugin.
type PluginImplements struct{ h *Handshake }

// Implements is Plugin.Implements.
func (p *PluginImplements) Implements(r *http.Request, req *ImplementsRequest, resp *ImplementsResponse) error {
	return p.h.Implements(r, req, resp)
}

func legacySpecs(in []spi.InterfaceSpec) []LegacyInterfaceSpec {
	out := make([]LegacyInterfaceSpec, len(in))
	for i, a := range in {
		out[i] = LegacyInterfaceSpec{Name: a.Name, Version: a.Version}
	}
	return out
}

// SPIVersions returns the Instance interface versions served, newest first.
func SPIVersions() []string {
	v := []string{InstanceSPI.Encode()}
	for i := len(legacyInstanceSPIs) - 1; i >= 0; i-- {
		v = append(v, legacyInstanceSPIs[i].Encode())
	}
	return v
}
