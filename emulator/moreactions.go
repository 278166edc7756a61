package emulator

import (
	"net/http"
	"strings"
)

// DeleteSnapshot, CopyImage and AllocatePublicIpAddress: actions common
// clients (libcloud's ECS driver among them) call.

func actDeleteSnapshot(s *Server, c *call) (any, *apiError) {
	id, err := c.p.required("SnapshotId")
	if err != nil {
		return nil, err
	}
	force, err := c.p.boolean("Force", false)
	if err != nil {
		return nil, err
	}
	unlock := s.st.Lock(c.now)
	defer unlock()
	sn, err := found(s.st.LiveSnapshot(id, c.region))
	if err != nil {
		return nil, err
	}
	for _, im := range s.st.ImgOrder {
		if !im.Deleted && im.SourceSnapshot == id {
			return nil, newErr(http.StatusForbidden, "SnapshotCreatedImage",
				"The snapshot %s has been used to create custom image %s and cannot be deleted.", id, im.ID)
		}
	}
	if !force {
		for _, d := range s.st.DiskOrder {
			if !d.IsDeleted() && d.SnapshotID == id {
				return nil, newErr(http.StatusForbidden, "SnapshotCreatedDisk",
					"The snapshot %s has been used to create disk %s; delete it with Force=true.", id, d.ID)
			}
		}
	}
	sn.Deleted = true
	c.mutated = true
	return &baseResp{c.requestID}, nil
}

func actCopyImage(s *Server, c *call) (any, *apiError) {
	region, err := c.p.required("RegionId")
	if err != nil {
		return nil, err
	}
	id, err := c.p.required("ImageId")
	if err != nil {
		return nil, err
	}
	dest, err := c.p.required("DestinationRegionId")
	if err != nil {
		return nil, err
	}
	if s.cat.regions[dest] == nil {
		return nil, newErr(http.StatusNotFound, "InvalidRegionId.NotFound", "The specified DestinationRegionId %q does not exist.", dest)
	}
	name := c.p.get("DestinationImageName")
	if name != "" && (len(name) < 2 || len(name) > 128 || strings.HasPrefix(name, "aliyun") || strings.HasPrefix(name, "acs:") ||
		strings.HasPrefix(name, "http://") || strings.HasPrefix(name, "https://")) {
		return nil, errInvalid("DestinationImageName", "2 to 128 characters, not starting with aliyun, acs:, http:// or https://")
	}
	tags, err := parseTags(c.p)
	if err != nil {
		return nil, err
	}
	if s.cat.images[id] != nil {
		return nil, newErr(http.StatusForbidden, "InvalidImageId.IsSystemImage",
			"The specified image %s is a public image; only custom images can be copied.", id)
	}
	// The copy gets its own snapshot in the destination region (not
	// modelled), so it does not hold on to the source's snapshot.
	ids, err := s.createOnce(c, func() ([]string, *apiError) {
		src, err := found(s.st.LiveImage(id, region))
		if err != nil {
			return nil, err
		}
		if src.Status(c.now) != "Available" {
			return nil, newErr(http.StatusForbidden, "IncorrectImageStatus", "The image %s is %s; only an Available image can be copied.", id, src.Status(c.now))
		}
		for _, other := range s.st.ImgOrder {
			if name != "" && !other.Deleted && other.RegionID == dest && other.Name == name {
				return nil, newErr(http.StatusBadRequest, "InvalidImageName.Duplicated", "The specified ImageName %q is already in use.", name)
			}
		}
		im := &customImage{Seq: s.st.NextSeq(), ID: s.st.NewID("m", dest), RegionID: dest, Name: name,
			Description: c.p.get("DestinationDescription"), SourceInstance: src.SourceInstance,
			OSName: src.OSName, OSType: src.OSType, Platform: src.Platform, Architecture: src.Architecture, Size: src.Size,
			Tags: tags, Created: c.now, Ready: c.now.Add(ImageCreateTime)}
		if im.Name == "" {
			im.Name = im.ID
		}
		s.st.Images[im.ID] = im
		s.st.ImgOrder = append(s.st.ImgOrder, im)
		return []string{im.ID}, nil
	})
	if err != nil {
		return nil, err
	}
	return &struct {
		baseResp
		ImageId string
	}{baseResp{c.requestID}, ids[0]}, nil
}

func actAllocatePublicIpAddress(s *Server, c *call) (any, *apiError) {
	id, err := c.p.required("InstanceId")
	if err != nil {
		return nil, err
	}
	if c.p.get("IpAddress") != "" || c.p.get("VlanId") != "" {
		// BUG(emulator): choosing the address (IpAddress, VlanId) is not emulated.
		return nil, errInvalid("IpAddress", "the emulator allocates the address itself")
	}
	unlock := s.st.Lock(c.now)
	defer unlock()
	in, err := found(s.st.LiveInstance(id, c.region))
	if err != nil {
		return nil, err
	}
	if st := in.Status(c.now); st != StatusRunning && st != StatusStopped {
		return nil, errIncorrectStatus(in.ID, st)
	}
	if in.PublicIP != "" {
		return nil, newErr(http.StatusForbidden, "AllocatedAddress", "The instance %s already has public IP address %s.", in.ID, in.PublicIP)
	}
	if in.InternetMaxBandwidthOut == 0 {
		return nil, newErr(http.StatusForbidden, "InvalidInternetMaxBandwidthOut.ValueNotSupported",
			"The instance %s has no public bandwidth (InternetMaxBandwidthOut is 0).", in.ID)
	}
	in.PublicIP = s.st.NextPublicIP()
	c.mutated = true
	return &struct {
		baseResp
		IpAddress string
	}{baseResp{c.requestID}, in.PublicIP}, nil
}
