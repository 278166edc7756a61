package state

import "time"

// ImageOS is what a custom image inherits from the image it was made from.
type ImageOS struct {
	OSName, OSType, Platform, Architecture string
}

// ImageSpec is a new custom image, validated by the front: made from a
// live Running or Stopped instance (FromInstance) or a snapshot
// (FromSnapshot); CopyImage uses only Region, Name, Description and Tags.
type ImageSpec struct {
	Region                     string
	Name, Description          string
	FromInstance, FromSnapshot string
	Tags                       []Tag
}

func (st *Store) nameTaken(region, name string) error {
	for _, other := range st.ImgOrder {
		if name != "" && !other.Deleted && other.RegionID == region && other.Name == name {
			return &Error{Kind: NameTaken, Resource: ResImage, ID: name}
		}
	}
	return nil
}

func (st *Store) addImage(im *CustomImage) string {
	if im.Name == "" {
		im.Name = im.ID
	}
	st.Images[im.ID] = im
	st.ImgOrder = append(st.ImgOrder, im)
	return im.ID
}

// CreateImage makes a custom image, Creating until ready. system describes
// the catalogue's images (the state knows only custom ones); the OS is
// inherited from the source's image.
func (st *Store) CreateImage(sp *ImageSpec, system func(id string) (ImageOS, bool), ready, now time.Time) (string, error) {
	im := &CustomImage{Seq: st.NextSeq(), RegionID: sp.Region, Name: sp.Name, Description: sp.Description,
		Architecture: "x86_64", OSType: "linux", Size: 40, Tags: sp.Tags, Created: now, Ready: ready}
	srcImage := ""
	if sp.FromInstance != "" {
		in, err := st.LiveInstance(sp.FromInstance, sp.Region)
		if err != nil {
			return "", err
		}
		if err := usable(in, now); err != nil {
			return "", err
		}
		im.SourceInstance, srcImage = in.ID, in.ImageID
		if d := st.Disks[in.SystemDiskID]; d != nil {
			im.Size = d.Size
		}
	} else {
		sn, err := st.LiveSnapshot(sp.FromSnapshot, sp.Region)
		if err != nil {
			return "", err
		}
		im.SourceSnapshot, im.Size = sn.ID, sn.Size
		if d := st.Disks[sn.DiskID]; d != nil {
			srcImage = d.ImageID
		}
	}
	if os, ok := system(srcImage); ok {
		im.OSName, im.OSType, im.Platform, im.Architecture = os.OSName, os.OSType, os.Platform, os.Architecture
	} else if base := st.Images[srcImage]; base != nil {
		im.OSName, im.OSType, im.Platform, im.Architecture = base.OSName, base.OSType, base.Platform, base.Architecture
	}
	if err := st.nameTaken(sp.Region, sp.Name); err != nil {
		return "", err
	}
	im.ID = st.NewID("m", sp.Region)
	return st.addImage(im), nil
}

// CopyImage copies an Available custom image of region into sp.Region.
// The copy gets its own snapshot in the destination region (not
// modelled), so it does not hold on to the source's snapshot.
func (st *Store) CopyImage(id, region string, sp *ImageSpec, ready, now time.Time) (string, error) {
	src, err := st.LiveImage(id, region)
	if err != nil {
		return "", err
	}
	if s := src.Status(now); s != "Available" {
		return "", &Error{Kind: IncorrectStatus, Resource: ResImage, ID: id, Status: s}
	}
	if err := st.nameTaken(sp.Region, sp.Name); err != nil {
		return "", err
	}
	im := &CustomImage{Seq: st.NextSeq(), ID: st.NewID("m", sp.Region), RegionID: sp.Region, Name: sp.Name,
		Description: sp.Description, SourceInstance: src.SourceInstance,
		OSName: src.OSName, OSType: src.OSType, Platform: src.Platform, Architecture: src.Architecture, Size: src.Size,
		Tags: sp.Tags, Created: now, Ready: ready}
	return st.addImage(im), nil
}
