package inventory

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/denverdino/aliyungo/common"
	"github.com/denverdino/aliyungo/ecs"
	"github.com/spf13/cobra"
)

// The row types are what --json prints; field names follow the ECS API's.

type regionRow struct {
	RegionId  string
	LocalName string
}

func regionsCommand(open opener) *cobra.Command {
	return lister[regionRow]{
		use:   "regions",
		short: "List the regions",
		fetch: func(c *client, _ string) ([]regionRow, error) {
			regions, err := c.DescribeRegions()
			if err != nil {
				return nil, fmt.Errorf("describe regions: %w", err)
			}
			rows := make([]regionRow, 0, len(regions))
			for _, r := range regions {
				rows = append(rows, regionRow{RegionId: string(r.RegionId), LocalName: r.LocalName})
			}
			sort.Slice(rows, func(i, j int) bool { return rows[i].RegionId < rows[j].RegionId })
			return rows, nil
		},
		table: func(rows []regionRow) ([]string, [][]string) {
			return []string{"REGION", "NAME"}, cellsOf(rows, func(r regionRow) []string {
				return []string{r.RegionId, r.LocalName}
			})
		},
	}.command(open)
}

type zoneRow struct {
	ZoneId    string
	LocalName string
	// InstanceTypeCount is how many instance types the zone offers.
	InstanceTypeCount int
}

func zonesCommand(open opener) *cobra.Command {
	return lister[zoneRow]{
		use:   "zones",
		short: "List the zones of the region and how many instance types each offers",
		fetch: func(c *client, region string) ([]zoneRow, error) {
			zones, err := c.DescribeZones(common.Region(region))
			if err != nil {
				return nil, fmt.Errorf("describe zones in %s: %w", region, err)
			}
			rows := make([]zoneRow, 0, len(zones))
			for _, z := range zones {
				rows = append(rows, zoneRow{
					ZoneId:            z.ZoneId,
					LocalName:         z.LocalName,
					InstanceTypeCount: len(z.AvailableInstanceTypes.InstanceTypes),
				})
			}
			sort.Slice(rows, func(i, j int) bool { return rows[i].ZoneId < rows[j].ZoneId })
			return rows, nil
		},
		table: func(rows []zoneRow) ([]string, [][]string) {
			return []string{"ZONE", "NAME", "INSTANCE TYPES"}, cellsOf(rows, func(z zoneRow) []string {
				return []string{z.ZoneId, z.LocalName, strconv.Itoa(z.InstanceTypeCount)}
			})
		},
	}.command(open)
}

type instanceTypeRow struct {
	InstanceTypeId     string
	CpuCoreCount       int
	MemorySize         float64 // GiB
	InstanceTypeFamily string
	// Stock maps zone ID to the type's stock there (WithStock,
	// ClosedWithStock, WithoutStock, ...); only with --available, and only
	// zones that offer the type.
	Stock map[string]string `json:",omitempty"`
}

func instanceTypesCommand(open opener) *cobra.Command {
	var family string
	var available bool
	var zones []string // with --available: the zones DescribeAvailableResource reported
	cmd := lister[instanceTypeRow]{
		use:   "instance-types",
		short: "List instance types (with --available, their stock in each zone)",
		fetch: func(c *client, region string) ([]instanceTypeRow, error) {
			types, err := describeInstanceTypes(c, family)
			if err != nil {
				return nil, fmt.Errorf("describe instance types in %s: %w", region, err)
			}
			var rows []instanceTypeRow
			for _, t := range types {
				if family != "" && t.InstanceTypeFamily != family {
					continue
				}
				rows = append(rows, instanceTypeRow{
					InstanceTypeId:     t.InstanceTypeId,
					CpuCoreCount:       t.CpuCoreCount,
					MemorySize:         t.MemorySize,
					InstanceTypeFamily: t.InstanceTypeFamily,
				})
			}
			sort.Slice(rows, func(i, j int) bool {
				a, b := rows[i], rows[j]
				if a.InstanceTypeFamily != b.InstanceTypeFamily {
					return a.InstanceTypeFamily < b.InstanceTypeFamily
				}
				if a.CpuCoreCount != b.CpuCoreCount {
					return a.CpuCoreCount < b.CpuCoreCount
				}
				if a.MemorySize != b.MemorySize {
					return a.MemorySize < b.MemorySize
				}
				return a.InstanceTypeId < b.InstanceTypeId
			})
			if !available {
				return rows, nil
			}
			stock, err := describeStock(c, region, "", "")
			if err != nil {
				return nil, err
			}
			zones = nil
			for zone, types := range stock {
				zones = append(zones, zone)
				for i := range rows {
					if s, ok := types[rows[i].InstanceTypeId]; ok {
						if rows[i].Stock == nil {
							rows[i].Stock = map[string]string{}
						}
						rows[i].Stock[zone] = s.Label()
					}
				}
			}
			sort.Strings(zones)
			return rows, nil
		},
		table: func(rows []instanceTypeRow) ([]string, [][]string) {
			header := append([]string{"TYPE", "VCPU", "MEMORY(GiB)", "FAMILY"}, zones...)
			return header, cellsOf(rows, func(t instanceTypeRow) []string {
				cells := []string{t.InstanceTypeId, strconv.Itoa(t.CpuCoreCount),
					strconv.FormatFloat(t.MemorySize, 'f', -1, 64), t.InstanceTypeFamily}
				for _, z := range zones {
					s, ok := t.Stock[z]
					if !ok {
						s = "-"
					}
					cells = append(cells, s)
				}
				return cells
			})
		},
	}.command(open)
	cmd.Flags().StringVar(&family, "family", "", "only this instance type family, e.g. ecs.g7")
	cmd.Flags().BoolVar(&available, "available", false,
		"add a column per zone with the type's stock there (DescribeAvailableResource); - means not offered")
	return cmd
}

// instanceTypesArgs adds the paging parameters aliyungo's
// DescribeInstanceTypesArgs lacks: ECS answers at most MaxResults types per
// call and a NextToken for the rest.
type instanceTypesArgs struct {
	InstanceTypeFamily string
	MaxResults         int
	NextToken          string
}

type instanceTypesResp struct {
	common.Response
	NextToken     string
	InstanceTypes struct {
		InstanceType []ecs.InstanceTypeItemType
	}
}

// maxInstanceTypePages bounds the paging loop against a server that keeps
// answering a NextToken.
const maxInstanceTypePages = 1000

// describeInstanceTypes reads every page of DescribeInstanceTypes.
func describeInstanceTypes(c *client, family string) ([]ecs.InstanceTypeItemType, error) {
	var all []ecs.InstanceTypeItemType
	args := instanceTypesArgs{InstanceTypeFamily: family, MaxResults: 100}
	for page := 0; ; page++ {
		if page == maxInstanceTypePages {
			return nil, fmt.Errorf("more than %d pages (next token %q)", maxInstanceTypePages, args.NextToken)
		}
		var resp instanceTypesResp
		if err := c.Invoke("DescribeInstanceTypes", &args, &resp); err != nil {
			return nil, err
		}
		all = append(all, resp.InstanceTypes.InstanceType...)
		if resp.NextToken == "" {
			return all, nil
		}
		if resp.NextToken == args.NextToken {
			return nil, fmt.Errorf("next token %q repeated", resp.NextToken)
		}
		args.NextToken = resp.NextToken
	}
}

type imageRow struct {
	ImageId         string
	ImageName       string
	OSName          string
	OSType          string
	Architecture    string
	Size            int // GiB
	Status          string
	ImageOwnerAlias string
}

// imageOwners are the values DescribeImages takes as ImageOwnerAlias.
var imageOwners = []string{"system", "self", "others", "marketplace"}

func imagesCommand(open opener) *cobra.Command {
	var owner, name string
	cmd := lister[imageRow]{
		use:   "images",
		short: "List images (--owner system|self|others|marketplace, --name filter)",
		fetch: func(c *client, region string) ([]imageRow, error) {
			if owner != "" && !slices.Contains(imageOwners, owner) {
				return nil, fmt.Errorf("invalid --owner %q: want one of %s", owner, strings.Join(imageOwners, ", "))
			}
			images, err := allPages(func(p common.Pagination) ([]ecs.ImageType, *common.PaginationResult, error) {
				return c.DescribeImages(&ecs.DescribeImagesArgs{
					RegionId:        common.Region(region),
					ImageOwnerAlias: ecs.ImageOwnerAlias(owner),
					Pagination:      p,
				})
			})
			if err != nil {
				return nil, fmt.Errorf("describe images in %s: %w", region, err)
			}
			var rows []imageRow
			for _, im := range images {
				if name != "" && !strings.Contains(strings.ToLower(im.ImageName), strings.ToLower(name)) {
					continue
				}
				rows = append(rows, imageRow{
					ImageId:         im.ImageId,
					ImageName:       im.ImageName,
					OSName:          im.OSName,
					OSType:          im.OSType,
					Architecture:    im.Architecture,
					Size:            im.Size,
					Status:          string(im.Status),
					ImageOwnerAlias: im.ImageOwnerAlias,
				})
			}
			sort.Slice(rows, func(i, j int) bool {
				if rows[i].ImageName != rows[j].ImageName {
					return rows[i].ImageName < rows[j].ImageName
				}
				return rows[i].ImageId < rows[j].ImageId
			})
			return rows, nil
		},
		table: func(rows []imageRow) ([]string, [][]string) {
			return []string{"IMAGE", "NAME", "OS", "SIZE(GiB)", "STATUS"}, cellsOf(rows, func(im imageRow) []string {
				return []string{im.ImageId, im.ImageName, im.OSName, strconv.Itoa(im.Size), im.Status}
			})
		},
	}.command(open)
	cmd.Flags().StringVar(&owner, "owner", "",
		"image owner: system, self, others or marketplace (default: system, self and others)")
	cmd.Flags().StringVar(&name, "name", "", "only images whose name contains this text (case-insensitive)")
	return cmd
}

type securityGroupRow struct {
	SecurityGroupId   string
	SecurityGroupName string
	VpcId             string
}

func securityGroupsCommand(open opener) *cobra.Command {
	return lister[securityGroupRow]{
		use:   "security-groups",
		short: "List security groups",
		fetch: func(c *client, region string) ([]securityGroupRow, error) {
			groups, err := allPages(func(p common.Pagination) ([]ecs.SecurityGroupItemType, *common.PaginationResult, error) {
				return c.DescribeSecurityGroups(&ecs.DescribeSecurityGroupsArgs{RegionId: common.Region(region), Pagination: p})
			})
			if err != nil {
				return nil, fmt.Errorf("describe security groups in %s: %w", region, err)
			}
			rows := make([]securityGroupRow, 0, len(groups))
			for _, g := range groups {
				rows = append(rows, securityGroupRow{SecurityGroupId: g.SecurityGroupId, SecurityGroupName: g.SecurityGroupName, VpcId: g.VpcId})
			}
			sort.Slice(rows, func(i, j int) bool { return rows[i].SecurityGroupId < rows[j].SecurityGroupId })
			return rows, nil
		},
		table: func(rows []securityGroupRow) ([]string, [][]string) {
			return []string{"SECURITY GROUP", "NAME", "VPC"}, cellsOf(rows, func(g securityGroupRow) []string {
				return []string{g.SecurityGroupId, g.SecurityGroupName, g.VpcId}
			})
		},
	}.command(open)
}

type vswitchRow struct {
	VSwitchId               string
	VSwitchName             string
	ZoneId                  string
	CidrBlock               string
	AvailableIpAddressCount int
	VpcId                   string
}

func vswitchesCommand(open opener) *cobra.Command {
	return lister[vswitchRow]{
		use:   "vswitches",
		short: "List vswitches with their zone, CIDR and free IP addresses",
		fetch: func(c *client, region string) ([]vswitchRow, error) {
			vswitches, err := allPages(func(p common.Pagination) ([]ecs.VSwitchSetType, *common.PaginationResult, error) {
				return c.DescribeVSwitches(&ecs.DescribeVSwitchesArgs{RegionId: common.Region(region), Pagination: p})
			})
			if err != nil {
				return nil, fmt.Errorf("describe vswitches in %s: %w", region, err)
			}
			rows := make([]vswitchRow, 0, len(vswitches))
			for _, v := range vswitches {
				rows = append(rows, vswitchRow{
					VSwitchId:               v.VSwitchId,
					VSwitchName:             v.VSwitchName,
					ZoneId:                  v.ZoneId,
					CidrBlock:               v.CidrBlock,
					AvailableIpAddressCount: v.AvailableIpAddressCount,
					VpcId:                   v.VpcId,
				})
			}
			sort.Slice(rows, func(i, j int) bool {
				if rows[i].ZoneId != rows[j].ZoneId {
					return rows[i].ZoneId < rows[j].ZoneId
				}
				return rows[i].VSwitchId < rows[j].VSwitchId
			})
			return rows, nil
		},
		table: func(rows []vswitchRow) ([]string, [][]string) {
			return []string{"VSWITCH", "ZONE", "CIDR", "FREE IPS", "VPC"}, cellsOf(rows, func(v vswitchRow) []string {
				return []string{v.VSwitchId, v.ZoneId, v.CidrBlock, strconv.Itoa(v.AvailableIpAddressCount), v.VpcId}
			})
		},
	}.command(open)
}

type keyPairRow struct {
	KeyPairName        string
	KeyPairFingerPrint string
}

func keyPairsCommand(open opener) *cobra.Command {
	return lister[keyPairRow]{
		use:   "key-pairs",
		short: "List SSH key pairs",
		fetch: func(c *client, region string) ([]keyPairRow, error) {
			pairs, err := allPages(func(p common.Pagination) ([]ecs.KeyPairItemType, *common.PaginationResult, error) {
				return c.DescribeKeyPairs(&ecs.DescribeKeyPairsArgs{RegionId: common.Region(region), Pagination: p})
			})
			if err != nil {
				return nil, fmt.Errorf("describe key pairs in %s: %w", region, err)
			}
			rows := make([]keyPairRow, 0, len(pairs))
			for _, k := range pairs {
				rows = append(rows, keyPairRow{KeyPairName: k.KeyPairName, KeyPairFingerPrint: k.KeyPairFingerPrint})
			}
			sort.Slice(rows, func(i, j int) bool { return rows[i].KeyPairName < rows[j].KeyPairName })
			return rows, nil
		},
		table: func(rows []keyPairRow) ([]string, [][]string) {
			return []string{"KEY PAIR", "FINGERPRINT"}, cellsOf(rows, func(k keyPairRow) []string {
				return []string{k.KeyPairName, k.KeyPairFingerPrint}
			})
		},
	}.command(open)
}

func cellsOf[T any](rows []T, cells func(T) []string) [][]string {
	out := make([][]string, 0, len(rows))
	for _, r := range rows {
		out = append(out, cells(r))
	}
	return out
}
