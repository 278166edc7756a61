// Package inventory holds the operator helper subcommands of
// infrakit-instance-aliyun that help a new user write a group spec: they list
// what the account can use in a region (regions, zones, instance types and
// their stock, images, security groups, vswitches, key pairs), print a starter
// group spec, and validate a spec offline or against the API.
//
// The root command owns the endpoint, region and credential flags; these
// commands only receive a function that builds a client from them, and call it
// when they run.
package inventory

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/denverdino/aliyungo/common"
	"github.com/denverdino/aliyungo/ecs"
	"github.com/spf13/cobra"
)

// ClientFunc returns an ECS client and the region the commands work in. It is
// called once per command run, after the root command has parsed its flags.
type ClientFunc func() (*ecs.Client, string, error)

// Commands returns the helper subcommands, to be added to the root command:
// regions, zones, instance-types, images, security-groups, vswitches,
// key-pairs, spec and validate. Only spec and validate without --online work
// without newClient.
func Commands(newClient ClientFunc) []*cobra.Command {
	return newCommands(newClient, retrySettings{})
}

// opener opens the client a command run calls, with the region.
type opener func(ctx context.Context) (*client, string, error)

// newCommands is Commands with the retry policy's settings (tests inject
// its clock).
func newCommands(newClient ClientFunc, retry retrySettings) []*cobra.Command {
	open := func(ctx context.Context) (*client, string, error) {
		c, region, err := newClient()
		if err != nil {
			return nil, "", err
		}
		return wrapClient(ctx, c, retry), region, nil
	}
	return []*cobra.Command{
		regionsCommand(open),
		zonesCommand(open),
		instanceTypesCommand(open),
		imagesCommand(open),
		securityGroupsCommand(open),
		vswitchesCommand(open),
		keyPairsCommand(open),
		specCommand(),
		validateCommand(open),
	}
}

// lister describes a listing command: how to fetch its rows and how to show
// them as a table. The JSON form is the rows themselves.
type lister[T any] struct {
	use, short string
	fetch      func(c *client, region string) ([]T, error)
	table      func(rows []T) (header []string, cells [][]string)
}

func (l lister[T]) command(open opener) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   l.use,
		Short: l.short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cmd.SilenceUsage = true // from here on, errors are not about usage
			c, region, err := open(cmd.Context())
			if err != nil {
				return err
			}
			rows, err := l.fetch(c, region)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), rows)
			}
			header, cells := l.table(rows)
			return writeTable(cmd.OutOrStdout(), header, cells)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of a table")
	return cmd
}

// writeJSON prints rows as an indented JSON array ([] rather than null when
// there are none).
func writeJSON[T any](w io.Writer, rows []T) error {
	if rows == nil {
		rows = []T{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rows)
}

// writeTable prints an aligned table with a header line.
func writeTable(w io.Writer, header []string, cells [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, row := range cells {
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	return tw.Flush()
}

// pageSize is the largest page aliyungo's typed Describe calls send: their
// Pagination.Validate clamps anything larger to 50 (and logs about it).
const pageSize = 50

// allPages calls fetch for page 1, 2, ... until the reported TotalCount is
// reached or a page comes back short.
func allPages[T any](fetch func(p common.Pagination) ([]T, *common.PaginationResult, error)) ([]T, error) {
	var all []T
	for page := 1; ; page++ {
		items, res, err := fetch(common.Pagination{PageNumber: page, PageSize: pageSize})
		if err != nil {
			return nil, err
		}
		all = append(all, items...)
		if res == nil || len(items) < pageSize || len(all) >= res.TotalCount {
			return all, nil
		}
	}
}
