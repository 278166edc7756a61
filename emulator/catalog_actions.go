package emulator

import (
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"infrakit.aliyun/emulator/internal/state"
)

type regionsResp struct {
	baseResp
	Regions struct {
		Region []wireRegion
	}
}

type wireRegion struct {
	RegionId       string
	LocalName      string
	RegionEndpoint string
	Status         string
}

func actDescribeRegions(s *Server, c *call) (any, *apiError) {
	r := &regionsResp{baseResp: baseResp{c.requestID}}
	for _, x := range s.cat.Regions {
		r.Regions.Region = append(r.Regions.Region, wireRegion{x.RegionId, x.LocalName, "ecs." + x.RegionId + ".aliyuncs.com", "available"})
	}
	return r, nil
}

type zonesResp struct {
	baseResp
	Zones struct {
		Zone []wireZone
	}
}

type wireZone struct {
	ZoneId                    string
	LocalName                 string
	AvailableResourceCreation struct{ ResourceTypes []string }
	AvailableDiskCategories   struct{ DiskCategories []string }
	AvailableVolumeCategories struct{ VolumeCategories []string }
	AvailableInstanceTypes    struct{ InstanceTypes []string }
	AvailableResources        struct {
		ResourcesInfo []wireResourcesInfo
	}
}

type wireResourcesInfo struct {
	IoOptimized          bool
	InstanceTypes        map[string][]string
	InstanceTypeFamilies map[string][]string
	SystemDiskCategories map[string][]string
	DataDiskCategories   map[string][]string
	NetworkTypes         map[string][]string
}

func (s *Server) zoneTypeList(zone string) []string {
	var out []string
	for _, t := range s.cat.InstanceTypes {
		if s.cat.zoneTypes[zone][t.InstanceTypeId] {
			out = append(out, t.InstanceTypeId)
		}
	}
	return out
}

func actDescribeZones(s *Server, c *call) (any, *apiError) {
	region, err := c.p.required("RegionId")
	if err != nil {
		return nil, err
	}
	r := &zonesResp{baseResp: baseResp{c.requestID}}
	r.Zones.Zone = []wireZone{}
	for _, z := range s.cat.Zones {
		if z.RegionId != region {
			continue
		}
		w := wireZone{ZoneId: z.ZoneId, LocalName: z.LocalName}
		w.AvailableResourceCreation.ResourceTypes = []string{"Instance", "Disk", "VSwitch", "IoOptimized"}
		w.AvailableDiskCategories.DiskCategories = append([]string{}, s.cat.DiskCategories...)
		w.AvailableVolumeCategories.VolumeCategories = []string{}
		types := s.zoneTypeList(z.ZoneId)
		w.AvailableInstanceTypes.InstanceTypes = types
		fams := map[string]bool{}
		var famList []string
		for _, t := range types {
			if f := s.cat.types[t].InstanceTypeFamily; !fams[f] {
				fams[f] = true
				famList = append(famList, f)
			}
		}
		w.AvailableResources.ResourcesInfo = []wireResourcesInfo{{
			IoOptimized:          true,
			InstanceTypes:        map[string][]string{"supportedInstanceType": types},
			InstanceTypeFamilies: map[string][]string{"supportedInstanceTypeFamily": famList},
			SystemDiskCategories: map[string][]string{"supportedSystemDiskCategory": s.cat.DiskCategories},
			DataDiskCategories:   map[string][]string{"supportedDataDiskCategory": s.cat.DiskCategories},
			NetworkTypes:         map[string][]string{"supportedNetworkCategory": {"vpc"}},
		}}
		r.Zones.Zone = append(r.Zones.Zone, w)
	}
	return r, nil
}

type instanceTypesResp struct {
	baseResp
	NextToken     string
	InstanceTypes struct {
		InstanceType []wireInstanceType
	}
}

type wireInstanceType struct {
	InstanceTypeId              string
	InstanceTypeFamily          string
	CpuCoreCount                int
	MemorySize                  float64
	GPUAmount                   int
	GPUSpec                     string
	EniQuantity                 int
	EniPrivateIpAddressQuantity int
	InstanceFamilyLevel         string
	CpuArchitecture             string
}

func actDescribeInstanceTypes(s *Server, c *call) (any, *apiError) {
	want := c.p.list("InstanceTypes")
	family := c.p.get("InstanceTypeFamily")
	// Real ECS pages this call: MaxResults 1..1600 (default 100) and an
	// opaque NextToken (here: the catalogue index to resume at).
	max, aerr := c.p.intIn("MaxResults", 100, 1, 1600)
	if aerr != nil {
		return nil, aerr
	}
	start := 0
	if tok := c.p.get("NextToken"); tok != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(tok, "it-"))
		if err != nil || !strings.HasPrefix(tok, "it-") || n < 0 || n > len(s.cat.InstanceTypes) {
			return nil, errInvalid("NextToken", "not a token this call returned")
		}
		start = n
	}
	r := &instanceTypesResp{baseResp: baseResp{c.requestID}}
	r.InstanceTypes.InstanceType = []wireInstanceType{}
	for i := start; i < len(s.cat.InstanceTypes); i++ {
		t := s.cat.InstanceTypes[i]
		if !inFilter(want, t.InstanceTypeId) || (family != "" && t.InstanceTypeFamily != family) {
			continue
		}
		if len(r.InstanceTypes.InstanceType) == max {
			r.NextToken = "it-" + strconv.Itoa(i)
			break
		}
		gpu := ""
		if t.GPUAmount > 0 {
			gpu = "NVIDIA T4"
		}
		r.InstanceTypes.InstanceType = append(r.InstanceTypes.InstanceType, wireInstanceType{
			t.InstanceTypeId, t.InstanceTypeFamily, t.CpuCoreCount, t.MemorySize, t.GPUAmount, gpu,
			t.EniQuantity, 6, "EnterpriseLevel", "X86"})
	}
	return r, nil
}

type availableResourceResp struct {
	baseResp
	AvailableZones struct {
		AvailableZone []wireAvailableZone
	}
}

type wireAvailableZone struct {
	RegionId           string
	ZoneId             string
	Status             string
	StatusCategory     string
	AvailableResources struct {
		AvailableResource []wireAvailableResource
	}
}

type wireAvailableResource struct {
	Type               string
	SupportedResources struct {
		SupportedResource []wireSupportedResource
	}
}

type wireSupportedResource struct {
	Value          string
	Status         string
	StatusCategory string
	Min            int    `json:",omitempty"`
	Max            int    `json:",omitempty"`
	Unit           string `json:",omitempty"`
}

func stock(ok bool) (string, string) {
	if ok {
		return "Available", "WithStock"
	}
	return "SoldOut", "WithoutStock"
}

// Sale states of a type in a zone, from the NotOnSale and NoStock faults.
const (
	onSale    = iota // Available / WithStock
	noStock          // SoldOut / WithoutStock: sold out, will be replenished
	notOnSale        // SoldOut / ClosedWithoutStock: sold out, no longer replenished
)

func saleStatus(state int) (string, string) {
	switch state {
	case notOnSale:
		return "SoldOut", "ClosedWithoutStock"
	case noStock:
		return stock(false)
	}
	return stock(true)
}

func (s *Server) saleState(instanceType, zone string, spot bool) int {
	switch {
	case s.faults.notOnSale(instanceType, zone, spot):
		return notOnSale
	case s.faults.noStock(instanceType, zone, spot):
		return noStock
	}
	return onSale
}

func actDescribeAvailableResource(s *Server, c *call) (any, *apiError) {
	region, err := c.p.required("RegionId")
	if err != nil {
		return nil, err
	}
	dest, err := c.p.required("DestinationResource")
	if err != nil {
		return nil, err
	}
	switch dest {
	case "Zone", "InstanceType", "SystemDisk", "DataDisk":
	default:
		// BUG(emulator): only Zone, InstanceType, SystemDisk and DataDisk destinations are implemented.
		return nil, errInvalid("DestinationResource", "Zone, InstanceType, SystemDisk or DataDisk")
	}
	zoneF, typeF := c.p.get("ZoneId"), c.p.get("InstanceType")
	spot := false
	switch st := c.p.get("SpotStrategy"); st {
	case "", "NoSpot":
	case "SpotWithPriceLimit", "SpotAsPriceGo":
		spot = true
	default:
		return nil, errInvalid("SpotStrategy", "NoSpot, SpotWithPriceLimit or SpotAsPriceGo")
	}
	if typeF != "" && s.cat.types[typeF] == nil {
		return nil, errInstanceTypeNotSupported(typeF)
	}
	r := &availableResourceResp{baseResp: baseResp{c.requestID}}
	r.AvailableZones.AvailableZone = []wireAvailableZone{}
	for _, z := range s.cat.Zones {
		if z.RegionId != region || (zoneF != "" && z.ZoneId != zoneF) {
			continue
		}
		if typeF != "" && !s.cat.zoneTypes[z.ZoneId][typeF] {
			continue
		}
		types := s.zoneTypeList(z.ZoneId)
		if typeF != "" {
			types = []string{typeF}
		}
		// The zone is Available if any type is, and ClosedWithoutStock if
		// none is still on sale.
		// BUG(emulator): a type the NotOnSale fault closes stays listed by
		// DescribeAvailableResource (SoldOut, ClosedWithoutStock) and by
		// DescribeZones; real ECS may leave a type it no longer sells in a
		// zone out of these answers altogether.
		zoneState := noStock // a zone with no types at all
		if len(types) > 0 {
			zoneState = notOnSale
		}
		var sup []wireSupportedResource
		for _, t := range types {
			state := s.saleState(t, z.ZoneId, spot)
			zoneState = min(zoneState, state)
			st, cat := saleStatus(state)
			sup = append(sup, wireSupportedResource{Value: t, Status: st, StatusCategory: cat})
		}
		any := zoneState == onSale
		az := wireAvailableZone{RegionId: region, ZoneId: z.ZoneId}
		az.Status, az.StatusCategory = saleStatus(zoneState)
		res := wireAvailableResource{Type: dest}
		switch dest {
		case "Zone":
			res.SupportedResources.SupportedResource = []wireSupportedResource{{Value: z.ZoneId, Status: az.Status, StatusCategory: az.StatusCategory}}
		case "InstanceType":
			res.SupportedResources.SupportedResource = sup
		default:
			if !any {
				continue
			}
			for _, cat := range s.cat.DiskCategories {
				res.SupportedResources.SupportedResource = append(res.SupportedResources.SupportedResource,
					wireSupportedResource{Value: cat, Status: "Available", StatusCategory: "WithStock", Min: 20, Max: 32768, Unit: "GiB"})
			}
		}
		az.AvailableResources.AvailableResource = []wireAvailableResource{res}
		r.AvailableZones.AvailableZone = append(r.AvailableZones.AvailableZone, az)
	}
	return r, nil
}

// --- images ---------------------------------------------------------------

type imagesResp struct {
	baseResp
	RegionId string
	page
	Images struct {
		Image []wireImage
	}
}

type wireImage struct {
	ImageId              string
	ImageName            string
	Description          string
	ImageVersion         string
	OSName               string
	OSNameEn             string
	OSType               string
	Platform             string
	Architecture         string
	Size                 int
	ImageOwnerAlias      string
	Status               string
	Progress             string
	Usage                string
	CreationTime         string
	IsSupportIoOptimized bool
	IsSupportCloudinit   bool
	IsSelfShared         string
	IsCopied             bool
	IsSubscribed         bool
	DiskDeviceMappings   struct {
		DiskDeviceMapping []wireDiskMapping
	}
	Tags wireTags
}

type wireDiskMapping struct {
	Device     string
	Size       string
	SnapshotId string
	Type       string
}

// osNameEn is the English form of an image's OSName: ECS's OSName is the
// Chinese-console name ("Ubuntu  22.04 64位"), OSNameEn the English one
// ("Ubuntu  22.04 64 bit").
func osNameEn(name string) string {
	return strings.TrimSpace(osNameEnglish.Replace(name))
}

var osNameEnglish = strings.NewReplacer("64位", "64 bit", "32位", "32 bit", "数据中心版", "Data Center Edition",
	"英文版", " English Edition", "中文版", " Chinese Edition")

// systemImageEpoch is the fixed CreationTime of catalogue images.
var systemImageEpoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

func (s *Server) customImageWire(im *customImage, now time.Time, used bool) wireImage {
	w := wireImage{ImageId: im.ID, ImageName: im.Name, Description: im.Description, OSName: im.OSName, OSNameEn: osNameEn(im.OSName),
		OSType: im.OSType, Platform: im.Platform, Architecture: im.Architecture, Size: im.Size, ImageOwnerAlias: "self",
		Status: im.Status(now), Progress: "100%", Usage: "none", CreationTime: fmtTime(im.Created),
		IsSupportIoOptimized: true, IsSupportCloudinit: true, Tags: toWireTags(im.Tags)}
	if w.Status == "Creating" {
		w.Progress = "50%"
	}
	if used {
		w.Usage = "instance"
	}
	w.DiskDeviceMappings.DiskDeviceMapping = []wireDiskMapping{{Device: "/dev/xvda", Size: strconv.Itoa(im.Size), SnapshotId: im.SourceSnapshot, Type: "system"}}
	return w
}

func actDescribeImages(s *Server, c *call) (any, *apiError) {
	region, pg, err := regionPageArgs(c.p, 100)
	if err != nil {
		return nil, err
	}
	var ids []string
	if v := c.p.get("ImageId"); v != "" {
		ids = strings.Split(v, ",")
	}
	name, owner, osType, arch := c.p.get("ImageName"), c.p.get("ImageOwnerAlias"), c.p.get("OSType"), c.p.get("Architecture")
	statuses := []string{"Available"}
	if v := c.p.get("Status"); v != "" {
		statuses = strings.Split(v, ",")
	}
	tags, err := parseTagFilter(c.p)
	if err != nil {
		return nil, err
	}
	unlock := s.st.Lock(c.now)
	defer unlock()
	var all []wireImage
	if (owner == "" || owner == "system") && len(tags) == 0 { // system images carry no tags
		for _, im := range s.cat.Images {
			w := wireImage{ImageId: im.ImageId, ImageName: im.ImageName, OSName: im.OSName, OSNameEn: osNameEn(im.OSName),
				OSType: im.OSType, Platform: im.Platform, Architecture: im.Architecture, Size: im.Size,
				ImageOwnerAlias: "system", Status: "Available", Progress: "100%", Usage: "instance",
				CreationTime: fmtTime(systemImageEpoch), IsSupportIoOptimized: true, IsSupportCloudinit: true, ImageVersion: "20240101"}
			w.DiskDeviceMappings.DiskDeviceMapping = []wireDiskMapping{}
			w.Tags.Tag = []wireTag{}
			all = append(all, w)
		}
	}
	if owner == "" || owner == "self" {
		var custom []*customImage
		for _, im := range s.st.ImgOrder {
			if !im.Deleted && im.RegionID == region && state.MatchTags(im.Tags, tags) {
				custom = append(custom, im)
			}
		}
		// Usage needs a walk over the instances; only when a custom image
		// is listed (system images are always "instance").
		used := map[string]bool{}
		if len(custom) > 0 {
			for _, in := range s.st.Order {
				if !in.Released() {
					used[in.ImageID] = true
				}
			}
		}
		for _, im := range custom {
			all = append(all, s.customImageWire(im, c.now, used[im.ID]))
		}
	}
	r := &imagesResp{baseResp: baseResp{c.requestID}, RegionId: region, page: pg}
	r.Images.Image = []wireImage{}
	for _, w := range all {
		if !inFilter(ids, w.ImageId) || (name != "" && !matchName(name, w.ImageName)) ||
			(osType != "" && w.OSType != osType) || (arch != "" && w.Architecture != arch) || !slices.Contains(statuses, w.Status) {
			continue
		}
		if r.take() {
			r.Images.Image = append(r.Images.Image, w)
		}
	}
	return r, nil
}

type createImageResp struct {
	baseResp
	ImageId string
}

func actCreateImage(s *Server, c *call) (any, *apiError) {
	region, err := c.p.required("RegionId")
	if err != nil {
		return nil, err
	}
	iid, sid := c.p.get("InstanceId"), c.p.get("SnapshotId")
	if iid == "" && sid == "" {
		return nil, errMissing("InstanceId")
	}
	name := c.p.get("ImageName")
	if name != "" && (len(name) < 2 || len(name) > 128 || strings.HasPrefix(name, "aliyun") || strings.HasPrefix(name, "acs:") ||
		strings.HasPrefix(name, "http://") || strings.HasPrefix(name, "https://")) {
		return nil, errInvalid("ImageName", "2 to 128 characters, not starting with aliyun, acs:, http:// or https://")
	}
	tags, err := parseTags(c.p)
	if err != nil {
		return nil, err
	}
	ids, err := s.createOnce(c, func() ([]string, *apiError) {
		id, err := found(s.st.CreateImage(&state.ImageSpec{Region: region, Name: name, Description: c.p.get("Description"),
			FromInstance: iid, FromSnapshot: sid, Tags: tags}, s.systemImageOS, c.now.Add(ImageCreateTime), c.now))
		if err != nil {
			return nil, err
		}
		return []string{id}, nil
	})
	if err != nil {
		return nil, err
	}
	return &createImageResp{baseResp{c.requestID}, ids[0]}, nil
}

func actDeleteImage(s *Server, c *call) (any, *apiError) {
	region, err := c.p.required("RegionId")
	if err != nil {
		return nil, err
	}
	id, err := c.p.required("ImageId")
	if err != nil {
		return nil, err
	}
	force, err := c.p.boolean("Force", false)
	if err != nil {
		return nil, err
	}
	unlock := s.st.Lock(c.now)
	defer unlock()
	// System images are not the caller's to delete: LiveImage does not
	// know them.
	if err := ecsError(s.st.DeleteImage(id, region, force)); err != nil {
		return nil, err
	}
	c.mutated = true
	return &baseResp{c.requestID}, nil
}

// --- network ----------------------------------------------------------------

type securityGroupsResp struct {
	baseResp
	RegionId string
	page
	SecurityGroups struct {
		SecurityGroup []wireSecurityGroup
	}
}

type wireSecurityGroup struct {
	SecurityGroupId   string
	SecurityGroupName string
	SecurityGroupType string
	Description       string
	VpcId             string
	CreationTime      string
	Tags              wireTags
}

func actDescribeSecurityGroups(s *Server, c *call) (any, *apiError) {
	region, pg, err := regionPageArgs(c.p, 50)
	if err != nil {
		return nil, err
	}
	ids, err := c.p.jsonList("SecurityGroupIds", 100)
	if err != nil {
		return nil, err
	}
	if one := c.p.get("SecurityGroupId"); one != "" {
		ids = append(ids, one)
	}
	vpc, name := c.p.get("VpcId"), c.p.get("SecurityGroupName")
	r := &securityGroupsResp{baseResp: baseResp{c.requestID}, RegionId: region, page: pg}
	r.SecurityGroups.SecurityGroup = []wireSecurityGroup{}
	s.sgs.Lock()
	defer s.sgs.Unlock()
	for _, g := range s.sgs.Order {
		if g.RegionID != region || (vpc != "" && g.VpcID != vpc) || !inFilter(ids, g.ID) ||
			(name != "" && g.Name != name) {
			continue
		}
		if r.take() {
			r.SecurityGroups.SecurityGroup = append(r.SecurityGroups.SecurityGroup, wireSecurityGroup{
				g.ID, g.Name, g.Type, g.Description, g.VpcID, fmtTime(g.Created), toWireTags(g.Tags)})
		}
	}
	return r, nil
}

type vswitchesResp struct {
	baseResp
	page
	VSwitches struct {
		VSwitch []wireVSwitch
	}
}

type wireVSwitch struct {
	VSwitchId               string
	VSwitchName             string
	VpcId                   string
	ZoneId                  string
	CidrBlock               string
	Status                  string
	Description             string
	AvailableIpAddressCount int
	IsDefault               bool
	CreationTime            string
}

func actDescribeVSwitches(s *Server, c *call) (any, *apiError) {
	region := c.p.get("RegionId")
	pg, err := pageArgs(c.p, 50)
	if err != nil {
		return nil, err
	}
	vpc, id, zone := c.p.get("VpcId"), c.p.get("VSwitchId"), c.p.get("ZoneId")
	unlock := s.st.Lock(c.now)
	defer unlock()
	r := &vswitchesResp{baseResp: baseResp{c.requestID}, page: pg}
	r.VSwitches.VSwitch = []wireVSwitch{}
	for _, v := range s.cat.VSwitches {
		if (region != "" && s.cat.vswitchRegion(&v) != region) || (vpc != "" && v.VpcId != vpc) ||
			(id != "" && v.VSwitchId != id) || (zone != "" && v.ZoneId != zone) {
			continue
		}
		if r.take() {
			r.VSwitches.VSwitch = append(r.VSwitches.VSwitch, wireVSwitch{v.VSwitchId, v.VSwitchName, v.VpcId, v.ZoneId,
				v.CidrBlock, "Available", "", s.st.Pools[v.VSwitchId].Free(), v.IsDefault, fmtTime(systemImageEpoch)})
		}
	}
	return r, nil
}

type keyPairsResp struct {
	baseResp
	RegionId string
	page
	KeyPairs struct {
		KeyPair []wireKeyPair
	}
}

type wireKeyPair struct {
	KeyPairName        string
	KeyPairFingerPrint string
	CreationTime       string
	Tags               wireTags
}

func actDescribeKeyPairs(s *Server, c *call) (any, *apiError) {
	region, pg, err := regionPageArgs(c.p, 50)
	if err != nil {
		return nil, err
	}
	name, fp := c.p.get("KeyPairName"), c.p.get("KeyPairFingerPrint")
	r := &keyPairsResp{baseResp: baseResp{c.requestID}, RegionId: region, page: pg}
	r.KeyPairs.KeyPair = []wireKeyPair{}
	kps := append([]KeyPair(nil), s.cat.KeyPairs...)
	sort.SliceStable(kps, func(i, j int) bool { return kps[i].KeyPairName < kps[j].KeyPairName })
	for _, k := range kps {
		if k.RegionId != region || (name != "" && !matchName(name, k.KeyPairName)) || (fp != "" && fp != k.KeyPairFingerPrint) {
			continue
		}
		if r.take() {
			r.KeyPairs.KeyPair = append(r.KeyPairs.KeyPair, wireKeyPair{k.KeyPairName, k.KeyPairFingerPrint, fmtTime(systemImageEpoch), wireTags{Tag: []wireTag{}}})
		}
	}
	return r, nil
}
