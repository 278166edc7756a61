package emulator

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	ecs7 "github.com/alibabacloud-go/ecs-20140526/v7/client"
	"github.com/alibabacloud-go/tea/tea"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	sdkecs "github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	"github.com/denverdino/aliyungo/common"
	goecs "github.com/denverdino/aliyungo/ecs"
)

// The catalogue, disk and security group operations of ecsClient, for each
// of the three clients. A rule is reported as "PROTO ports source policy".

// --- aliyungo -----------------------------------------------------------------

type goImagesResp struct {
	common.Response
	Images struct {
		Image []struct{ ImageId, OSName, OSNameEn string }
	}
}

func (g goClient) images() (map[string]string, error) {
	var resp goImagesResp
	err := g.c.Invoke("DescribeImages", &struct {
		RegionId string
		PageSize int
	}{DefaultRegion, 100}, &resp)
	out := map[string]string{}
	for _, im := range resp.Images.Image {
		out[im.ImageId] = im.OSNameEn
	}
	return out, err
}

func (g goClient) createDisk(zone string, size int) (string, error) {
	return g.c.CreateDisk(&goecs.CreateDiskArgs{RegionId: DefaultRegion, ZoneId: zone, Size: size, DiskCategory: "cloud_essd"})
}

func (g goClient) attachDisk(disk, inst string) error {
	return g.c.AttachDisk(&goecs.AttachDiskArgs{InstanceId: inst, DiskId: disk})
}

func (g goClient) diskStatus(id string) (string, string, error) {
	ds, _, err := g.c.DescribeDisks(&goecs.DescribeDisksArgs{RegionId: DefaultRegion, DiskIds: []string{id}})
	if err != nil || len(ds) == 0 {
		return "", "", err
	}
	return string(ds[0].Status), ds[0].InstanceId, nil
}

func (g goClient) deleteDisk(id string) error { return g.c.DeleteDisk(id) }

func (g goClient) createSG(name string) (string, error) {
	return g.c.CreateSecurityGroup(&goecs.CreateSecurityGroupArgs{RegionId: DefaultRegion, VpcId: DefaultVpcID, SecurityGroupName: name})
}

func (g goClient) authorize(sg, proto, ports, cidr string) error {
	return g.c.AuthorizeSecurityGroup(&goecs.AuthorizeSecurityGroupArgs{RegionId: DefaultRegion, SecurityGroupId: sg,
		IpProtocol: goecs.IpProtocol(proto), PortRange: ports, SourceCidrIp: cidr})
}

// aliyungo's typed DescribeSecurityGroupAttribute decodes Priority as a
// number, but ECS sends a string (both official SDKs' models say so), so
// the typed call fails against real ECS too: read it through Invoke.
type goSGAttrResp struct {
	common.Response
	Permissions struct {
		Permission []struct{ IpProtocol, PortRange, SourceCidrIp, Policy, Priority string }
	}
}

func (g goClient) rules(sg string) ([]string, error) {
	var resp goSGAttrResp
	err := g.c.Invoke("DescribeSecurityGroupAttribute", &goecs.DescribeSecurityGroupAttributeArgs{RegionId: DefaultRegion, SecurityGroupId: sg}, &resp)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, p := range resp.Permissions.Permission {
		out = append(out, p.IpProtocol+" "+p.PortRange+" "+p.SourceCidrIp+" "+p.Policy)
	}
	return out, nil
}

func (g goClient) join(inst, sg string) error  { return g.c.JoinSecurityGroup(inst, sg) }
func (g goClient) leave(inst, sg string) error { return g.c.LeaveSecurityGroup(inst, sg) }

func (g goClient) groupsOf(inst string) ([]string, error) {
	a, err := g.c.DescribeInstanceAttribute(inst)
	if err != nil {
		return nil, err
	}
	return a.SecurityGroupIds.SecurityGroupId, nil
}

func (g goClient) deleteSG(sg string) error { return g.c.DeleteSecurityGroup(DefaultRegion, sg) }

// --- alibaba-cloud-sdk-go, XML --------------------------------------------------

func (s sdkClient) images() (map[string]string, error) {
	r := sdkecs.CreateDescribeImagesRequest()
	s.at(r)
	r.AcceptFormat = "XML"
	r.RegionId, r.PageSize = DefaultRegion, requests.NewInteger(100)
	resp, err := s.c.DescribeImages(r)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, im := range resp.Images.Image {
		out[im.ImageId] = im.OSNameEn
	}
	return out, nil
}

func (s sdkClient) createDisk(zone string, size int) (string, error) {
	r := sdkecs.CreateCreateDiskRequest()
	s.at(r)
	r.AcceptFormat = "XML"
	r.RegionId, r.ZoneId, r.Size, r.DiskCategory = DefaultRegion, zone, requests.NewInteger(size), "cloud_essd"
	resp, err := s.c.CreateDisk(r)
	if err != nil {
		return "", err
	}
	return resp.DiskId, nil
}

func (s sdkClient) attachDisk(disk, inst string) error {
	r := sdkecs.CreateAttachDiskRequest()
	s.at(r)
	r.AcceptFormat = "XML"
	r.InstanceId, r.DiskId = inst, disk
	_, err := s.c.AttachDisk(r)
	return err
}

func (s sdkClient) diskStatus(id string) (string, string, error) {
	r := sdkecs.CreateDescribeDisksRequest()
	s.at(r)
	r.AcceptFormat = "XML"
	r.RegionId, r.DiskIds = DefaultRegion, `["`+id+`"]`
	resp, err := s.c.DescribeDisks(r)
	if err != nil || len(resp.Disks.Disk) == 0 {
		return "", "", err
	}
	return resp.Disks.Disk[0].Status, resp.Disks.Disk[0].InstanceId, nil
}

func (s sdkClient) deleteDisk(id string) error {
	r := sdkecs.CreateDeleteDiskRequest()
	s.at(r)
	r.AcceptFormat = "XML"
	r.DiskId = id
	_, err := s.c.DeleteDisk(r)
	return err
}

func (s sdkClient) createSG(name string) (string, error) {
	r := sdkecs.CreateCreateSecurityGroupRequest()
	s.at(r)
	r.AcceptFormat = "XML"
	r.RegionId, r.VpcId, r.SecurityGroupName = DefaultRegion, DefaultVpcID, name
	resp, err := s.c.CreateSecurityGroup(r)
	if err != nil {
		return "", err
	}
	return resp.SecurityGroupId, nil
}

func (s sdkClient) authorize(sg, proto, ports, cidr string) error {
	r := sdkecs.CreateAuthorizeSecurityGroupRequest()
	s.at(r)
	r.AcceptFormat = "XML"
	r.RegionId, r.SecurityGroupId, r.IpProtocol, r.PortRange, r.SourceCidrIp = DefaultRegion, sg, proto, ports, cidr
	_, err := s.c.AuthorizeSecurityGroup(r)
	return err
}

func (s sdkClient) rules(sg string) ([]string, error) {
	r := sdkecs.CreateDescribeSecurityGroupAttributeRequest()
	s.at(r)
	r.AcceptFormat = "XML"
	r.RegionId, r.SecurityGroupId = DefaultRegion, sg
	resp, err := s.c.DescribeSecurityGroupAttribute(r)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, p := range resp.Permissions.Permission {
		out = append(out, p.IpProtocol+" "+p.PortRange+" "+p.SourceCidrIp+" "+p.Policy)
	}
	return out, nil
}

func (s sdkClient) join(inst, sg string) error {
	r := sdkecs.CreateJoinSecurityGroupRequest()
	s.at(r)
	r.AcceptFormat = "XML"
	r.InstanceId, r.SecurityGroupId = inst, sg
	_, err := s.c.JoinSecurityGroup(r)
	return err
}

func (s sdkClient) leave(inst, sg string) error {
	r := sdkecs.CreateLeaveSecurityGroupRequest()
	s.at(r)
	r.AcceptFormat = "XML"
	r.InstanceId, r.SecurityGroupId = inst, sg
	_, err := s.c.LeaveSecurityGroup(r)
	return err
}

func (s sdkClient) groupsOf(inst string) ([]string, error) {
	r := sdkecs.CreateDescribeInstanceAttributeRequest()
	s.at(r)
	r.AcceptFormat = "XML"
	r.InstanceId = inst
	resp, err := s.c.DescribeInstanceAttribute(r)
	if err != nil {
		return nil, err
	}
	return resp.SecurityGroupIds.SecurityGroupId, nil
}

func (s sdkClient) deleteSG(sg string) error {
	r := sdkecs.CreateDeleteSecurityGroupRequest()
	s.at(r)
	r.AcceptFormat = "XML"
	r.RegionId, r.SecurityGroupId = DefaultRegion, sg
	_, err := s.c.DeleteSecurityGroup(r)
	return err
}

// --- ecs-20140526 (ACS3) ------------------------------------------------------

func (a acs3Client) images() (map[string]string, error) {
	resp, err := a.c.DescribeImages(&ecs7.DescribeImagesRequest{RegionId: tea.String(DefaultRegion), PageSize: tea.Int32(100)})
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, im := range resp.Body.Images.Image {
		out[tea.StringValue(im.ImageId)] = tea.StringValue(im.OSNameEn)
	}
	return out, nil
}

func (a acs3Client) createDisk(zone string, size int) (string, error) {
	resp, err := a.c.CreateDisk(&ecs7.CreateDiskRequest{RegionId: tea.String(DefaultRegion), ZoneId: tea.String(zone),
		Size: tea.Int32(int32(size)), DiskCategory: tea.String("cloud_essd")})
	if err != nil {
		return "", err
	}
	return tea.StringValue(resp.Body.DiskId), nil
}

func (a acs3Client) attachDisk(disk, inst string) error {
	_, err := a.c.AttachDisk(&ecs7.AttachDiskRequest{InstanceId: tea.String(inst), DiskId: tea.String(disk)})
	return err
}

func (a acs3Client) diskStatus(id string) (string, string, error) {
	resp, err := a.c.DescribeDisks(&ecs7.DescribeDisksRequest{RegionId: tea.String(DefaultRegion), DiskIds: tea.String(`["` + id + `"]`)})
	if err != nil || len(resp.Body.Disks.Disk) == 0 {
		return "", "", err
	}
	d := resp.Body.Disks.Disk[0]
	return tea.StringValue(d.Status), tea.StringValue(d.InstanceId), nil
}

func (a acs3Client) deleteDisk(id string) error {
	_, err := a.c.DeleteDisk(&ecs7.DeleteDiskRequest{DiskId: tea.String(id)})
	return err
}

func (a acs3Client) createSG(name string) (string, error) {
	resp, err := a.c.CreateSecurityGroup(&ecs7.CreateSecurityGroupRequest{RegionId: tea.String(DefaultRegion),
		VpcId: tea.String(DefaultVpcID), SecurityGroupName: tea.String(name)})
	if err != nil {
		return "", err
	}
	return tea.StringValue(resp.Body.SecurityGroupId), nil
}

func (a acs3Client) authorize(sg, proto, ports, cidr string) error {
	// The current SDK sends rules as Permissions.N.*, the older clients flat.
	_, err := a.c.AuthorizeSecurityGroup(&ecs7.AuthorizeSecurityGroupRequest{RegionId: tea.String(DefaultRegion), SecurityGroupId: tea.String(sg),
		Permissions: []*ecs7.AuthorizeSecurityGroupRequestPermissions{{IpProtocol: tea.String(proto), PortRange: tea.String(ports), SourceCidrIp: tea.String(cidr)}}})
	return err
}

func (a acs3Client) rules(sg string) ([]string, error) {
	resp, err := a.c.DescribeSecurityGroupAttribute(&ecs7.DescribeSecurityGroupAttributeRequest{RegionId: tea.String(DefaultRegion), SecurityGroupId: tea.String(sg)})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, p := range resp.Body.Permissions.Permission {
		out = append(out, tea.StringValue(p.IpProtocol)+" "+tea.StringValue(p.PortRange)+" "+tea.StringValue(p.SourceCidrIp)+" "+tea.StringValue(p.Policy))
	}
	return out, nil
}

func (a acs3Client) join(inst, sg string) error {
	_, err := a.c.JoinSecurityGroup(&ecs7.JoinSecurityGroupRequest{InstanceId: tea.String(inst), SecurityGroupId: tea.String(sg)})
	return err
}

func (a acs3Client) leave(inst, sg string) error {
	_, err := a.c.LeaveSecurityGroup(&ecs7.LeaveSecurityGroupRequest{InstanceId: tea.String(inst), SecurityGroupId: tea.String(sg)})
	return err
}

func (a acs3Client) groupsOf(inst string) ([]string, error) {
	resp, err := a.c.DescribeInstanceAttribute(&ecs7.DescribeInstanceAttributeRequest{InstanceId: tea.String(inst)})
	if err != nil {
		return nil, err
	}
	return tea.StringSliceValue(resp.Body.SecurityGroupIds.SecurityGroupId), nil
}

func (a acs3Client) deleteSG(sg string) error {
	_, err := a.c.DeleteSecurityGroup(&ecs7.DeleteSecurityGroupRequest{RegionId: tea.String(DefaultRegion), SecurityGroupId: tea.String(sg)})
	return err
}

var moreScenarios = []scenario{
	{"catalogue images", func(t *testing.T, c ecsClient, srv *Server) {
		ims, err := c.images()
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{
			DefaultImageID: "Ubuntu  22.04 64 bit",
			"win2022_21H2_x64_dtc_en-us_40G_alibase_20240101.vhd": "Windows Server  2022 Data Center Edition 64 bit English Edition",
		}
		for id, en := range want {
			if ims[id] != en {
				t.Errorf("OSNameEn of %s = %q, want %q", id, ims[id], en)
			}
		}
	}},
	{"disks", func(t *testing.T, c ecsClient, srv *Server) {
		ids, err := c.run(DefaultImageID, DefaultVSwitchH, 1, nil)
		if err != nil {
			t.Fatal(err)
		}
		d, err := c.createDisk("cn-hangzhou-h", 40)
		if err != nil {
			t.Fatal(err)
		}
		if st, in, err := c.diskStatus(d); err != nil || st != "Available" || in != "" {
			t.Fatalf("new disk: %s %q %v", st, in, err)
		}
		wantCode(t, c.attachDisk(d, ids[0]), http.StatusForbidden, "IncorrectInstanceStatus") // still Pending
		srv.Advance(DefaultBootTime)
		if err := c.attachDisk(d, ids[0]); err != nil {
			t.Fatal(err)
		}
		if st, in, err := c.diskStatus(d); err != nil || st != "In_use" || in != ids[0] {
			t.Fatalf("attached disk: %s %q %v", st, in, err)
		}
		wantCode(t, c.deleteDisk(d), http.StatusForbidden, "IncorrectDiskStatus")
		wantCode(t, c.attachDisk("d-nope", ids[0]), http.StatusNotFound, "InvalidDiskId.NotFound")
		_, err = c.createDisk("cn-hangzhou-h", 1)
		wantCode(t, err, http.StatusBadRequest, "InvalidParameter")
		if err := c.remove(ids[0], true); err != nil {
			t.Fatal(err)
		}
		if st, in, err := c.diskStatus(d); err != nil || st != "Available" || in != "" {
			t.Fatalf("disk after instance release: %s %q %v", st, in, err)
		}
		if err := c.deleteDisk(d); err != nil {
			t.Fatal(err)
		}
		wantCode(t, c.deleteDisk(d), http.StatusNotFound, "InvalidDiskId.NotFound")
	}},
	{"security groups", func(t *testing.T, c ecsClient, srv *Server) {
		sg, err := c.createSG("web")
		if err != nil || !strings.HasPrefix(sg, "sg-") {
			t.Fatalf("create: %q %v", sg, err)
		}
		if err := c.authorize(sg, "tcp", "22/22", "10.0.0.0/8"); err != nil {
			t.Fatal(err)
		}
		if err := c.authorize(sg, "TCP", "80/443", "0.0.0.0/0"); err != nil {
			t.Fatal(err)
		}
		if err := c.authorize(sg, "tcp", "22/22", "10.0.0.0/8"); err != nil { // the same rule again is no error
			t.Fatal(err)
		}
		got, err := c.rules(sg)
		want := []string{"TCP 22/22 10.0.0.0/8 Accept", "TCP 80/443 0.0.0.0/0 Accept"}
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("rules %q, %v; want %q", got, err, want)
		}
		wantCode(t, c.authorize(sg, "tcp", "0/70000", "0.0.0.0/0"), http.StatusBadRequest, "InvalidPortRange.Malformed")
		wantCode(t, c.authorize(sg, "sctp", "1/2", "0.0.0.0/0"), http.StatusBadRequest, "InvalidIpProtocol.Malformed")
		wantCode(t, c.authorize(sg, "tcp", "1/2", "10.0.0.300/8"), http.StatusBadRequest, "InvalidSourceCidrIp.Malformed")
		wantCode(t, c.authorize("sg-nope", "tcp", "1/2", "0.0.0.0/0"), http.StatusNotFound, "InvalidSecurityGroupId.NotFound")
		if got, _ := c.rules(sg); len(got) != 2 {
			t.Fatalf("refused rules were kept: %q", got)
		}

		ids, err := c.run(DefaultImageID, DefaultVSwitchH, 1, nil)
		if err != nil {
			t.Fatal(err)
		}
		wantCode(t, c.join(ids[0], sg), http.StatusForbidden, "IncorrectInstanceStatus") // Pending
		srv.Advance(DefaultBootTime)
		if err := c.join(ids[0], sg); err != nil {
			t.Fatal(err)
		}
		if g, err := c.groupsOf(ids[0]); err != nil || !slices.Equal(g, []string{DefaultSecurityGroupID, sg}) {
			t.Fatalf("groups after join: %v %v", g, err)
		}
		wantCode(t, c.join(ids[0], sg), http.StatusForbidden, "InvalidInstanceId.AlreadyExists")
		wantCode(t, c.deleteSG(sg), http.StatusForbidden, "DependencyViolation")
		if err := c.leave(ids[0], DefaultSecurityGroupID); err != nil {
			t.Fatal(err)
		}
		wantCode(t, c.leave(ids[0], sg), http.StatusForbidden, "InstanceLastSecurityGroup")
		wantCode(t, c.leave(ids[0], DefaultSecurityGroupID), http.StatusNotFound, "InvalidSecurityGroupAssociation.NotFound")
		if g, err := c.groupsOf(ids[0]); err != nil || !slices.Equal(g, []string{sg}) {
			t.Fatalf("groups after leave: %v %v", g, err)
		}
		// A new instance can be launched into the new group.
		if _, err := c.run(DefaultImageID, DefaultVSwitchH, 1, nil); err != nil {
			t.Fatal(err)
		}
		if err := c.remove(ids[0], true); err != nil {
			t.Fatal(err)
		}
		if err := c.deleteSG(sg); err != nil {
			t.Fatal(err)
		}
		wantCode(t, c.deleteSG(sg), http.StatusNotFound, "InvalidSecurityGroupId.NotFound")
		_, err = c.rules(sg)
		wantCode(t, err, http.StatusNotFound, "InvalidSecurityGroupId.NotFound")
	}},
}
