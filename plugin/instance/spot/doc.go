// Package spot handles spot reclaims for the instance plugin: it notices
// reclaimed instances (ECS's Recycling lock, seen by the plugin's
// describes, a background watcher, or the look-up a pushed CloudMonitor
// hint triggers within a budget), keeps their data (KeepData disks moved in
// tagged steps any copy of the plugin can finish, or an image), hands kept
// data to a replacement's Provision as a Claim, and deletes kept data no
// group will take again.
//
// It reaches ECS through Instances and ecs.SpotAPI only, and the plugin
// through Config (namespace, clock, logger, Notify). It writes none of the
// plugin's state: it returns results (a Claim, whether an instance was
// noticed, the interrupting list) and reports each notice through
// Config.Notify; the plugin owns the SPI methods, events and metadata.
package spot
