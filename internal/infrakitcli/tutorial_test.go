package infrakitcli

import (
	"reflect"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// fakeTree mimics what cli.LoadAll builds for a group plugin named "group"
// and an instance plugin served as a typed object "instance-x/vm".
func fakeTree(t *testing.T) (*cobra.Command, map[string]*string) {
	t.Helper()
	var logOpts struct{ level int }
	root := &cobra.Command{Use: "infrakit"}
	root.PersistentFlags().IntVar(&logOpts.level, "log", 4, "")
	root.PersistentFlags().Bool("log-stdout", false, "")
	root.AddCommand(&cobra.Command{Use: "plugin"}, &cobra.Command{Use: "version"})

	ran := map[string]*string{}
	leaf := func(use string) *cobra.Command {
		var got string
		ran[strings.Fields(use)[0]] = &got
		return &cobra.Command{Use: use, RunE: func(c *cobra.Command, args []string) error {
			got = c.Name() + " " + strings.Join(args, ",")
			return nil
		}}
	}
	group := &cobra.Command{Use: "group"}
	ls := leaf("ls <group ID>")
	ls.Flags().StringSlice("tags", nil, "")
	ls.Flags().BoolP("properties", "p", false, "")
	ls.Flags().StringP("tags-view", "t", "*", "")
	ls.Flags().BoolP("quiet", "q", false, "")
	groups := leaf("groups")
	groups.Flags().BoolP("quiet", "q", false, "")
	commit := leaf("commit-group <url>")
	commit.Flags().Bool("pretend", false, "")
	group.AddCommand(ls, groups, commit, leaf("free-group <id>"), leaf("destroy <id>"),
		leaf("inspect <id>"), leaf("scale <id> [n]"))
	addTutorialAliases(group)
	root.AddCommand(group)

	inst := &cobra.Command{Use: "instance-x/vm"}
	d := leaf("describe")
	d.Flags().BoolP("properties", "p", false, "")
	inst.AddCommand(d)
	addTutorialAliases(inst)
	root.AddCommand(inst)
	return root, ran
}

func TestTutorialForms(t *testing.T) {
	cases := []struct {
		args []string
		verb string // the master command expected to run
		want string // name + args it received
	}{
		{[]string{"group", "commit", "spec.json"}, "commit-group", "commit-group spec.json"},
		{[]string{"group", "commit", "spec.json", "--pretend"}, "commit-group", "commit-group spec.json"},
		{[]string{"group", "ls"}, "groups", "groups "},
		{[]string{"group", "ls", "-q"}, "groups", "groups "},
		{[]string{"--log", "5", "group", "ls"}, "groups", "groups "},
		{[]string{"group", "ls", "-t", "x"}, "groups", ""}, // -t takes a value: still no group ID
		{[]string{"group", "ls", "cattle"}, "ls", "ls cattle"},
		{[]string{"group", "describe", "cattle"}, "ls", "ls cattle"},
		{[]string{"group", "describe", "cattle", "-p"}, "ls", "ls cattle"},
		{[]string{"group", "inspect", "cattle"}, "inspect", "inspect cattle"},
		{[]string{"group", "free", "cattle"}, "free-group", "free-group cattle"},
		{[]string{"group", "destroy", "cattle"}, "destroy", "destroy cattle"},
		{[]string{"group", "scale", "cattle", "3"}, "scale", "scale cattle,3"},
		{[]string{"instance-x", "describe", "-p"}, "describe", "describe "},
		{[]string{"instance-x/vm", "describe"}, "describe", "describe "},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, "_"), func(t *testing.T) {
			root, ran := fakeTree(t)
			args, ok := rewriteTutorialArgs(root, c.args)
			if !ok {
				t.Fatalf("rewrite rejected %v", c.args)
			}
			root.SetArgs(args)
			if c.want == "" {
				// only check which command is selected
				cmd, _, err := root.Find(args)
				if err != nil || cmd.Name() != c.verb {
					t.Fatalf("Find(%v) = %v, %v; want %s", args, cmd.Name(), err, c.verb)
				}
				return
			}
			if err := root.Execute(); err != nil {
				t.Fatal(err)
			}
			if got := *ran[c.verb]; got != c.want {
				t.Fatalf("%v ran %q, want %q", c.args, got, c.want)
			}
		})
	}
}

func TestUnknownPlugin(t *testing.T) {
	root, _ := fakeTree(t)
	if _, ok := rewriteTutorialArgs(root, []string{"instance-nope", "describe"}); ok {
		t.Fatal("unknown plugin accepted")
	}
	if _, ok := rewriteTutorialArgs(root, []string{"version"}); !ok {
		t.Fatal("builtin rejected")
	}
}

func TestAliasesDoNotShadowExistingVerbs(t *testing.T) {
	obj := &cobra.Command{Use: "group"}
	for _, u := range []string{"ls", "groups", "commit-group", "free-group", "commit", "describe"} {
		obj.AddCommand(&cobra.Command{Use: u, Run: func(*cobra.Command, []string) {}})
	}
	addTutorialAliases(obj)
	for _, c := range obj.Commands() {
		for _, a := range c.Aliases {
			if a == "commit" || a == "describe" {
				t.Fatalf("%s got alias %s although a %s command exists", c.Name(), a, a)
			}
		}
	}
	if got := child(obj, "free-group").Aliases; !reflect.DeepEqual(got, []string{"free"}) {
		t.Fatalf("free-group aliases = %v", got)
	}
}

func TestPositionals(t *testing.T) {
	root, _ := fakeTree(t)
	fs := root.PersistentFlags()
	cases := []struct {
		args []string
		want []int
	}{
		{nil, nil},
		{[]string{"--log", "5", "group"}, []int{2}},
		{[]string{"--log=5", "group", "ls"}, []int{1, 2}},
		{[]string{"--log-stdout", "group"}, []int{1}},
		{[]string{"--", "-x"}, []int{1}},
	}
	for _, c := range cases {
		if got := positionals(fs, c.args); !reflect.DeepEqual(got, c.want) {
			t.Errorf("positionals(%v) = %v, want %v", c.args, got, c.want)
		}
	}
	if got := firstPositional(root, []string{"--log", "1", "plugin", "ls"}); got != "plugin" {
		t.Errorf("firstPositional = %q", got)
	}
}
