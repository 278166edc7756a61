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
	if err := ecsError(s.st.DeleteSnapshot(id, c.region, force)); err != nil {
		return nil, err
	}
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
	ip, err := found(s.st.AllocatePublicIP(id, c.region, c.now))
	if err != nil {
		return nil, err
	}
	c.mutated = true
	return &struct {
		baseResp
		IpAddress string
	}{baseResp{c.requestID}, ip}, nil
}
