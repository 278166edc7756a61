package infrakitcli

import (
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// groupVerbAliases maps the tutorial (InfraKit v0.5) verbs of a group plugin
// onto the commands InfraKit master's cli/v0/group registers.
var groupVerbAliases = map[string]string{
	"commit":   "commit-group", // infrakit group commit FILE [--pretend]
	"free":     "free-group",   // infrakit group free ID
	"describe": "ls",           // infrakit group describe ID: the group's instances
}

// isGroupObject reports whether a dynamic object command was built from the
// Group SPI (master registers commit-group and groups only for it).
func isGroupObject(obj *cobra.Command) bool {
	return child(obj, "commit-group") != nil && child(obj, "groups") != nil
}

func child(c *cobra.Command, name string) *cobra.Command {
	for _, cc := range c.Commands() {
		if cc.Name() == name {
			return cc
		}
	}
	return nil
}

func taken(c *cobra.Command, name string) bool {
	for _, cc := range c.Commands() {
		if cc.Name() == name || cc.HasAlias(name) {
			return true
		}
	}
	return false
}

// addTutorialAliases adds the tutorial verbs as cobra aliases of master's
// commands, unless another command of the object already uses that word.
func addTutorialAliases(obj *cobra.Command) {
	if !isGroupObject(obj) {
		return
	}
	if g := child(obj, "groups"); g != nil && !strings.Contains(g.Short, "[also:") {
		g.Short += " [also: ls without a group ID]"
	}
	for alias, target := range groupVerbAliases {
		t := child(obj, target)
		if t == nil || taken(obj, alias) {
			continue
		}
		t.Aliases = append(t.Aliases, alias)
		t.Short += " [also: " + alias + "]"
	}
}

// rewriteTutorialArgs adapts a top-level command line whose first word is a
// plugin object. It returns false when no such object is running.
//   - `<plugin>` without its type, when the plugin serves exactly one typed
//     object (`instance-x` for `instance-x/vm`), is completed.
//   - `<group> ls` without a group ID lists the groups (master: `groups`);
//     with an ID it stays master's `ls ID` (the group's members).
func rewriteTutorialArgs(root *cobra.Command, args []string) ([]string, bool) {
	pos := positionals(root.PersistentFlags(), args)
	if len(pos) == 0 {
		return args, true
	}
	out := append([]string(nil), args...)
	name := out[pos[0]]

	obj := child(root, name)
	if obj == nil {
		var typed []*cobra.Command
		for _, c := range root.Commands() {
			if strings.HasPrefix(c.Name(), name+"/") {
				typed = append(typed, c)
			}
		}
		if len(typed) != 1 {
			return args, isBuiltin(root, name)
		}
		obj = typed[0]
		out[pos[0]] = obj.Name()
	}

	if !isGroupObject(obj) || len(pos) < 2 || out[pos[1]] != "ls" {
		return out, true
	}
	ls := child(obj, "ls")
	groups := child(obj, "groups")
	if ls == nil || groups == nil {
		return out, true
	}
	fs := pflag.NewFlagSet("ls", pflag.ContinueOnError)
	fs.AddFlagSet(ls.Flags())
	fs.AddFlagSet(root.PersistentFlags())
	if rest := positionals(fs, out[pos[1]+1:]); len(rest) == 0 {
		out[pos[1]] = groups.Name()
	}
	return out, true
}

// positionals returns the indexes of the non-flag arguments in args, given
// the flags that may appear (so a flag's separate value is not counted).
func positionals(fs *pflag.FlagSet, args []string) []int {
	var idx []int
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			for j := i + 1; j < len(args); j++ {
				idx = append(idx, j)
			}
			return idx
		case a == "-" || !strings.HasPrefix(a, "-"):
			idx = append(idx, i)
		case strings.HasPrefix(a, "--"):
			if strings.Contains(a, "=") {
				continue
			}
			if f := fs.Lookup(a[2:]); f != nil && f.NoOptDefVal == "" {
				i++
			}
		default: // -abc shorthand group; a value-taking letter eats the rest
			for k := 1; k < len(a); k++ {
				f := fs.ShorthandLookup(a[k : k+1])
				if f == nil || f.NoOptDefVal != "" {
					continue
				}
				if k == len(a)-1 {
					i++
				}
				break
			}
		}
	}
	return idx
}
