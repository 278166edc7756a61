// Package instance is the InfraKit instance plugin (SPI Instance/0.6.1,
// with its Event and Metadata plugins) for Alibaba Cloud ECS:
//
//	p, err := instance.New(instance.Config{Clients: instance.StaticClient(client), RegionID: region})
//
// Everything the plugin needs lives in ECS tags, so copies can run side by
// side and a restart loses nothing; what it keeps in memory (a short-lived
// describe cache, recent Provisions for zone spread, its events and
// metadata) is rebuilt from ECS as it runs.
//
// The house: this package holds the SPI methods and their wiring
// (plugin.go), the namespace guard on every call (owned.go), asking ECS
// again when a RunInstances answer was lost (truth.go), the describe cache
// (describecache.go), the spot call sites (reclaims.go) and the events and
// metadata views (events.go, metadata.go). Below it, with no calls back
// into it: groupspec parses and validates Instance.Properties
// (docs/properties.md is generated from it), capacity decides which
// instance type and zone a Provision tries and returns what it met, spot
// notices reclaims (describes, its watcher, budgeted pushes), keeps and
// hands out their data and cleans it up, returning claims and notices, and
// internal/ecs makes every ECS call.
//
// The user's guide is README.md; docs/troubleshooting.md lists the
// plugin's refusals.
package instance
