package infrakitcli

import (
	"fmt"
	"strings"
)

// v04Kinds are the top-level commands of InfraKit v0.4's static CLI
// (cmd/cli in tag v0.4.1) that take the plugin as --name:
//
//	infrakit instance --name instance-aliyun describe [--tags k=v] [-q]
//	infrakit instance --name instance-aliyun validate|provision FILE
//	infrakit instance --name instance-aliyun destroy ID
//	infrakit group --name group commit FILE [--pretend]
//
// Each is the same call as today's `infrakit <name> <verb> ...`, so the
// v0.4 form is rewritten to it; the plugin then serves it as any other.
// v0.4's `group` defaulted --name to "group" and `instance` had no default.
var v04Kinds = map[string]bool{"instance": true, "group": true, "flavor": true}

// rewriteV04Args turns `<kind> --name NAME <rest>` (--name anywhere after
// the kind, as v0.4's persistent flag allowed; also --name=NAME) into
// `NAME <rest>`. isPlugin tells whether a plugin of that very name runs:
// then `<kind>` without --name stays that plugin's command. It returns the
// arguments unchanged when the kind has no --name, and an error for v0.4's
// `instance` without one (it had no default) when no plugin "instance" runs,
// or for --name without a value.
func rewriteV04Args(args []string, pos []int, isPlugin func(string) bool) ([]string, error) {
	if len(pos) == 0 || !v04Kinds[args[pos[0]]] {
		return args, nil
	}
	kind := args[pos[0]]
	out := make([]string, 0, len(args))
	out = append(out, args[:pos[0]]...)
	name, found := "", false
	rest := args[pos[0]+1:]
	var tail []string
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		switch {
		case a == "--":
			tail = append(tail, rest[i:]...)
			i = len(rest)
		case !found && a == "--name":
			if i+1 >= len(rest) || rest[i+1] == "" || strings.HasPrefix(rest[i+1], "-") {
				return nil, fmt.Errorf("%s --name: a plugin name is required (e.g. %s --name instance-aliyun describe)", kind, kind)
			}
			name, found = rest[i+1], true
			i++
		case !found && strings.HasPrefix(a, "--name="):
			name, found = strings.TrimPrefix(a, "--name="), true
			if name == "" {
				return nil, fmt.Errorf("%s --name: a plugin name is required (e.g. %s --name instance-aliyun describe)", kind, kind)
			}
		default:
			tail = append(tail, a)
		}
	}
	if !found {
		if kind == "instance" && !isPlugin(kind) {
			return nil, fmt.Errorf("instance: no plugin named \"instance\" runs; InfraKit v0.4's form names the plugin with --name, e.g. instance --name instance-aliyun describe")
		}
		return args, nil
	}
	out = append(out, name)
	return append(out, tail...), nil
}
