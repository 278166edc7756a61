package state

import "time"

// DeleteImage deletes a custom image; without force not while a live
// instance runs from it.
func (st *Store) DeleteImage(id, region string, force bool) error {
	im, err := st.LiveImage(id, region)
	if err != nil {
		return err
	}
	if !force {
		for _, in := range st.Order {
			if !in.Released() && in.ImageID == id {
				return &Error{Kind: InUse, Resource: ResImage, ID: id, By: ResInstance, ByID: in.ID}
			}
		}
	}
	im.Deleted = true
	return nil
}

// CreateSnapshot snapshots a live disk and returns the snapshot's ID.
func (st *Store) CreateSnapshot(diskID, region, name string, tags []Tag, now time.Time) (string, error) {
	d, err := st.LiveDisk(diskID, region)
	if err != nil {
		return "", err
	}
	sn := &Snapshot{Seq: st.NextSeq(), ID: st.NewID("s", d.RegionID), RegionID: d.RegionID, DiskID: d.ID,
		Name: name, Size: d.Size, Tags: tags, Created: now}
	st.Snapshots[sn.ID] = sn
	return sn.ID, nil
}

// DeleteSnapshot deletes a snapshot: never while a custom image was made
// from it, and without force not while a live disk was.
func (st *Store) DeleteSnapshot(id, region string, force bool) error {
	sn, err := st.LiveSnapshot(id, region)
	if err != nil {
		return err
	}
	for _, im := range st.ImgOrder {
		if !im.Deleted && im.SourceSnapshot == id {
			return &Error{Kind: InUse, Resource: ResSnapshot, ID: id, By: ResImage, ByID: im.ID}
		}
	}
	if !force {
		for _, d := range st.DiskOrder {
			if !d.IsDeleted() && d.SnapshotID == id {
				return &Error{Kind: InUse, Resource: ResSnapshot, ID: id, By: ResDisk, ByID: d.ID}
			}
		}
	}
	sn.Deleted = true
	return nil
}

// AllocatePublicIP gives a Running or Stopped instance with public
// bandwidth a public address and returns it.
func (st *Store) AllocatePublicIP(id, region string, now time.Time) (string, error) {
	in, err := st.LiveInstance(id, region)
	if err != nil {
		return "", err
	}
	if err := usable(in, now); err != nil {
		return "", err
	}
	if in.PublicIP != "" {
		return "", &Error{Kind: AlreadyAllocated, Resource: ResInstance, ID: in.ID, Detail: in.PublicIP}
	}
	if in.InternetMaxBandwidthOut == 0 {
		return "", &Error{Kind: NoBandwidth, Resource: ResInstance, ID: in.ID}
	}
	in.PublicIP = st.NextPublicIP()
	return in.PublicIP, nil
}
