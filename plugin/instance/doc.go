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
// The house: Plugin (plugin.go) is the SPI surface; New builds its parts,
// each with only what it uses and none holding the Plugin:
//
//	ownership      owned.go          which instances are the plugin's (namespace, tag rules)
//	creator        truth.go          RunInstances told truthfully (ClientToken, settling)
//	attacher       attach.go         Spec.Attachments: find, attach, finish later, keep
//	spread         capacity.go       group members and scans for the capacity planner
//	views          views.go          events, lost members, spot notices, capacity outcomes;
//	               metadata.go       the Metadata SPI built from them
//	describeCache  describecache.go  shared describe scans, partitioned (shards.go)
//
// request.go builds the RunInstances request, describe.go answers
// DescribeInstances, reclaims.go is the spot call sites, tags.go holds
// shared tag helpers. Below it, with no calls back into it: groupspec
// parses and validates Instance.Properties (docs/properties.md is generated
// from it), capacity decides which instance type and zone a Provision
// tries and returns what it met, spot notices reclaims (describes, its
// watcher, budgeted pushes), keeps and hands out their data and cleans it
// up, returning claims and notices, and internal/ecs makes every ECS call.
//
// The user's guide is README.md; docs/troubleshooting.md lists the
// plugin's refusals.
package instance
