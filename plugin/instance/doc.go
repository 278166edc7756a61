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
// Where things are, by file: plugin.go (Config, New and the SPI methods),
// properties.go (parsing and validating Instance.Properties; the keys are
// documented in docs/properties.md, generated from these types),
// capacity.go (instance type, zone and spot fallbacks on stock-outs),
// preempt.go, keepdisks.go, push.go (spot reclaim: watching, kept data,
// pushed CloudMonitor events), owned.go (the namespace guard on every SPI
// call), truth.go (asking ECS again when a RunInstances answer was lost),
// describecache.go (one scan answering concurrent describes), adapter*.go,
// wire.go, errors.go, retry.go (the ECS calls: encoding, paging, one retry
// policy, rate limit, error classification and scrubbing). The
// DescribeAvailableResource answer is read in internal/ecs, shared with
// internal/inventory.
//
// The user's guide is README.md; docs/troubleshooting.md lists the
// plugin's refusals.
package instance
