package ecs

import "context"

// API is every ECS call the product makes; Adapter implements it over
// aliyungo. Implementations own paging, retries, rate limiting and wire
// encoding; callers see whole results and *APIError failures. Consumers
// declare the few calls they use as interfaces of their own (the plugin's
// core calls, capacity's, spot's), which API satisfies.
type API interface {
	InstanceAPI
	CapacityAPI
	SpotAPI
}

// InstanceAPI is the calls every Provision, Describe, Destroy and Label
// makes.
type InstanceAPI interface {
	// RunInstances creates exactly one instance and returns its ID.
	RunInstances(ctx context.Context, req *RunRequest) (string, error)
	// DescribeInstances returns every instance matching the filter (all pages).
	// The result may be shared with other callers (the plugin's describe
	// cache):
	// callers must not modify it, nor reorder it; copy it first to do so.
	DescribeInstances(ctx context.Context, f InstanceFilter) ([]Instance, error)
	// DeleteInstance releases an instance.
	DeleteInstance(ctx context.Context, id string, force bool) error
	// TagResources adds or overwrites tags on one instance.
	TagResources(ctx context.Context, id string, tags map[string]string) error
	// DescribeDisks returns every disk matching the filter (all pages).
	DescribeDisks(ctx context.Context, f DiskFilter) ([]Disk, error)
	// AttachDisk attaches a data disk to an instance.
	AttachDisk(ctx context.Context, instanceID, diskID string, deleteWithInstance bool) error
	// ModifyDiskAttribute sets whether a disk is released with its instance.
	ModifyDiskAttribute(ctx context.Context, diskID string, deleteWithInstance bool) error
}

// CapacityAPI is the catalogue and stock calls of the capacity fallbacks.
type CapacityAPI interface {
	// DescribeInstanceTypes returns the region's instance type catalogue.
	DescribeInstanceTypes(ctx context.Context) ([]InstanceType, error)
	// DescribeAvailableInstanceTypes returns zone -> type -> in stock
	// (Resource.InStock) for the given SpotStrategy; zone "" means every
	// zone of the region.
	DescribeAvailableInstanceTypes(ctx context.Context, zone, spotStrategy string) (map[string]map[string]bool, error)
	// DescribeVSwitchZone returns the zone of a vswitch.
	DescribeVSwitchZone(ctx context.Context, vswitchID string) (string, error)
}

// SpotAPI is the calls of spot interruption handling: kept data (disks
// detached and tagged, images), and the zone list.
type SpotAPI interface {
	// DetachDisk detaches a data disk from an instance.
	DetachDisk(ctx context.Context, instanceID, diskID string) error
	// CreateImage starts making a custom image of an instance's system disk.
	CreateImage(ctx context.Context, req CreateImageRequest) (string, error)
	// DescribeImages lists the account's own images matching the filter.
	DescribeImages(ctx context.Context, f ImageFilter) ([]Image, error)
	// DeleteImage deletes a custom image (Force: even if instances use it).
	DeleteImage(ctx context.Context, id string, force bool) error
	// TagResource adds or overwrites tags on one disk or image.
	TagResource(ctx context.Context, resourceType, id string, tags map[string]string) error
	// DeleteDisk deletes an Available disk (a kept disk nobody will take).
	DeleteDisk(ctx context.Context, diskID string) error
	// DescribeZones lists the zone IDs of the region.
	DescribeZones(ctx context.Context) ([]string, error)
}

// RunRequest is one RunInstances call with Amount 1.
type RunRequest struct {
	// Args is the RunInstances parameter struct (the plugin's
	// RunInstancesArgs), encoded the ECS way: nested structs as Name.Field,
	// slices as Name.N, zero values left out (see encodeStruct).
	Args any
	// Tags are sent as Tag.N, sorted by key, so the instance is tagged from
	// the moment it exists.
	Tags map[string]string
	// UserData is plain text; the adapter base64-encodes it for each attempt.
	UserData string
	// PrivateIP overrides Args.PrivateIpAddress when set.
	PrivateIP string
	// ClientToken makes the call idempotent; it is the same on every retry.
	ClientToken string
}

// InstanceFilter selects instances; all conditions are ANDed.
type InstanceFilter struct {
	InstanceIDs []string
	Tags        map[string]string
	// LockReason keeps only instances with this operation lock (ECS filters
	// server-side), e.g. "Recycling" for reclaimed spot instances.
	LockReason string
}

// DiskFilter selects disks; all conditions are ANDed.
type DiskFilter struct {
	InstanceID string
	DiskIDs    []string
	Tags       map[string]string
}

// Tag is one tag of an instance, disk or image, in the order ECS gave
// them. Tags stay a list, not a map: a describe of 10,000 instances is kept
// by the describe cache for its TTL, and a map per instance would be
// several times the size of these few pairs.
type Tag struct {
	Key   string
	Value string
}

// Instance is what the plugin reads of a DescribeInstances item, flat.
type Instance struct {
	ID             string
	Name           string
	Type           string
	ImageID        string
	Region         string
	Zone           string
	Status         string
	CreationTime   string
	HostName       string
	ChargeType     string
	SpotStrategy   string
	SpotPriceLimit float64
	VPC            string
	VSwitch        string
	// PrivateIPs are the VPC private addresses, then the classic network's
	// inner ones.
	PrivateIPs     []string
	PublicIPs      []string
	EIP            string
	SecurityGroups []string
	Tags           []Tag
	// Locks are the OperationLocks reasons, e.g. "Recycling".
	Locks []string
}

func (i *Instance) TagMap() map[string]string {
	return tagMap(i.Tags)
}

func (i *Instance) PrivateIP() string {
	if len(i.PrivateIPs) > 0 {
		return i.PrivateIPs[0]
	}
	return ""
}

// Disk is what the plugin reads of a DescribeDisks item.
type Disk struct {
	ID                 string
	Zone               string
	Status             string
	Type               string
	InstanceID         string
	DeleteWithInstance bool
	Tags               []Tag
}

func (d *Disk) TagMap() map[string]string {
	return tagMap(d.Tags)
}

type ipSet struct {
	IpAddress []string
}

// wireTags is how ECS nests a tag list.
type wireTags struct {
	Tag []struct{ TagKey, TagValue string }
}

// flat copies the tags into a list sized to fit: encoding/json grows a
// slice by doubling (5 tags are decoded into room for 8), and the list is
// kept for as long as the scan is.
func (w wireTags) flat() []Tag {
	if len(w.Tag) == 0 {
		return nil
	}
	out := make([]Tag, len(w.Tag))
	for i, t := range w.Tag {
		out[i] = Tag{Key: t.TagKey, Value: t.TagValue}
	}
	return out
}

// wireInstance is the subset of a DescribeInstances item the plugin
// decodes; flat() is what the plugin reads.
type wireInstance struct {
	InstanceId         string
	InstanceName       string
	InstanceType       string
	ImageId            string
	RegionId           string
	ZoneId             string
	Status             string
	CreationTime       string
	HostName           string
	InstanceChargeType string
	SpotStrategy       string
	SpotPriceLimit     float64
	VpcAttributes      struct {
		VpcId            string
		VSwitchId        string
		PrivateIpAddress ipSet
	}
	InnerIpAddress   ipSet
	PublicIpAddress  ipSet
	EipAddress       struct{ IpAddress string }
	SecurityGroupIds struct{ SecurityGroupId []string }
	Tags             wireTags
	OperationLocks   struct {
		LockReason []struct{ LockReason string }
	}
}

// flat reads a decoded item, interning the strings that repeat across
// instances (see interner).
func (w *wireInstance) flat(in interner) Instance {
	i := Instance{
		ID: w.InstanceId, Name: w.InstanceName, Type: w.InstanceType, ImageID: w.ImageId,
		Region: w.RegionId, Zone: w.ZoneId, Status: w.Status, CreationTime: w.CreationTime, HostName: w.HostName,
		ChargeType: w.InstanceChargeType, SpotStrategy: w.SpotStrategy, SpotPriceLimit: w.SpotPriceLimit,
		VPC: w.VpcAttributes.VpcId, VSwitch: w.VpcAttributes.VSwitchId,
		PublicIPs: w.PublicIpAddress.IpAddress, EIP: w.EipAddress.IpAddress,
		SecurityGroups: w.SecurityGroupIds.SecurityGroupId,
	}
	vpc, inner := w.VpcAttributes.PrivateIpAddress.IpAddress, w.InnerIpAddress.IpAddress
	switch {
	case len(inner) == 0:
		i.PrivateIPs = vpc
	case len(vpc) == 0:
		i.PrivateIPs = inner
	default:
		i.PrivateIPs = append(append(make([]string, 0, len(vpc)+len(inner)), vpc...), inner...)
	}
	for _, l := range w.OperationLocks.LockReason {
		if l.LockReason != "" {
			i.Locks = append(i.Locks, l.LockReason)
		}
	}
	i.Tags = w.Tags.flat()
	if in != nil {
		in.instance(&i)
	}
	return i
}

// interner makes equal strings share one copy. A scan of thousands of
// instances decodes the same region, zone, type, image, VPC, security
// groups, tag keys and most tag values once per instance, and the describe
// cache keeps the scan alive.
type interner map[string]string

func (in interner) str(p *string) {
	if s, ok := in[*p]; ok {
		*p = s
	} else {
		in[*p] = *p
	}
}

// instance interns the fields that repeat across instances.
func (in interner) instance(i *Instance) {
	for _, p := range []*string{&i.Region, &i.Zone, &i.Type, &i.ImageID, &i.Status,
		&i.ChargeType, &i.SpotStrategy, &i.VPC, &i.VSwitch} {
		in.str(p)
	}
	for j := range i.SecurityGroups {
		in.str(&i.SecurityGroups[j])
	}
	for j := range i.Tags {
		in.str(&i.Tags[j].Key)
		in.str(&i.Tags[j].Value)
	}
}

// wireDisk is the subset of a DescribeDisks item the plugin decodes.
type wireDisk struct {
	DiskId             string
	ZoneId             string
	Status             string
	Type               string
	InstanceId         string
	DeleteWithInstance bool
	Tags               wireTags
}

func (w *wireDisk) flat() Disk {
	return Disk{ID: w.DiskId, Zone: w.ZoneId, Status: w.Status, Type: w.Type, InstanceID: w.InstanceId,
		DeleteWithInstance: w.DeleteWithInstance, Tags: w.Tags.flat()}
}

func tagMap(tags []Tag) map[string]string {
	m := make(map[string]string, len(tags))
	for _, t := range tags {
		m[t.Key] = t.Value
	}
	return m
}
