package emulator

import (
	"strconv"

	"infrakit.aliyun/emulator/internal/state"
)

type disksResp struct {
	baseResp
	tokenPage
	Disks struct {
		Disk []wireDisk
	}
}

func actDescribeDisks(s *Server, c *call) (any, *apiError) {
	p := c.p
	region, err := p.required("RegionId")
	if err != nil {
		return nil, err
	}
	ids, err := p.jsonList("DiskIds", 100)
	if err != nil {
		return nil, err
	}
	tags, err := parseTagFilter(p)
	if err != nil {
		return nil, err
	}
	pg, err := tokenPageArgs(p, 500, 100)
	if err != nil {
		return nil, err
	}
	zone, inst, dtype, cat, status, name := p.get("ZoneId"), p.get("InstanceId"), p.get("DiskType"), p.get("Category"), p.get("Status"), p.get("DiskName")
	if dtype == "all" {
		dtype = ""
	}
	if status == "All" {
		status = ""
	}
	var dwi *bool
	if p.has("DeleteWithInstance") {
		v, err := p.boolean("DeleteWithInstance", false)
		if err != nil {
			return nil, err
		}
		dwi = &v
	}
	unlock := s.st.Lock(c.now)
	defer unlock()
	// An ID or InstanceId filter looks its disks up (an instance knows its
	// system disk and every data disk attached to it since creation); other
	// filters walk all disks.
	source := s.st.DiskOrder
	switch {
	case len(ids) > 0:
		source = state.Pick(s.st.Disks, ids)
	case inst != "":
		source = nil
		if in := s.st.Instances[inst]; in != nil {
			source = state.Pick(s.st.Disks, append([]string{in.SystemDiskID}, in.DataDiskIDs...))
		}
	}
	r := &disksResp{baseResp: baseResp{c.requestID}, tokenPage: pg}
	r.Disks.Disk = []wireDisk{}
	for _, d := range source {
		if d.IsDeleted() || d.RegionID != region || d.Seq < pg.from || (zone != "" && d.ZoneID != zone) || (inst != "" && d.InstanceID != inst) ||
			(dtype != "" && d.Type != dtype) || (cat != "" && d.Category != cat) || (status != "" && d.Status() != status) ||
			(name != "" && d.Name != name) || (dwi != nil && *dwi != d.DeleteWithInstance) || !state.MatchTags(d.Tags, tags) {
			continue
		}
		if r.take(d.Seq) {
			r.Disks.Disk = append(r.Disks.Disk, toWireDisk(d))
		}
	}
	return r, nil
}

type createDiskResp struct {
	baseResp
	DiskId string
}

func actCreateDisk(s *Server, c *call) (any, *apiError) {
	p := c.p
	region, err := p.required("RegionId")
	if err != nil {
		return nil, err
	}
	zone, err := p.required("ZoneId")
	if err != nil {
		return nil, err
	}
	if err := s.cat.checkZone(zone, region); err != nil {
		return nil, err
	}
	category := p.get("DiskCategory")
	if category == "" {
		// BUG(emulator): real ECS defaults DiskCategory to "cloud" (basic
		// disk), which few zones still sell; the emulator uses cloud_efficiency.
		category = "cloud_efficiency"
	}
	if !s.validCategory(category) {
		return nil, errInvalid("DiskCategory", "unsupported disk category")
	}
	size, err := p.intIn("Size", 0, 20, 32768)
	if err != nil {
		return nil, err
	}
	snap := p.get("SnapshotId")
	if size == 0 && snap == "" {
		return nil, errMissing("Size")
	}
	enc, err := p.boolean("Encrypted", false)
	if err != nil {
		return nil, err
	}
	tags, err := parseTags(p)
	if err != nil {
		return nil, err
	}
	ids, err := s.createOnce(c, func() ([]string, *apiError) {
		id, err := found(s.st.CreateDisk(&state.DiskSpec{Region: region, Zone: zone, Name: p.get("DiskName"),
			Description: p.get("Description"), Category: category, Size: size, SnapshotID: snap, Encrypted: enc, Tags: tags}, c.now))
		if err != nil {
			return nil, err
		}
		return []string{id}, nil
	})
	if err != nil {
		return nil, err
	}
	return &createDiskResp{baseResp{c.requestID}, ids[0]}, nil
}

// maxDataDisks is the state's limit, also applied to RunInstances' DataDisk.N.
const maxDataDisks = state.MaxDataDisks

func actAttachDisk(s *Server, c *call) (any, *apiError) {
	iid, err := c.p.required("InstanceId")
	if err != nil {
		return nil, err
	}
	did, err := c.p.required("DiskId")
	if err != nil {
		return nil, err
	}
	dwi, err := c.p.boolean("DeleteWithInstance", false)
	if err != nil {
		return nil, err
	}
	unlock := s.st.Lock(c.now)
	defer unlock()
	if err := ecsError(s.st.AttachDisk(iid, did, c.region, c.p.get("Device"), dwi, c.now)); err != nil {
		return nil, err
	}
	c.mutated = true
	return &baseResp{c.requestID}, nil
}

func actDetachDisk(s *Server, c *call) (any, *apiError) {
	iid, err := c.p.required("InstanceId")
	if err != nil {
		return nil, err
	}
	did, err := c.p.required("DiskId")
	if err != nil {
		return nil, err
	}
	unlock := s.st.Lock(c.now)
	defer unlock()
	if err := ecsError(s.st.DetachDisk(iid, did, c.region, c.now)); err != nil {
		return nil, err
	}
	c.mutated = true
	return &baseResp{c.requestID}, nil
}

func actDeleteDisk(s *Server, c *call) (any, *apiError) {
	did, err := c.p.required("DiskId")
	if err != nil {
		return nil, err
	}
	unlock := s.st.Lock(c.now)
	defer unlock()
	if err := ecsError(s.st.DeleteDisk(did, c.region, c.now)); err != nil {
		return nil, err
	}
	c.mutated = true
	return &baseResp{c.requestID}, nil
}

func actModifyDiskAttribute(s *Server, c *call) (any, *apiError) {
	p := c.p
	ids := p.list("DiskIds")
	if id := p.get("DiskId"); id != "" {
		ids = append([]string{id}, ids...)
	}
	if len(ids) == 0 {
		return nil, errMissing("DiskId")
	}
	if len(ids) > 100 {
		return nil, errInvalid("DiskIds", "at most 100")
	}
	var ch state.DiskChange
	for k, dst := range map[string]**bool{"DeleteWithInstance": &ch.DeleteWithInstance,
		"DeleteAutoSnapshot": &ch.DeleteAutoSnapshot, "EnableAutoSnapshot": &ch.EnableAutoSnapshot} {
		if p.has(k) {
			v, err := p.boolean(k, false)
			if err != nil {
				return nil, err
			}
			*dst = &v
		}
	}
	if n := p.get("DiskName"); p.has("DiskName") && (len(n) < 2 || len(n) > 128) {
		return nil, errInvalid("DiskName", "2 to 128 characters")
	}
	if p.has("DiskName") {
		v := p.get("DiskName")
		ch.Name = &v
	}
	if p.has("Description") {
		v := p.get("Description")
		ch.Description = &v
	}
	// BUG(emulator): a system disk is always deleted with its instance,
	// even after ModifyDiskAttribute DeleteWithInstance=false.
	unlock := s.st.Lock(c.now)
	defer unlock()
	if err := ecsError(s.st.ModifyDisks(ids, c.region, ch)); err != nil {
		return nil, err
	}
	c.mutated = true
	return &baseResp{c.requestID}, nil
}

type createSnapshotResp struct {
	baseResp
	SnapshotId string
}

func actCreateSnapshot(s *Server, c *call) (any, *apiError) {
	did, err := c.p.required("DiskId")
	if err != nil {
		return nil, err
	}
	tags, err := parseTags(c.p)
	if err != nil {
		return nil, err
	}
	ids, err := s.createOnce(c, func() ([]string, *apiError) {
		id, err := found(s.st.CreateSnapshot(did, c.region, c.p.get("SnapshotName"), tags, c.now))
		if err != nil {
			return nil, err
		}
		return []string{id}, nil
	})
	if err != nil {
		return nil, err
	}
	return &createSnapshotResp{baseResp{c.requestID}, ids[0]}, nil
}

type snapshotsResp struct {
	baseResp
	page
	Snapshots struct {
		Snapshot []wireSnapshot
	}
}

type wireSnapshot struct {
	SnapshotId     string
	SnapshotName   string
	SourceDiskId   string
	SourceDiskSize string
	SourceDiskType string
	Status         string
	Progress       string
	CreationTime   string
	Tags           wireTags
}

func actDescribeSnapshots(s *Server, c *call) (any, *apiError) {
	region, pg, err := regionPageArgs(c.p, 100)
	if err != nil {
		return nil, err
	}
	ids, err := c.p.jsonList("SnapshotIds", 100)
	if err != nil {
		return nil, err
	}
	diskF := c.p.get("DiskId")
	unlock := s.st.Lock(c.now)
	defer unlock()
	r := &snapshotsResp{baseResp: baseResp{c.requestID}, page: pg}
	r.Snapshots.Snapshot = []wireSnapshot{}
	for _, sn := range state.InSeqOrder(s.st.Snapshots) {
		if sn.Deleted || sn.RegionID != region || (diskF != "" && sn.DiskID != diskF) || !inFilter(ids, sn.ID) {
			continue
		}
		if r.take() {
			typ := "data"
			if d := s.st.Disks[sn.DiskID]; d != nil {
				typ = d.Type
			}
			r.Snapshots.Snapshot = append(r.Snapshots.Snapshot, wireSnapshot{sn.ID, sn.Name, sn.DiskID, strconv.Itoa(sn.Size),
				typ, "accomplished", "100%", fmtTime(sn.Created), toWireTags(sn.Tags)})
		}
	}
	return r, nil
}

// actionTable maps every implemented Action to its handler.
func actionTable() map[string]actionFunc {
	return map[string]actionFunc{
		"RunInstances":                   actRunInstances,
		"CreateInstance":                 actCreateInstance,
		"StartInstance":                  single((*Server).startOne),
		"StartInstances":                 batch((*Server).startOne),
		"StopInstance":                   single((*Server).stopOne),
		"StopInstances":                  batch((*Server).stopOne),
		"RebootInstance":                 single((*Server).rebootOne),
		"RebootInstances":                batch((*Server).rebootOne),
		"DeleteInstance":                 actDeleteInstance,
		"DeleteInstances":                actDeleteInstances,
		"DescribeInstances":              actDescribeInstances,
		"DescribeInstanceAttribute":      actDescribeInstanceAttribute,
		"DescribeInstanceStatus":         actDescribeInstanceStatus,
		"ModifyInstanceAttribute":        actModifyInstanceAttribute,
		"AddTags":                        actAddTags,
		"RemoveTags":                     actRemoveTags,
		"DescribeTags":                   actDescribeTags,
		"TagResources":                   actTagResources,
		"UntagResources":                 actUntagResources,
		"ListTagResources":               actListTagResources,
		"DescribeRegions":                actDescribeRegions,
		"DescribeZones":                  actDescribeZones,
		"DescribeInstanceTypes":          actDescribeInstanceTypes,
		"DescribeAvailableResource":      actDescribeAvailableResource,
		"DescribeImages":                 actDescribeImages,
		"CreateImage":                    actCreateImage,
		"DeleteImage":                    actDeleteImage,
		"DescribeSecurityGroups":         actDescribeSecurityGroups,
		"DescribeVSwitches":              actDescribeVSwitches,
		"DescribeKeyPairs":               actDescribeKeyPairs,
		"DescribeDisks":                  actDescribeDisks,
		"CreateDisk":                     actCreateDisk,
		"AttachDisk":                     actAttachDisk,
		"DetachDisk":                     actDetachDisk,
		"DeleteDisk":                     actDeleteDisk,
		"ModifyDiskAttribute":            actModifyDiskAttribute,
		"CreateSnapshot":                 actCreateSnapshot,
		"DescribeSnapshots":              actDescribeSnapshots,
		"DeleteSnapshot":                 actDeleteSnapshot,
		"CopyImage":                      actCopyImage,
		"CreateSecurityGroup":            actCreateSecurityGroup,
		"DeleteSecurityGroup":            actDeleteSecurityGroup,
		"DescribeSecurityGroupAttribute": actDescribeSecurityGroupAttribute,
		"AuthorizeSecurityGroup":         actAuthorizeSecurityGroup,
		"JoinSecurityGroup":              joinLeave(true),
		"LeaveSecurityGroup":             joinLeave(false),
		"AllocatePublicIpAddress":        actAllocatePublicIpAddress,
	}
}
