package inventory

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/denverdino/aliyungo/common"
	"github.com/denverdino/aliyungo/ecs"
	"github.com/docker/infrakit/pkg/types"
	"github.com/spf13/cobra"

	aliecs "infrakit.aliyun/internal/ecs"
	"infrakit.aliyun/plugin/instance/groupspec"
)

func validateCommand(open opener) *cobra.Command {
	var online bool
	cmd := &cobra.Command{
		Use:   "validate FILE",
		Short: "Check a group spec (or bare instance properties) offline, or with --online against the API",
		Long: `Check a group spec, or the instance properties alone, as the plugin will
when the group is committed. FILE may be JSON or YAML; "-" reads stdin.
No API call is made unless --online is given: then the image, the vswitch, the
security groups, the key pair and the instance type's stock in the vswitch's
zone are looked up too, one line per check.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cmd.SilenceUsage = true
			file := args[0]
			b, err := readInput(cmd.InOrStdin(), file)
			if err != nil {
				return err
			}
			doc, err := readSpec(b)
			if err != nil {
				return fmt.Errorf("validate %s: %w", file, err)
			}
			ri, err := doc.parse()
			if err != nil {
				return fmt.Errorf("validate %s: %w", file, err)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintln(out, check{ok: true, what: doc.describe(file)})
			if !online {
				return nil
			}
			c, region, err := open(cmd.Context())
			if err != nil {
				return err
			}
			checks := checkOnline(c, region, ri)
			failed := 0
			for _, ch := range checks {
				fmt.Fprintln(out, ch)
				if !ch.ok {
					failed++
				}
			}
			if failed > 0 {
				return fmt.Errorf("validate %s: %d of %d online checks failed", file, failed, len(checks))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&online, "online", false,
		"also check through the API that the image, vswitch, security groups and key pair exist and the instance type has stock")
	return cmd
}

func readInput(stdin io.Reader, file string) ([]byte, error) {
	if file == "-" {
		b, err := io.ReadAll(stdin)
		if err != nil {
			return nil, fmt.Errorf("read spec from stdin: %w", err)
		}
		return b, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read spec %s: %w", file, err)
	}
	return b, nil
}

// specDoc is a validate input: a group spec or bare instance properties.
type specDoc struct {
	group          string     // the group ID; "" for bare instance properties
	instancePlugin string     // Properties.Instance.Plugin
	instance       *types.Any // the instance properties
}

// instancePath is where a group spec keeps the instance properties.
const instancePath = "Properties.Instance.Properties"

// readSpec finds the instance properties in a JSON or YAML document. A
// document with a top-level "Properties" is a group spec, and its group-level
// fields are checked as InfraKit's group plugin needs them; anything else is
// taken as the instance properties themselves.
func readSpec(b []byte) (specDoc, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return specDoc{}, errors.New("empty document")
	}
	if !json.Valid(b) {
		y, err := types.AnyYAML(b)
		if err != nil {
			// Report the JSON syntax error: JSON is what most specs are.
			var v any
			return specDoc{}, fmt.Errorf("neither JSON (%v) nor YAML (%v)", json.Unmarshal(b, &v), err)
		}
		b = y.Bytes()
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		return specDoc{}, fmt.Errorf("want a JSON object: %w", err)
	}
	if _, ok := top["Properties"]; !ok {
		return specDoc{instance: types.AnyBytes(b)}, nil
	}

	var g struct {
		ID         string
		Properties *struct {
			Allocation *struct {
				Size       uint
				LogicalIDs []string
			}
			Instance *struct {
				Plugin     string
				Properties *types.Any
			}
			Flavor *struct {
				Plugin string
			}
		}
	}
	if err := json.Unmarshal(b, &g); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return specDoc{}, fieldErr(te.Field, "want %s, got JSON %s", te.Type, te.Value)
		}
		return specDoc{}, err
	}
	p := g.Properties
	switch {
	case strings.TrimSpace(g.ID) == "":
		return specDoc{}, fieldErr("ID", "required (the group ID)")
	case p == nil:
		return specDoc{}, fieldErr("Properties", "required")
	case p.Allocation == nil:
		return specDoc{}, fieldErr("Properties.Allocation", "required (Size, or LogicalIDs for pets)")
	case p.Instance == nil:
		return specDoc{}, fieldErr("Properties.Instance", "required")
	case p.Instance.Plugin == "":
		return specDoc{}, fieldErr("Properties.Instance.Plugin", "required (this plugin's name, e.g. %q)", instancePluginName)
	case p.Instance.Properties == nil || string(*p.Instance.Properties) == "null":
		return specDoc{}, fieldErr(instancePath, "required")
	case p.Flavor == nil || p.Flavor.Plugin == "":
		return specDoc{}, fieldErr("Properties.Flavor.Plugin", "required (e.g. %q)", flavorPluginName)
	}
	return specDoc{group: g.ID, instancePlugin: p.Instance.Plugin, instance: p.Instance.Properties}, nil
}

// fieldErr reports a problem with the spec field at path.
func fieldErr(path, format string, args ...any) error {
	return fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...))
}

// parse checks the instance properties with the plugin's own parser, so
// validate accepts exactly what Provision will.
func (d specDoc) parse() (groupspec.RunInstancesArgs, error) {
	props, err := groupspec.ParseProperties(d.instance)
	if err != nil {
		if d.group != "" {
			return groupspec.RunInstancesArgs{}, fmt.Errorf("%s: %w", instancePath, err) // keeps the plugin's error type
		}
		return groupspec.RunInstancesArgs{}, err
	}
	return props.RunInstances, nil
}

func (d specDoc) describe(file string) string {
	if d.group == "" {
		return "instance properties " + file
	}
	return fmt.Sprintf("group spec %s (group %s, instance plugin %s)", file, d.group, d.instancePlugin)
}

// checkGroupSpec validates a group spec document offline.
func checkGroupSpec(b []byte) error {
	d, err := readSpec(b)
	if err == nil {
		_, err = d.parse()
	}
	return err
}

// check is one line of validate's report.
type check struct {
	ok     bool
	what   string // "image m-123"
	detail string // for ok: extra facts; else: why it failed
}

func (c check) String() string {
	if c.ok {
		if c.detail == "" {
			return "ok   " + c.what
		}
		return fmt.Sprintf("ok   %s (%s)", c.what, c.detail)
	}
	return fmt.Sprintf("FAIL %s: %s", c.what, c.detail)
}

func pass(what, format string, args ...any) check {
	return check{ok: true, what: what, detail: fmt.Sprintf(format, args...)}
}

func fail(what, format string, args ...any) check {
	return check{what: what, detail: fmt.Sprintf(format, args...)}
}

// checkOnline looks up what the RunInstances arguments refer to.
func checkOnline(c *client, region string, ri groupspec.RunInstancesArgs) []check {
	var checks []check
	checks = append(checks, checkImage(c, region, ri.ImageId))

	// The vswitch decides the VPC and zone the other checks need.
	zone, vpc := ri.ZoneId, ""
	if ri.VSwitchId != "" {
		ch, vs := checkVSwitch(c, region, ri.VSwitchId, ri.ZoneId)
		checks = append(checks, ch)
		if vs == nil {
			zone = "?" // unknown: do not fall back to a region-wide stock check
		} else {
			zone, vpc = vs.ZoneId, vs.VpcId
		}
	}
	sgs := ri.SecurityGroupIds
	if ri.SecurityGroupId != "" {
		sgs = append([]string{ri.SecurityGroupId}, sgs...)
	}
	for _, sg := range sgs {
		checks = append(checks, checkSecurityGroup(c, region, sg, vpc, ri.VSwitchId))
	}
	if ri.KeyPairName != "" {
		checks = append(checks, checkKeyPair(c, region, ri.KeyPairName))
	}
	return append(checks, checkStock(c, region, zone, ri.InstanceType))
}

func checkImage(c *client, region, id string) check {
	what := "image " + id
	var im ecs.ImageType
	var found bool
	// Without an owner DescribeImages covers system, self and others; a
	// marketplace image needs asking for explicitly.
	for _, owner := range []ecs.ImageOwnerAlias{ecs.ImageOwnerDefault, ecs.ImageOwnerMarketplace} {
		images, _, err := c.DescribeImages(&ecs.DescribeImagesArgs{
			RegionId:        common.Region(region),
			ImageId:         id,
			ImageOwnerAlias: owner,
		})
		if err != nil {
			return fail(what, "describe image %s: %v", id, err)
		}
		if im, found = find(images, func(x ecs.ImageType) bool { return x.ImageId == id }); found {
			break
		}
	}
	if !found {
		return fail(what, "not found in %s", region)
	}
	if im.Status != ecs.ImageStatusAvailable {
		return fail(what, "status %s, want Available", im.Status)
	}
	return pass(what, "%s, %s", im.ImageName, im.OSName)
}

func checkVSwitch(c *client, region, id, zone string) (check, *ecs.VSwitchSetType) {
	what := "vswitch " + id
	vswitches, _, err := c.DescribeVSwitches(&ecs.DescribeVSwitchesArgs{RegionId: common.Region(region), VSwitchId: id})
	if err != nil {
		return fail(what, "describe vswitch %s: %v", id, err), nil
	}
	vs, found := find(vswitches, func(v ecs.VSwitchSetType) bool { return v.VSwitchId == id })
	if !found {
		return fail(what, "not found in %s", region), nil
	}
	switch {
	case zone != "" && zone != vs.ZoneId:
		return fail(what, "in zone %s, but RunInstances.ZoneId is %s", vs.ZoneId, zone), &vs
	case vs.AvailableIpAddressCount == 0:
		return fail(what, "no free IP addresses in %s", vs.CidrBlock), &vs
	}
	return pass(what, "zone %s, vpc %s, %s, %d free IPs", vs.ZoneId, vs.VpcId, vs.CidrBlock, vs.AvailableIpAddressCount), &vs
}

// checkSecurityGroup checks that a security group exists and, when the
// vswitch's VPC is known, that it is in that VPC.
func checkSecurityGroup(c *client, region, id, vpc, vswitch string) check {
	what := "security group " + id
	groups, _, err := c.DescribeSecurityGroups(&ecs.DescribeSecurityGroupsArgs{
		RegionId:         common.Region(region),
		SecurityGroupIds: []string{id},
	})
	if err != nil {
		return fail(what, "describe security group %s: %v", id, err)
	}
	sg, found := find(groups, func(g ecs.SecurityGroupItemType) bool { return g.SecurityGroupId == id })
	if !found {
		return fail(what, "not found in %s", region)
	}
	if vpc != "" && sg.VpcId != vpc {
		return fail(what, "in %s, but vswitch %s is in %s", sg.VpcId, vswitch, vpc)
	}
	return pass(what, "%s, vpc %s", sg.SecurityGroupName, sg.VpcId)
}

func checkKeyPair(c *client, region, name string) check {
	what := "key pair " + name
	pairs, _, err := c.DescribeKeyPairs(&ecs.DescribeKeyPairsArgs{RegionId: common.Region(region), KeyPairName: name})
	if err != nil {
		return fail(what, "describe key pair %s: %v", name, err)
	}
	kp, found := find(pairs, func(k ecs.KeyPairItemType) bool { return k.KeyPairName == name })
	if !found {
		return fail(what, "not found in %s", region)
	}
	return pass(what, "%s", kp.KeyPairFingerPrint)
}

// checkStock checks that the instance type has stock in zone, or in some
// zone of the region when zone is "". zone "?" means the zone could not be
// found out.
func checkStock(c *client, region, zone, instanceType string) check {
	what := "instance type " + instanceType
	if zone == "?" {
		return fail(what, "stock not checked: the vswitch's zone is unknown")
	}
	stock, err := describeStock(c, region, zone, instanceType)
	if aliecs.ErrorCode(err) == "InvalidInstanceType.ValueNotSupported" {
		return fail(what, "no such instance type in %s", region)
	}
	if err != nil {
		return fail(what, "%v", err)
	}
	if zone != "" {
		s, ok := stock[zone][instanceType]
		switch {
		case !ok:
			return fail(what, "not offered in zone %s", zone)
		case !s.InStock():
			return fail(what, "no stock in zone %s (%s)", zone, s.Label())
		}
		return pass(what, "%s in zone %s", s.Label(), zone)
	}
	var offered, inStock []string
	for z, types := range stock {
		if s, ok := types[instanceType]; ok {
			offered = append(offered, z)
			if s.InStock() {
				inStock = append(inStock, z)
			}
		}
	}
	sort.Strings(offered)
	sort.Strings(inStock)
	switch {
	case len(offered) == 0:
		return fail(what, "not offered in %s", region)
	case len(inStock) == 0:
		return fail(what, "no stock in any zone of %s (offered in %s)", region, strings.Join(offered, ", "))
	}
	return pass(what, "in stock in %s", strings.Join(inStock, ", "))
}

// find returns the first item that match accepts.
func find[T any](items []T, match func(T) bool) (T, bool) {
	for _, it := range items {
		if match(it) {
			return it, true
		}
	}
	var zero T
	return zero, false
}
