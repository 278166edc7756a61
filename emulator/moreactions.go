package emulator

import (
	"net/http"
	"strings"

	"infrakit.aliyun/emulator/internal/state"
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
		copyID, err := found(s.st.CopyImage(id, region, &state.ImageSpec{Region: dest, Name: name,
			Description: c.p.get("DestinationDescription"), Tags: tags}, c.now.Add(ImageCreateTime), c.now))
		if err != nil {
			return nil, err
		}
		return []string{copyID}, nil
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
