package state

import (
	"fmt"
	"net/netip"
	"time"
)

// DataDiskSpec is one data disk of a new instance.
type DataDiskSpec struct {
	Size               int
	Category           string
	SnapshotID         string
	DeleteWithInstance bool
	Name, Description  string
	Device             string
	Encrypted          bool
}

// InstanceSpec is what a new instance is made of, validated by the front.
type InstanceSpec struct {
	Region, Zone, Type, Image string
	VpcID, VSwitchID          string
	SecurityGroupIDs          []string
	Name, Description         string
	HostName                  string
	UniqueSuffix              bool   // number HostName when creating several
	PrivateIP                 string // "" allocates one
	UserData                  string
	KeyPair, RamRole          string
	Spot                      string
	SpotLimit                 float64
	BandwidthOut              int // > 0 gives a public IP
	SysCategory               string
	SysSize                   int
	SysName                   string
	DataDisks                 []DataDiskSpec
	Tags                      []Tag
	DeletionProtection        bool
	Token                     string // ClientToken
}

// CheckPrivateIP refuses an address the vswitch reserves (IPReserved) or
// that an instance already has (IPInUse). The front has checked that ip
// is inside the vswitch's CIDR; the caller holds the lock.
func (st *Store) CheckPrivateIP(vswitch, ip string) error {
	pool := st.Pools[vswitch]
	a, err := netip.ParseAddr(ip)
	if pool == nil || err != nil {
		return &Error{Kind: IPReserved, Resource: ResPrivateIP, ID: ip}
	}
	o, ok := pool.Offset(a)
	if !ok || pool.Reserved(o) {
		return &Error{Kind: IPReserved, Resource: ResPrivateIP, ID: ip}
	}
	if _, used := pool.Used[o]; used {
		return &Error{Kind: IPInUse, Resource: ResPrivateIP, ID: ip}
	}
	return nil
}

// CreateInstances creates n instances from sp (the caller holds the lock
// and has checked capacity, the private IP and the image). running selects RunInstances (start at once) over
// CreateInstance (end Stopped).
func (st *Store) CreateInstances(sp *InstanceSpec, n int, now time.Time, running bool) []string {
	boot := st.BootTime
	pending := boot / 3
	ids := make([]string, 0, n)
	for i := 0; i < n; i++ {
		id := st.NewID("i", sp.Region)
		in := &Instance{
			Seq: st.NextSeq(), ID: id, Name: sp.Name, Description: sp.Description, HostName: sp.HostName,
			RegionID: sp.Region, ZoneID: sp.Zone, Type: sp.Type, ImageID: sp.Image, VpcID: sp.VpcID,
			VSwitchID: sp.VSwitchID, InternetMaxBandwidthOut: sp.BandwidthOut,
			SecurityGroupIDs: append([]string(nil), sp.SecurityGroupIDs...), UserData: sp.UserData, KeyPairName: sp.KeyPair,
			RamRoleName: sp.RamRole, SpotStrategy: sp.Spot, SpotPriceLimit: sp.SpotLimit,
			DeletionProtection: sp.DeletionProtection, ClientToken: sp.Token, Created: now,
		}
		if in.Name == "" {
			in.Name = id
		}
		switch {
		case in.HostName == "":
			in.HostName = "iZ" + id[2:] + "Z"
		case sp.UniqueSuffix && n > 1:
			in.HostName = fmt.Sprintf("%s%03d", sp.HostName, i+1)
		}
		if running {
			in.State = Transition{From: StatusPending, MidAt: now.Add(pending), Mid: StatusStarting, ToAt: now.Add(boot), To: StatusRunning}
			in.Started = now.Add(boot)
			if sp.BandwidthOut > 0 {
				in.PublicIP = st.NextPublicIP()
			}
		} else {
			in.State = Transition{From: StatusPending, MidAt: now.Add(pending), Mid: StatusStopped, ToAt: now.Add(pending), To: StatusStopped}
		}
		pool := st.Pools[sp.VSwitchID]
		if sp.PrivateIP != "" {
			a := netip.MustParseAddr(sp.PrivateIP)
			o, _ := pool.Offset(a)
			pool.Used[o] = id
			in.PrivateIP = sp.PrivateIP
		} else {
			in.PrivateIP, _ = pool.Take(id)
		}
		sys := &Disk{Seq: st.NextSeq(), ID: st.NewID("d", sp.Region), RegionID: sp.Region, ZoneID: sp.Zone,
			Name: sp.SysName, Type: "system", Category: sp.SysCategory, Size: sp.SysSize, ImageID: sp.Image,
			InstanceID: id, Device: "/dev/xvda", DeleteWithInstance: true, Created: now, Attached: now,
			Tags: append([]Tag(nil), sp.Tags...)}
		st.AddDisk(sys)
		in.SystemDiskID = sys.ID
		for j, dd := range sp.DataDisks {
			dev := dd.Device
			if dev == "" {
				dev = "/dev/xvd" + string(rune('b'+j))
			}
			d := &Disk{Seq: st.NextSeq(), ID: st.NewID("d", sp.Region), RegionID: sp.Region, ZoneID: sp.Zone,
				Name: dd.Name, Description: dd.Description, Type: "data", Category: dd.Category, Size: dd.Size,
				SnapshotID: dd.SnapshotID, InstanceID: id, Device: dev, DeleteWithInstance: dd.DeleteWithInstance,
				Encrypted: dd.Encrypted, Created: now, Attached: now, Tags: append([]Tag(nil), sp.Tags...)}
			st.AddDisk(d)
			in.DataDiskIDs = append(in.DataDiskIDs, d.ID)
		}
		for _, t := range sp.Tags {
			st.SetInstanceTag(in, t.Key, t.Value)
		}
		st.Instances[id] = in
		st.Order = append(st.Order, in)
		st.Live++
		ids = append(ids, id)
	}
	return ids
}
