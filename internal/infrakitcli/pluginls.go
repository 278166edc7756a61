package infrakitcli

import (
	"fmt"
	"io"
	"sort"
	"text/tabwriter"

	logutil "github.com/docker/infrakit/pkg/log"
	"github.com/docker/infrakit/pkg/rpc/client"
	"github.com/docker/infrakit/pkg/run/scope"
	"github.com/spf13/cobra"
)

var log = logutil.New("module", "infrakitcli")

// pluginRow is one object served by a plugin, for one SPI it implements.
type pluginRow struct {
	Interface string // e.g. Group/1.0.0
	Name      string // plugin name, or plugin/type for typed objects
	Listen    string // socket path or URL
}

// listPlugins asks every discovered plugin (via infrakit's handshake) which
// objects and interfaces it serves. Plugins that do not answer are skipped.
func listPlugins(sc scope.Scope) ([]pluginRow, error) {
	entries, err := sc.Plugins().List()
	if err != nil {
		return nil, err
	}
	var rows []pluginRow
	for lookup, ep := range entries {
		hs, err := client.NewHandshaker(ep.Address)
		if err != nil {
			log.Warn("cannot reach plugin", "name", lookup, "addr", ep.Address, "err", err)
			continue
		}
		objects, err := hs.Hello()
		if err != nil {
			log.Warn("plugin handshake failed", "name", lookup, "addr", ep.Address, "err", err)
			continue
		}
		for spec, objs := range objects {
			for _, o := range objs {
				name := lookup
				if o.Name != "" && o.Name != "." {
					name = lookup + "/" + o.Name
				}
				rows = append(rows, pluginRow{Interface: spec.Encode(), Name: name, Listen: ep.Address})
			}
		}
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].Name != rows[j].Name {
			return rows[i].Name < rows[j].Name
		}
		return rows[i].Interface < rows[j].Interface
	})
	return rows, nil
}

func pluginCommand(sc scope.Scope, stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "plugin",
		Short: "Manage plugins",
	}
	ls := &cobra.Command{
		Use:   "ls",
		Short: "List the running plugins and the interfaces they implement",
		Args:  cobra.NoArgs,
	}
	quiet := ls.Flags().BoolP("quiet", "q", false, "Print rows without column headers")
	ls.RunE = func(*cobra.Command, []string) error {
		rows, err := listPlugins(sc)
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(stdout, 0, 8, 2, ' ', 0)
		if !*quiet {
			fmt.Fprintln(w, "INTERFACE\tNAME\tLISTEN")
		}
		for _, r := range rows {
			fmt.Fprintf(w, "%s\t%s\t%s\n", r.Interface, r.Name, r.Listen)
		}
		return w.Flush()
	}
	cmd.AddCommand(ls)
	return cmd
}
