package state

import (
	"fmt"
	"slices"
	"time"
)

// MaxDataDisks is ECS's limit of data disks on one instance.
const MaxDataDisks = 16

// usable reports whether an instance may have disks attached or detached.
func usable(in *Instance, now time.Time) error {
	if s := in.Status(now); s != StatusRunning && s != StatusStopped {
		return incorrect(in, s)
	}
	return nil
}

func diskStatus(d *Disk, status string) error {
	return &Error{Kind: IncorrectStatus, Resource: ResDisk, ID: d.ID, Status: status}
}

// AttachDisk attaches an Available disk to a Running or Stopped instance in
// its zone, at device (or the first free /dev/xvdX).
func (st *Store) AttachDisk(iid, did, region, device string, deleteWithInstance bool, now time.Time) error {
	in, d, err := st.InstanceAndDisk(iid, did, region)
	if err != nil {
		return err
	}
	if err := usable(in, now); err != nil {
		return err
	}
	if d.Status() != "Available" {
		return diskStatus(d, d.Status())
	}
	if d.ZoneID != in.ZoneID {
		return &Error{Kind: ZoneMismatch, Resource: ResDisk, ID: d.ID,
			Detail: fmt.Sprintf("disk %s (%s), instance %s (%s)", d.ID, d.ZoneID, in.ID, in.ZoneID)}
	}
	used := map[string]bool{}
	n := 0
	for _, x := range in.DataDiskIDs {
		if o := st.Disks[x]; o != nil && !o.IsDeleted() && o.InstanceID == in.ID {
			used[o.Device] = true
			n++
		}
	}
	if n >= MaxDataDisks {
		return &Error{Kind: LimitExceeded, Resource: ResDisk, ID: in.ID, Detail: fmt.Sprint(n)}
	}
	dev := device
	for ch := 'b'; dev == "" || used[dev]; ch++ {
		dev = "/dev/xvd" + string(ch)
	}
	d.InstanceID, d.Device, d.Attached, d.DeleteWithInstance = in.ID, dev, now, deleteWithInstance
	if !slices.Contains(in.DataDiskIDs, d.ID) {
		in.DataDiskIDs = append(in.DataDiskIDs, d.ID)
	}
	return nil
}

// DetachDisk detaches a data disk from the Running or Stopped instance it
// is attached to.
func (st *Store) DetachDisk(iid, did, region string, now time.Time) error {
	in, d, err := st.InstanceAndDisk(iid, did, region)
	if err != nil {
		return err
	}
	if d.InstanceID != in.ID {
		return diskStatus(d, d.Status()+" (not attached to "+in.ID+")")
	}
	if d.Type == "system" {
		return &Error{Kind: SystemDisk, Resource: ResDisk, ID: d.ID}
	}
	if err := usable(in, now); err != nil {
		return err
	}
	d.InstanceID, d.Device, d.Detached = "", "", now
	return nil
}

// DeleteDisk deletes an Available disk.
func (st *Store) DeleteDisk(did, region string, now time.Time) error {
	d, err := st.LiveDisk(did, region)
	if err != nil {
		return err
	}
	if d.Status() != "Available" {
		return diskStatus(d, d.Status())
	}
	d.DeletedAt = now
	return nil
}

// DiskSpec is a new data disk, validated by the front.
type DiskSpec struct {
	Region, Zone      string
	Name, Description string
	Category          string
	Size              int    // GiB; 0 takes the snapshot's size
	SnapshotID        string // "" for an empty disk
	Encrypted         bool
	Tags              []Tag
}

// CreateDisk makes an Available, portable data disk (from a live snapshot
// of the region when SnapshotID is set) and returns its ID.
func (st *Store) CreateDisk(sp *DiskSpec, now time.Time) (string, error) {
	size := sp.Size
	if sp.SnapshotID != "" {
		sn, err := st.LiveSnapshot(sp.SnapshotID, sp.Region)
		if err != nil {
			return "", err
		}
		if size == 0 {
			size = sn.Size
		}
	}
	d := &Disk{Seq: st.NextSeq(), ID: st.NewID("d", sp.Region), RegionID: sp.Region, ZoneID: sp.Zone, Name: sp.Name,
		Description: sp.Description, Type: "data", Category: sp.Category, Size: size, SnapshotID: sp.SnapshotID,
		Encrypted: sp.Encrypted, Portable: true, Tags: sp.Tags, Created: now}
	st.AddDisk(d)
	return d.ID, nil
}

// DiskChange is a ModifyDiskAttribute: nil fields stay as they are.
type DiskChange struct {
	Name, Description                                          *string
	DeleteWithInstance, DeleteAutoSnapshot, EnableAutoSnapshot *bool
}

// ModifyDisks applies ch to every disk of ids, or to none when one of them
// is not a live disk of region.
func (st *Store) ModifyDisks(ids []string, region string, ch DiskChange) error {
	ds := make([]*Disk, 0, len(ids))
	for _, id := range ids {
		d, err := st.LiveDisk(id, region)
		if err != nil {
			return err
		}
		ds = append(ds, d)
	}
	for _, d := range ds {
		for _, f := range []struct {
			dst *string
			v   *string
		}{{&d.Name, ch.Name}, {&d.Description, ch.Description}} {
			if f.v != nil {
				*f.dst = *f.v
			}
		}
		for _, f := range []struct {
			dst *bool
			v   *bool
		}{{&d.DeleteWithInstance, ch.DeleteWithInstance}, {&d.DeleteAutoSnapshot, ch.DeleteAutoSnapshot},
			{&d.EnableAutoSnapshot, ch.EnableAutoSnapshot}} {
			if f.v != nil {
				*f.dst = *f.v
			}
		}
	}
	return nil
}
