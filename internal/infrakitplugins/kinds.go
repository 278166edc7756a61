package infrakitplugins

import (
	group_kind "github.com/docker/infrakit/pkg/run/v0/group"
	vanilla_kind "github.com/docker/infrakit/pkg/run/v0/vanilla"
)

// Group is infrakit's default (stateless) group plugin, pkg/run/v0/group.
// Its poll interval and parallelism come from infrakit's own environment
// variables, read when the process starts, or from --options.
var Group = Kind{
	Program:        "infrakit-group-default",
	DefaultName:    "group",
	Run:            group_kind.Run,
	DefaultOptions: group_kind.DefaultOptions,
	Env: []string{
		group_kind.EnvPollInterval + " (default 10s)",
		group_kind.EnvMaxParallelNum + " (default 0 = unlimited)",
		group_kind.EnvSelfLogicalID,
		"INFRAKIT_CLIENT_TIMEOUT (default 15s)",
		"INFRAKIT_PLUGINS_DIR / INFRAKIT_HOME",
	},
}

// Vanilla is infrakit's vanilla flavor plugin, pkg/run/v0/vanilla.
var Vanilla = Kind{
	Program:        "infrakit-flavor-vanilla",
	DefaultName:    "flavor-vanilla",
	Run:            vanilla_kind.Run,
	DefaultOptions: vanilla_kind.DefaultOptions,
	Env:            []string{"INFRAKIT_PLUGINS_DIR / INFRAKIT_HOME"},
}
