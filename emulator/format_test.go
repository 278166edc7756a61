package emulator

import (
	"encoding/xml"
	"strings"
	"testing"
)

// TestXMLShape checks the XML form ECS documents: root <ActionResponse>,
// list members named as in the JSON form, errors as <Error> with
// RequestId, HostId, Code, Message and Recommend.
func TestXMLShape(t *testing.T) {
	srv, fc := newTestServer(t, Options{})
	ids := runIDs(t, mustOK(t, api(t, srv, fc, runParams(map[string]string{"Amount": "2", "Tag.1.Key": "k<&>", "Tag.1.Value": "v"}))))
	r := api(t, srv, fc, map[string]string{"Action": "DescribeInstances", "RegionId": DefaultRegion, "Format": "XML"})
	if r.Status != 200 || !strings.HasPrefix(r.Text, `<?xml version="1.0" encoding="UTF-8"?><DescribeInstancesResponse><RequestId>`) {
		t.Fatalf("%d %s", r.Status, r.Text)
	}
	var doc struct {
		XMLName   xml.Name `xml:"DescribeInstancesResponse"`
		RequestId string
		Instances struct {
			Instance []struct {
				InstanceId    string
				VpcAttributes struct{ PrivateIpAddress struct{ IpAddress []string } }
				Tags          struct {
					Tag []struct{ TagKey, TagValue string }
				}
				SecurityGroupIds        struct{ SecurityGroupId []string }
				IoOptimized             bool
				InternetMaxBandwidthOut int
			}
		}
	}
	if err := xml.Unmarshal([]byte(r.Text), &doc); err != nil {
		t.Fatal(err)
	}
	in := doc.Instances.Instance
	if len(in) != 2 || in[0].InstanceId != ids[0] || in[1].InstanceId != ids[1] || len(in[0].VpcAttributes.PrivateIpAddress.IpAddress) != 1 ||
		len(in[0].Tags.Tag) != 1 || in[0].Tags.Tag[0].TagKey != "k<&>" || in[0].SecurityGroupIds.SecurityGroupId[0] != DefaultSecurityGroupID || !in[0].IoOptimized {
		t.Fatalf("decoded %+v from %s", doc, r.Text)
	}
	// Accept chooses when Format is absent; Format wins over Accept.
	for _, c := range []struct {
		format, accept, want string
	}{
		{"\x00", "application/xml", "text/xml"}, {"\x00", "application/json", "application/json"},
		{"\x00", "", "text/xml"}, {"JSON", "application/xml", "application/json"}, {"xml", "application/json", "text/xml"},
	} {
		req := raw{params: map[string]string{"Action": "DescribeRegions", "Format": c.format}, baseURL: srv.URL(), accept: c.accept}
		resp := req.do(t, fc.Now())
		if resp.Status != 200 || !strings.HasPrefix(resp.ContentType, c.want) {
			t.Errorf("Format %q Accept %q: %d %s %s", c.format, c.accept, resp.Status, resp.ContentType, resp.Text)
		}
	}
	e := api(t, srv, fc, map[string]string{"Action": "StopInstance", "InstanceId": "i-nope", "Format": "XML"})
	var x struct {
		XMLName                                     xml.Name `xml:"Error"`
		RequestId, HostId, Code, Message, Recommend string
	}
	if err := xml.Unmarshal([]byte(e.Text), &x); err != nil || e.Status != 404 || x.Code != "InvalidInstanceId.NotFound" ||
		x.HostId != hostID || x.Recommend != "https://api.aliyun.com/troubleshoot?q=InvalidInstanceId.NotFound&product=Ecs&requestId="+x.RequestId {
		t.Fatalf("%d %+v %v\n%s", e.Status, x, err, e.Text)
	}
	if b := api(t, srv, fc, map[string]string{"Action": "DescribeRegions", "Format": "YAML"}); b.Status != 400 || b.Code() != "InvalidParameter" {
		t.Fatalf("Format=YAML: %d %s", b.Status, b.Text)
	}
}
