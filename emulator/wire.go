package emulator

import "time"

// The emulator's own wire types: field names and nesting follow real ECS
// JSON answers (aliyungo and the official SDK both decode them), and they
// are deliberately independent of either client's structs.

// ecsTime is the minute-precision UTC format ECS uses for CreationTime and
// similar fields ("2024-01-01T12:34Z").
const ecsTime = "2006-01-02T15:04Z"

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(ecsTime)
}

type wireTag struct {
	TagKey   string
	TagValue string
}

type wireTags struct {
	Tag []wireTag
}

func toWireTags(tags []Tag) wireTags {
	out := wireTags{Tag: make([]wireTag, 0, len(tags))}
	for _, t := range tags {
		out.Tag = append(out.Tag, wireTag{t.Key, t.Value})
	}
	return out
}

type wireIPs struct {
	IpAddress []string
}

type wireLock struct {
	LockReason string
}

type wireInstance struct {
	InstanceId               string
	InstanceName             string
	Description              string
	HostName                 string
	RegionId                 string
	ZoneId                   string
	InstanceType             string
	InstanceTypeFamily       string
	ImageId                  string
	Status                   string
	Cpu                      int
	Memory                   int // MiB
	GPUAmount                int
	OSType                   string
	OSName                   string
	CreationTime             string
	StartTime                string
	ExpiredTime              string
	AutoReleaseTime          string
	InstanceNetworkType      string
	InstanceChargeType       string
	InternetChargeType       string
	InternetMaxBandwidthIn   int
	InternetMaxBandwidthOut  int
	IoOptimized              bool
	SpotStrategy             string
	SpotPriceLimit           float64
	SpotInterruptionBehavior string
	KeyPairName              string
	DeletionProtection       bool
	SerialNumber             string
	StoppedMode              string
	DeviceAvailable          bool
	Recyclable               bool
	ResourceGroupId          string
	VpcAttributes            struct {
		VpcId            string
		VSwitchId        string
		NatIpAddress     string
		PrivateIpAddress wireIPs
	}
	PublicIpAddress wireIPs
	InnerIpAddress  wireIPs
	EipAddress      struct {
		AllocationId       string
		IpAddress          string
		Bandwidth          int // Mbit/s
		InternetChargeType string
	}
	SecurityGroupIds struct {
		SecurityGroupId []string
	}
	NetworkInterfaces struct {
		NetworkInterface []wireENI
	}
	OperationLocks struct {
		LockReason []wireLock
	}
	Tags wireTags
}

type wireENI struct {
	NetworkInterfaceId string
	PrimaryIpAddress   string
	MacAddress         string
	Type               string
}

func (s *Server) toWireInstance(in *instance, now time.Time) wireInstance {
	w := wireInstance{
		InstanceId: in.ID, InstanceName: in.Name, Description: in.Description, HostName: in.HostName,
		RegionId: in.RegionID, ZoneId: in.ZoneID, InstanceType: in.Type, ImageId: in.ImageID,
		Status: in.Status(now), CreationTime: fmtTime(in.Created), StartTime: fmtTime(in.Started),
		ExpiredTime: "2099-12-31T15:59Z", InstanceNetworkType: "vpc", InstanceChargeType: "PostPaid",
		InternetChargeType: "PayByTraffic", InternetMaxBandwidthOut: in.InternetMaxBandwidthOut,
		IoOptimized: true, SpotStrategy: in.SpotStrategy, SpotPriceLimit: in.SpotPriceLimit,
		KeyPairName: in.KeyPairName, DeletionProtection: in.DeletionProtection,
		SerialNumber: serialFor(in.ID), StoppedMode: "Not-applicable", DeviceAvailable: true,
	}
	if in.SpotStrategy != "NoSpot" {
		w.SpotInterruptionBehavior = "Terminate"
	}
	if w.Status == StatusStopped {
		w.StoppedMode = "KeepCharging"
	}
	if t := s.cat.types[in.Type]; t != nil {
		w.Cpu, w.Memory, w.GPUAmount, w.InstanceTypeFamily = t.CpuCoreCount, int(t.MemorySize*1024), t.GPUAmount, t.InstanceTypeFamily
	}
	if im := s.cat.images[in.ImageID]; im != nil {
		w.OSType, w.OSName = im.OSType, im.OSName
	} else if ci := s.st.Images[in.ImageID]; ci != nil {
		w.OSType, w.OSName = ci.OSType, ci.OSName
	}
	w.VpcAttributes.VpcId, w.VpcAttributes.VSwitchId = in.VpcID, in.VSwitchID
	w.VpcAttributes.PrivateIpAddress.IpAddress = []string{in.PrivateIP}
	w.PublicIpAddress.IpAddress = []string{}
	if in.PublicIP != "" {
		w.PublicIpAddress.IpAddress = append(w.PublicIpAddress.IpAddress, in.PublicIP)
	}
	w.InnerIpAddress.IpAddress = []string{}
	w.SecurityGroupIds.SecurityGroupId = append([]string{}, in.SecurityGroupIDs...)
	w.NetworkInterfaces.NetworkInterface = []wireENI{{
		NetworkInterfaceId: "eni-" + in.ID[2:], PrimaryIpAddress: in.PrivateIP, MacAddress: macFor(in.ID), Type: "Primary",
	}}
	w.OperationLocks.LockReason = []wireLock{}
	for _, l := range in.Locks {
		w.OperationLocks.LockReason = append(w.OperationLocks.LockReason, wireLock{l})
	}
	w.Tags = toWireTags(in.Tags)
	return w
}

// serialFor and macFor derive stable fake values from the instance ID.
func serialFor(id string) string {
	h := fnv32(id)
	return fmtHex(h, 8) + "-" + fmtHex(h>>8, 4) + "-4" + fmtHex(h>>12, 3) + "-8" + fmtHex(h>>4, 3) + "-" + fmtHex(h*2654435761, 8) + fmtHex(h, 4)
}

func macFor(id string) string {
	h := fnv32(id)
	return "00:16:3e:" + fmtHex(h>>16&0xff, 2) + ":" + fmtHex(h>>8&0xff, 2) + ":" + fmtHex(h&0xff, 2)
}

func fnv32(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}

func fmtHex(v uint32, n int) string {
	const hex = "0123456789abcdef"
	b := make([]byte, n)
	for i := n - 1; i >= 0; i-- {
		b[i] = hex[v&15]
		v >>= 4
	}
	return string(b)
}

type wireDisk struct {
	DiskId             string
	DiskName           string
	Description        string
	RegionId           string
	ZoneId             string
	Type               string
	Category           string
	Size               int
	ImageId            string
	SourceSnapshotId   string
	InstanceId         string
	Device             string
	Status             string
	DeleteWithInstance bool
	DeleteAutoSnapshot bool
	EnableAutoSnapshot bool
	Encrypted          bool
	Portable           bool
	CreationTime       string
	AttachedTime       string
	DetachedTime       string
	Tags               wireTags
}

func toWireDisk(d *disk) wireDisk {
	return wireDisk{
		DiskId: d.ID, DiskName: d.Name, Description: d.Description, RegionId: d.RegionID, ZoneId: d.ZoneID,
		Type: d.Type, Category: d.Category, Size: d.Size, ImageId: d.ImageID, SourceSnapshotId: d.SnapshotID,
		InstanceId: d.InstanceID, Device: d.Device, Status: d.Status(), DeleteWithInstance: d.DeleteWithInstance,
		DeleteAutoSnapshot: d.DeleteAutoSnapshot, EnableAutoSnapshot: d.EnableAutoSnapshot, Encrypted: d.Encrypted,
		Portable: d.Portable, CreationTime: fmtTime(d.Created), AttachedTime: fmtTime(d.Attached),
		DetachedTime: fmtTime(d.Detached), Tags: toWireTags(d.Tags),
	}
}
