package emulator

import (
	"strings"
	"testing"
)

// TestSnapshotImageAndPublicIP covers DeleteSnapshot, CopyImage and
// AllocatePublicIpAddress: state kept, refusals create or delete nothing.
func TestSnapshotImageAndPublicIP(t *testing.T) {
	srv, fc := newTestServer(t, Options{})
	call := func(p ...string) rawResp {
		m := map[string]string{}
		for i := 0; i+1 < len(p); i += 2 {
			m[p[i]] = p[i+1]
		}
		return api(t, srv, fc, m)
	}
	want := func(r rawResp, status int, code string) {
		t.Helper()
		if r.Status != status || r.Code() != code {
			t.Fatalf("want %d %s, got %d %s", status, code, r.Status, r.Text)
		}
	}
	// CreateInstance leaves the instance Stopped and without a public IP.
	id := mustOK(t, call("Action", "CreateInstance", "RegionId", DefaultRegion, "ImageId", DefaultImageID,
		"InstanceType", DefaultInstanceType, "VSwitchId", DefaultVSwitchH, "SecurityGroupId", DefaultSecurityGroupID,
		"InternetMaxBandwidthOut", "5")).Body["InstanceId"].(string)
	srv.Advance(DefaultBootTime)
	ip := mustOK(t, call("Action", "AllocatePublicIpAddress", "InstanceId", id)).Body["IpAddress"].(string)
	if !strings.HasPrefix(ip, "47.") {
		t.Fatalf("public IP %q", ip)
	}
	want(call("Action", "AllocatePublicIpAddress", "InstanceId", id), 403, "AllocatedAddress")
	want(call("Action", "AllocatePublicIpAddress", "InstanceId", "i-nope"), 404, "InvalidInstanceId.NotFound")
	attr := mustOK(t, call("Action", "DescribeInstanceAttribute", "InstanceId", id)).Body
	if got := attr["PublicIpAddress"].(map[string]any)["IpAddress"].([]any); len(got) != 1 || got[0] != ip {
		t.Fatalf("instance public IPs %v, want [%s]", got, ip)
	}

	disks := mustOK(t, call("Action", "DescribeDisks", "RegionId", DefaultRegion, "InstanceId", id, "DiskType", "system")).Body
	sysDisk := disks["Disks"].(map[string]any)["Disk"].([]any)[0].(map[string]any)["DiskId"].(string)
	snap := mustOK(t, call("Action", "CreateSnapshot", "DiskId", sysDisk)).Body["SnapshotId"].(string)
	mustOK(t, call("Action", "CreateDisk", "RegionId", DefaultRegion, "ZoneId", "cn-hangzhou-h", "SnapshotId", snap))
	want(call("Action", "DeleteSnapshot", "SnapshotId", snap), 403, "SnapshotCreatedDisk")
	img := mustOK(t, call("Action", "CreateImage", "RegionId", DefaultRegion, "SnapshotId", snap, "ImageName", "golden")).Body["ImageId"].(string)
	want(call("Action", "DeleteSnapshot", "SnapshotId", snap, "Force", "true"), 403, "SnapshotCreatedImage")

	// CopyImage: only Available custom images, into an existing region.
	want(call("Action", "CopyImage", "RegionId", DefaultRegion, "ImageId", img, "DestinationRegionId", "cn-beijing"), 403, "IncorrectImageStatus")
	srv.Advance(ImageCreateTime)
	want(call("Action", "CopyImage", "RegionId", DefaultRegion, "ImageId", DefaultImageID, "DestinationRegionId", "cn-beijing"), 403, "InvalidImageId.IsSystemImage")
	want(call("Action", "CopyImage", "RegionId", DefaultRegion, "ImageId", img, "DestinationRegionId", "mars-1"), 404, "InvalidRegionId.NotFound")
	want(call("Action", "CopyImage", "RegionId", "cn-beijing", "ImageId", img, "DestinationRegionId", "cn-hangzhou"), 404, "InvalidImageId.NotFound")
	cp := mustOK(t, call("Action", "CopyImage", "RegionId", DefaultRegion, "ImageId", img, "DestinationRegionId", "cn-beijing",
		"DestinationImageName", "golden-bj", "Tag.1.Key", "env", "Tag.1.Value", "prod")).Body["ImageId"].(string)
	list := mustOK(t, call("Action", "DescribeImages", "RegionId", "cn-beijing", "ImageId", cp, "Status", "Creating,Available")).Body
	ims := list["Images"].(map[string]any)["Image"].([]any)
	if len(ims) != 1 || ims[0].(map[string]any)["ImageName"] != "golden-bj" || ims[0].(map[string]any)["Status"] != "Creating" ||
		ims[0].(map[string]any)["Tags"].(map[string]any)["Tag"].([]any)[0].(map[string]any)["TagKey"] != "env" {
		t.Fatalf("copied image: %v", list)
	}

	// Once the image is gone and the disk deleted, the snapshot can go.
	mustOK(t, call("Action", "DeleteImage", "RegionId", DefaultRegion, "ImageId", img))
	mustOK(t, call("Action", "DeleteSnapshot", "SnapshotId", snap, "Force", "true")) // disk still made from it: Force
	want(call("Action", "DeleteSnapshot", "SnapshotId", snap), 404, "InvalidSnapshotId.NotFound")
	snaps := mustOK(t, call("Action", "DescribeSnapshots", "RegionId", DefaultRegion)).Body
	if n := len(snaps["Snapshots"].(map[string]any)["Snapshot"].([]any)); n != 0 {
		t.Fatalf("deleted snapshot still listed: %v", snaps)
	}
}
