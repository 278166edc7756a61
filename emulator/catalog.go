package emulator

import (
	"fmt"
	"net/http"
	"net/netip"

	"infrakit.aliyun/emulator/internal/state"
)

// Catalog is the seeded, read-only world the emulator serves: regions, zones,
// instance types, system images and the network (VPCs, vswitches, security
// groups, key pairs). Use DefaultCatalog and modify it, or build your own.
type Catalog struct {
	Regions        []Region
	Zones          []Zone
	InstanceTypes  []InstanceType
	Images         []Image // system images, offered in every region
	VPCs           []VPC
	VSwitches      []VSwitch
	SecurityGroups []SecurityGroup
	KeyPairs       []KeyPair
	// DiskCategories lists the disk categories every zone offers.
	DiskCategories []string
}

// Region is an ECS region.
type Region struct {
	RegionId  string
	LocalName string
}

// Zone is an availability zone. InstanceTypes lists the types on sale there;
// empty means all catalogue types.
type Zone struct {
	ZoneId        string
	RegionId      string
	LocalName     string
	InstanceTypes []string
}

// InstanceType is an instance type. MemorySize is in GiB, as DescribeInstanceTypes reports it.
type InstanceType struct {
	InstanceTypeId     string
	InstanceTypeFamily string
	CpuCoreCount       int
	MemorySize         float64
	GPUAmount          int
	EniQuantity        int
}

// Image is a system image. Size is the minimum system disk size in GiB.
type Image struct {
	ImageId      string
	ImageName    string
	OSName       string
	OSType       string // linux | windows
	Platform     string
	Architecture string
	Size         int
}

// VPC is a virtual private cloud.
type VPC struct {
	VpcId     string
	RegionId  string
	VpcName   string
	CidrBlock string
}

// VSwitch is a subnet of a VPC in one zone; private IPs come from CidrBlock.
type VSwitch struct {
	VSwitchId   string
	VpcId       string
	ZoneId      string
	VSwitchName string
	CidrBlock   string
	IsDefault   bool
}

// SecurityGroup is a VPC security group.
type SecurityGroup struct {
	SecurityGroupId   string
	RegionId          string
	VpcId             string
	SecurityGroupName string
}

// KeyPair is an SSH key pair known to a region.
type KeyPair struct {
	KeyPairName        string
	RegionId           string
	KeyPairFingerPrint string
}

// Well-known IDs of DefaultCatalog. They look like real IDs (region prefix
// bp1 = cn-hangzhou) but are stable, so specs and tests can name them.
const (
	DefaultVpcID           = "vpc-bp1emulator0000000001"
	DefaultSecurityGroupID = "sg-bp1emulator0000000001"
	DefaultVSwitchH        = "vsw-bp1emulator000000000h" // cn-hangzhou-h 172.16.0.0/20
	DefaultVSwitchI        = "vsw-bp1emulator000000000i" // cn-hangzhou-i 172.16.16.0/20
	DefaultVSwitchJ        = "vsw-bp1emulator000000000j" // cn-hangzhou-j 172.16.32.0/20
	DefaultVSwitchK        = "vsw-bp1emulator000000000k" // cn-hangzhou-k 172.16.48.0/20
	DefaultImageID         = "ubuntu_22_04_x64_20G_alibase_20240101.vhd"
	DefaultInstanceType    = "ecs.g6.large"
	DefaultZone            = "cn-hangzhou-h"
	DefaultKeyPairName     = "emulator-key"
)

// DefaultCatalog returns a fresh copy of the default world. cn-hangzhou has
// zones h, i, j, k, one VPC (172.16.0.0/12) with a /20 vswitch per zone and
// one security group; other regions have zones but no network. Zone
// cn-hangzhou-k does not sell ecs.g5.large (an older family), so specs can
// exercise InvalidInstanceType.ZoneNotSupported.
func DefaultCatalog() *Catalog {
	c := &Catalog{
		Regions: []Region{
			{"cn-hangzhou", "华东1（杭州）"},
			{"cn-shanghai", "华东2（上海）"},
			{"cn-beijing", "华北2（北京）"},
			{"cn-shenzhen", "华南1（深圳）"},
			{"cn-hongkong", "中国香港"},
			{"ap-southeast-1", "新加坡"},
			{"us-west-1", "美国（硅谷）"},
			{"eu-central-1", "德国（法兰克福）"},
		},
		InstanceTypes: []InstanceType{
			{"ecs.g6.large", "ecs.g6", 2, 8, 0, 2},
			{"ecs.g6.xlarge", "ecs.g6", 4, 16, 0, 3},
			{"ecs.g6.2xlarge", "ecs.g6", 8, 32, 0, 4},
			{"ecs.g7.large", "ecs.g7", 2, 8, 0, 3},
			{"ecs.g5.large", "ecs.g5", 2, 8, 0, 2},
			{"ecs.c6.large", "ecs.c6", 2, 4, 0, 2},
			{"ecs.c6.xlarge", "ecs.c6", 4, 8, 0, 3},
			{"ecs.r6.large", "ecs.r6", 2, 16, 0, 2},
			{"ecs.t5-lc1m1.small", "ecs.t5", 1, 1, 0, 1},
			{"ecs.t5-lc1m2.small", "ecs.t5", 1, 2, 0, 1},
			{"ecs.gn6i-c4g1.xlarge", "ecs.gn6i", 4, 15, 1, 2},
		},
		Images: []Image{
			{DefaultImageID, DefaultImageID, "Ubuntu  22.04 64位", "linux", "Ubuntu", "x86_64", 20},
			{"ubuntu_20_04_x64_20G_alibase_20240101.vhd", "ubuntu_20_04_x64_20G_alibase_20240101.vhd", "Ubuntu  20.04 64位", "linux", "Ubuntu", "x86_64", 20},
			{"centos_7_9_x64_20G_alibase_20240101.vhd", "centos_7_9_x64_20G_alibase_20240101.vhd", "CentOS  7.9 64位", "linux", "CentOS", "x86_64", 20},
			{"aliyun_3_x64_20G_alibase_20240101.vhd", "aliyun_3_x64_20G_alibase_20240101.vhd", "Alibaba Cloud Linux  3.2104 LTS 64位", "linux", "Aliyun", "x86_64", 20},
			{"debian_12_x64_20G_alibase_20240101.vhd", "debian_12_x64_20G_alibase_20240101.vhd", "Debian  12 64位", "linux", "Debian", "x86_64", 20},
			{"win2022_21H2_x64_dtc_en-us_40G_alibase_20240101.vhd", "win2022_21H2_x64_dtc_en-us_40G_alibase_20240101.vhd", "Windows Server  2022 数据中心版 64位英文版", "windows", "Windows Server 2022", "x86_64", 40},
		},
		VPCs: []VPC{{DefaultVpcID, "cn-hangzhou", "emulator-default-vpc", "172.16.0.0/12"}},
		VSwitches: []VSwitch{
			{DefaultVSwitchH, DefaultVpcID, "cn-hangzhou-h", "emulator-h", "172.16.0.0/20", true},
			{DefaultVSwitchI, DefaultVpcID, "cn-hangzhou-i", "emulator-i", "172.16.16.0/20", true},
			{DefaultVSwitchJ, DefaultVpcID, "cn-hangzhou-j", "emulator-j", "172.16.32.0/20", true},
			{DefaultVSwitchK, DefaultVpcID, "cn-hangzhou-k", "emulator-k", "172.16.48.0/20", true},
		},
		SecurityGroups: []SecurityGroup{{DefaultSecurityGroupID, "cn-hangzhou", DefaultVpcID, "emulator-default"}},
		KeyPairs: []KeyPair{
			{DefaultKeyPairName, "cn-hangzhou", "5f:3c:1e:7a:aa:01:22:33:44:55:66:77:88:99:aa:bb"},
			{"infrakit", "cn-hangzhou", "9a:8b:7c:6d:5e:4f:30:21:12:03:f4:e5:d6:c7:b8:a9"},
		},
		DiskCategories: []string{"cloud_essd", "cloud_ssd", "cloud_efficiency", "cloud_auto"},
	}
	zones := map[string][]string{
		"cn-hangzhou": {"h", "i", "j", "k"}, "cn-shanghai": {"e", "f", "g"}, "cn-beijing": {"g", "h", "i"},
		"cn-shenzhen": {"d", "e"}, "cn-hongkong": {"b", "c"}, "ap-southeast-1": {"a", "b", "c"},
		"us-west-1": {"a", "b"}, "eu-central-1": {"a", "b"},
	}
	for _, r := range c.Regions {
		for _, z := range zones[r.RegionId] {
			id := r.RegionId + "-" + z
			zone := Zone{ZoneId: id, RegionId: r.RegionId, LocalName: fmt.Sprintf("%s 可用区 %s", r.LocalName, z)}
			if id == "cn-hangzhou-k" {
				for _, t := range c.InstanceTypes {
					if t.InstanceTypeId != "ecs.g5.large" {
						zone.InstanceTypes = append(zone.InstanceTypes, t.InstanceTypeId)
					}
				}
			}
			c.Zones = append(c.Zones, zone)
		}
	}
	return c
}

// catalog is the indexed, validated form of a Catalog.
type catalog struct {
	*Catalog
	regions   map[string]*Region
	zones     map[string]*Zone
	zoneTypes map[string]map[string]bool
	types     map[string]*InstanceType
	images    map[string]*Image
	vpcs      map[string]*VPC
	vswitches map[string]*VSwitch
	prefixes  map[string]netip.Prefix
	sgs       map[string]*SecurityGroup
	keyPairs  map[string]*KeyPair // region + "/" + name
}

func indexCatalog(c *Catalog) (*catalog, error) {
	x := &catalog{Catalog: c, zones: map[string]*Zone{}, zoneTypes: map[string]map[string]bool{},
		vswitches: map[string]*VSwitch{}, prefixes: map[string]netip.Prefix{},
		regions:  indexBy(c.Regions, func(r *Region) string { return r.RegionId }),
		types:    indexBy(c.InstanceTypes, func(t *InstanceType) string { return t.InstanceTypeId }),
		images:   indexBy(c.Images, func(im *Image) string { return im.ImageId }),
		vpcs:     indexBy(c.VPCs, func(v *VPC) string { return v.VpcId }),
		sgs:      indexBy(c.SecurityGroups, func(g *SecurityGroup) string { return g.SecurityGroupId }),
		keyPairs: indexBy(c.KeyPairs, func(k *KeyPair) string { return k.RegionId + "/" + k.KeyPairName }),
	}
	for i := range c.Zones {
		z := &c.Zones[i]
		if x.regions[z.RegionId] == nil {
			return nil, fmt.Errorf("emulator: catalog zone %s: unknown region %s", z.ZoneId, z.RegionId)
		}
		x.zones[z.ZoneId] = z
		m := map[string]bool{}
		for _, t := range z.InstanceTypes {
			m[t] = true
		}
		if len(m) == 0 {
			for t := range x.types {
				m[t] = true
			}
		}
		x.zoneTypes[z.ZoneId] = m
	}
	for i := range c.VSwitches {
		v := &c.VSwitches[i]
		if x.zones[v.ZoneId] == nil || x.vpcs[v.VpcId] == nil {
			return nil, fmt.Errorf("emulator: catalog vswitch %s: unknown zone or vpc", v.VSwitchId)
		}
		p, err := netip.ParsePrefix(v.CidrBlock)
		if err != nil || !p.Addr().Is4() || p.Bits() > 29 {
			return nil, fmt.Errorf("emulator: catalog vswitch %s: bad IPv4 CidrBlock %q", v.VSwitchId, v.CidrBlock)
		}
		x.vswitches[v.VSwitchId] = v
		x.prefixes[v.VSwitchId] = p.Masked()
	}
	return x, nil
}

// indexBy maps key(&xs[i]) to &xs[i]; a later duplicate key wins.
func indexBy[T any](xs []T, key func(*T) string) map[string]*T {
	m := make(map[string]*T, len(xs))
	for i := range xs {
		m[key(&xs[i])] = &xs[i]
	}
	return m
}

func (c *catalog) vswitchRegion(v *VSwitch) string { return c.zones[v.ZoneId].RegionId }

// checkZone reports InvalidZoneId.NotFound unless zone is in region.
func (c *catalog) checkZone(zone, region string) *apiError {
	if z := c.zones[zone]; z == nil || z.RegionId != region {
		return newErr(http.StatusNotFound, "InvalidZoneId.NotFound", "The specified zone %q does not exist in region %s.", zone, region)
	}
	return nil
}

// defaultVSwitch picks the vswitch used when RunInstances names only a zone
// (or nothing): the zone's default vswitch, like the default VPC of real ECS.
func (c *catalog) defaultVSwitch(region, zone string) *VSwitch {
	for i := range c.VSwitches {
		v := &c.VSwitches[i]
		if c.vswitchRegion(v) != region || (zone != "" && v.ZoneId != zone) {
			continue
		}
		if v.IsDefault || zone != "" {
			return v
		}
	}
	return nil
}

// systemImageOS describes a catalogue (system) image for the state, which
// copies it into the custom images made from it.
func (s *Server) systemImageOS(id string) (state.ImageOS, bool) {
	im := s.cat.images[id]
	if im == nil {
		return state.ImageOS{}, false
	}
	return state.ImageOS{OSName: im.OSName, OSType: im.OSType, Platform: im.Platform, Architecture: im.Architecture}, true
}
