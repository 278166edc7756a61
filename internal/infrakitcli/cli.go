// Package infrakitcli is the `infrakit` command line: InfraKit's own CLI
// library (pkg/cli) and its dynamic, discovery-driven command tree
// (pkg/cli/v0 via cli.LoadAll), plus `plugin ls` and `version`.
//
// Master's tree lives under `infrakit local <plugin> <verb>` with master's
// verb names (commit-group, groups, free-group, ls ...). The published
// tutorials type the v0.5 forms instead (`infrakit group commit FILE`,
// `infrakit group describe ID`, `infrakit instance-aliyun describe` ...).
// This package serves both: the dynamic commands are mounted under `local`
// unchanged, and at the top level with the tutorial verbs mapped onto
// master's commands (see tutorial.go). InfraKit v0.4's
// `infrakit instance --name NAME <verb>` is rewritten to `infrakit NAME
// <verb>` (v04.go). No InfraKit logic is reimplemented.
package infrakitcli

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/docker/infrakit/pkg/cli"
	_ "github.com/docker/infrakit/pkg/cli/v0" // registers the dynamic SPI commands
	discovery_local "github.com/docker/infrakit/pkg/discovery/local"
	logutil "github.com/docker/infrakit/pkg/log"
	"github.com/docker/infrakit/pkg/plugin"
	"github.com/docker/infrakit/pkg/run/scope"
	"github.com/docker/infrakit/pkg/template"
	"github.com/spf13/cobra"

	"infrakit.aliyun/internal/infrakitplugins"
)

// HostCommand is the name of the command holding master's dynamic tree
// (`infrakit local <plugin> <verb>`).
const HostCommand = "local"

// Main runs the CLI with args (without the program name) and returns the
// process exit code.
func Main(args []string) int {
	return run(args, os.Stdout, os.Stderr)
}

func run(args []string, stdout, stderr io.Writer) int {
	program := "infrakit"
	if len(os.Args) > 0 {
		program = filepath.Base(os.Args[0])
	}
	logOptions := logutil.ProdDefaults
	logutil.Configure(&logOptions)
	if err := discovery_local.Setup(); err != nil {
		fmt.Fprintf(stderr, "%s: plugins directory: %v\n", program, err)
		return 1
	}
	if err := template.Setup(); err != nil {
		fmt.Fprintf(stderr, "%s: template cache: %v\n", program, err)
		return 1
	}

	sc := scope.DefaultScope(infrakitplugins.LocalPlugins)
	root := newRoot(program, sc, &logOptions, stdout, stderr)

	// InfraKit v0.4's `instance --name NAME <verb>` (v04.go).
	args, err := rewriteV04Args(args, positionals(root.PersistentFlags(), args), func(name string) bool {
		_, err := sc.Plugins().Find(plugin.Name(name))
		return err == nil
	})
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", program, err)
		return 1
	}
	first := firstPositional(root, args)
	switch {
	case isBuiltin(root, first) && first != HostCommand:
		// plugin ls, version: no need to dial every plugin
	case first == HostCommand:
		cmds, err := cli.LoadAll(cli.NewServices(sc))
		if err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", program, err)
			return 1
		}
		host, _, _ := root.Find([]string{HostCommand})
		for _, c := range cmds {
			addTutorialAliases(c)
			host.AddCommand(c)
		}
	default:
		cmds, err := cli.LoadAll(cli.NewServices(sc))
		if err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", program, err)
			return 1
		}
		for _, c := range cmds {
			addTutorialAliases(c)
			root.AddCommand(c)
		}
		if first != "" && first != "help" {
			var ok bool
			args, ok = rewriteTutorialArgs(root, args)
			if !ok {
				fmt.Fprintf(stderr, "%s: no running plugin or command named %q (plugins directory %s; see '%s plugin ls')\n",
					program, first, discovery_local.Dir(), program)
				return 1
			}
		}
	}

	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		fmt.Fprintln(stderr, err.Error())
		return 1
	}
	return 0
}

func newRoot(program string, sc scope.Scope, logOptions *logutil.Options, stdout, stderr io.Writer) *cobra.Command {
	// Infrakit's commands rely on every PersistentPreRunE up the tree running
	// (cli.EnsurePersistentPreRunE); make cobra do that too.
	cobra.EnableTraverseRunHooks = true

	root := &cobra.Command{
		Use:   program,
		Short: program + " command line interface",
		Long: program + ` command line interface (InfraKit CLI library).

Running plugins (see '` + program + ` plugin ls') appear as commands, e.g.
  ` + program + ` group commit FILE [--pretend]
  ` + program + ` group ls | describe ID | inspect ID | scale ID [N] | free ID | destroy ID
  ` + program + ` instance-aliyun describe [-p] [--tags k=v]
InfraKit v0.4's '` + program + ` instance --name instance-aliyun describe' works too.
InfraKit master's own forms are under '` + program + ` ` + HostCommand + ` <plugin> <verb>'.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(*cobra.Command, []string) error {
			logutil.Configure(logOptions)
			return nil
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.CompletionOptions.DisableDefaultCmd = true
	root.PersistentFlags().AddFlagSet(cli.Flags(logOptions))

	root.AddCommand(
		versionCommand(),
		pluginCommand(sc, stdout),
		&cobra.Command{
			Use:   HostCommand,
			Short: "Access the local plugins with InfraKit master's command names",
			RunE: func(c *cobra.Command, _ []string) error {
				return c.Help()
			},
		},
	)
	return root
}

// firstPositional returns the first non-flag argument, skipping the values
// of root persistent flags that take one.
func firstPositional(root *cobra.Command, args []string) string {
	if idx := positionals(root.PersistentFlags(), args); len(idx) > 0 {
		return args[idx[0]]
	}
	return ""
}

func isBuiltin(root *cobra.Command, name string) bool {
	if name == "" {
		return false
	}
	for _, c := range root.Commands() {
		if c.Name() == name || c.HasAlias(name) {
			return true
		}
	}
	return false
}
