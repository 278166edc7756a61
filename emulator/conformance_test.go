package emulator

import (
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alibabacloud-go/tea/tea"
	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	sdkecs "github.com/aliyun/alibaba-cloud-sdk-go/services/ecs"
	"github.com/denverdino/aliyungo/common"
	goecs "github.com/denverdino/aliyungo/ecs"
)

// ecsClient is the small surface the conformance scenarios need; it is
// implemented with aliyungo (GET, JSON), the older official SDK
// alibaba-cloud-sdk-go (POST, HMAC-SHA1, XML answers) and the current
// official SDK ecs-20140526 (POST, ACS3-HMAC-SHA256, JSON), so that a
// misunderstanding shared by the emulator and one client cannot hide.
type ecsClient interface {
	run(image, vswitch string, amount int, tags map[string]string) ([]string, error)
	list(tags map[string]string, max int, next string) (ids []string, nextToken string, err error)
	get(id string) (status string, tags map[string]string, privateIP string, found bool, err error)
	tag(id, k, v string) error
	untag(id, k string) error
	start(id string) error
	stop(id string) error
	remove(id string, force bool) error
	regions() ([]string, error)
	images() (osNameEn map[string]string, err error)
	createDisk(zone string, size int) (string, error)
	attachDisk(disk, inst string) error
	diskStatus(id string) (status, instance string, err error)
	deleteDisk(id string) error
	createSG(name string) (string, error)
	authorize(sg, proto, ports, cidr string) error
	rules(sg string) ([]string, error)
	join(inst, sg string) error
	leave(inst, sg string) error
	groupsOf(inst string) ([]string, error)
	deleteSG(sg string) error
}

// apiErr extracts (HTTP status, Code) from either client's error.
func apiErr(err error) (int, string) {
	var a *common.Error
	if errors.As(err, &a) {
		return a.StatusCode, a.Code
	}
	var s *sdkerrors.ServerError
	if errors.As(err, &s) {
		if s.ErrorCode() != "" {
			return s.HttpStatus(), s.ErrorCode()
		}
		// In XML mode the SDK only parses JSON errors: read the XML
		// <Error> ourselves, which also checks its documented shape.
		var x struct {
			XMLName                                     xml.Name
			RequestId, HostId, Code, Message, Recommend string
		}
		if xml.Unmarshal([]byte(s.Message()), &x) != nil || x.XMLName.Local != "Error" ||
			x.RequestId == "" || x.HostId == "" || x.Message == "" ||
			x.Recommend != recommend(x.Code, x.RequestId) {
			return s.HttpStatus(), "malformed XML error: " + s.Message()
		}
		return s.HttpStatus(), x.Code
	}
	var te *tea.SDKError
	if errors.As(err, &te) {
		return tea.IntValue(te.StatusCode), tea.StringValue(te.Code)
	}
	return 0, fmt.Sprint(err)
}

func sortedTags(m map[string]string) []goecs.TagType {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]goecs.TagType, 0, len(m))
	for _, k := range keys {
		out = append(out, goecs.TagType{Key: k, Value: m[k]})
	}
	return out
}

// --- aliyungo -----------------------------------------------------------------

type goClient struct{ c *goecs.Client }

func newGoClient(srv *Server) ecsClient {
	return goClient{goecs.NewECSClientWithEndpointAndSecurityToken(srv.URL(), DefaultAccessKeyID, DefaultAccessKeySecret, "", DefaultRegion)}
}

// aliyungo's RunInstanceArgs has no Amount; call through Invoke with our
// own argument struct as the reference recommends.
type goRunArgs struct {
	RegionId        string
	ImageId         string
	InstanceType    string
	VSwitchId       string
	SecurityGroupId string
	Amount          int
	Tag             []goecs.TagType
}

type goRunResp struct {
	common.Response
	InstanceIdSets struct{ InstanceIdSet []string }
}

func (g goClient) run(image, vswitch string, amount int, tags map[string]string) ([]string, error) {
	var resp goRunResp
	err := g.c.Invoke("RunInstances", &goRunArgs{DefaultRegion, image, DefaultInstanceType, vswitch, DefaultSecurityGroupID, amount, sortedTags(tags)}, &resp)
	return resp.InstanceIdSets.InstanceIdSet, err
}

func (g goClient) list(tags map[string]string, max int, next string) ([]string, string, error) {
	resp, err := g.c.DescribeInstancesWithRaw(&goecs.DescribeInstancesArgs{RegionId: DefaultRegion, Tag: sortedTags(tags), MaxResults: max, NextToken: next})
	if err != nil {
		return nil, "", err
	}
	var ids []string
	for _, in := range resp.Instances.Instance {
		ids = append(ids, in.InstanceId)
	}
	return ids, resp.NextToken, nil
}

func (g goClient) get(id string) (string, map[string]string, string, bool, error) {
	ins, _, err := g.c.DescribeInstances(&goecs.DescribeInstancesArgs{RegionId: DefaultRegion, InstanceIds: `["` + id + `"]`})
	if err != nil || len(ins) == 0 {
		return "", nil, "", false, err
	}
	tags := map[string]string{}
	for _, t := range ins[0].Tags.Tag {
		tags[t.TagKey] = t.TagValue
	}
	ip := ""
	if a := ins[0].VpcAttributes.PrivateIpAddress.IpAddress; len(a) > 0 {
		ip = a[0]
	}
	if ins[0].CreationTime.IsDefault() {
		return "", nil, "", false, errors.New("aliyungo could not parse CreationTime")
	}
	return string(ins[0].Status), tags, ip, true, nil
}

type goTagArgs struct {
	RegionId     string
	ResourceType string
	ResourceId   []string `query:"list"`
	Tag          []goecs.TagType
}

type goUntagArgs struct {
	RegionId     string
	ResourceType string
	ResourceId   []string `query:"list"`
	TagKey       []string `query:"list"`
}

func (g goClient) tag(id, k, v string) error {
	return g.c.Invoke("TagResources", &goTagArgs{DefaultRegion, "instance", []string{id}, []goecs.TagType{{Key: k, Value: v}}}, &common.Response{})
}

func (g goClient) untag(id, k string) error {
	return g.c.Invoke("UntagResources", &goUntagArgs{DefaultRegion, "instance", []string{id}, []string{k}}, &common.Response{})
}

func (g goClient) start(id string) error { return g.c.StartInstance(id) }
func (g goClient) stop(id string) error  { return g.c.StopInstance(id, false) }

func (g goClient) remove(id string, force bool) error {
	return g.c.Invoke("DeleteInstance", &struct {
		InstanceId string
		Force      bool
	}{id, force}, &common.Response{})
}

func (g goClient) regions() ([]string, error) {
	rs, err := g.c.DescribeRegions()
	var out []string
	for _, r := range rs {
		out = append(out, string(r.RegionId))
	}
	return out, err
}

// --- official SDK -------------------------------------------------------------

type sdkClient struct {
	c    *sdkecs.Client
	host string
}

// The official SDK fills its package-level endpoint table on first use without
// a lock, so clients created by parallel subtests race. Fill it once, first.
func init() { sdkecs.GetEndpointMap() }

func newSDKClient(t testing.TB, srv *Server) ecsClient {
	c, err := sdkecs.NewClientWithAccessKey(DefaultRegion, DefaultAccessKeyID, DefaultAccessKeySecret)
	if err != nil {
		t.Fatal(err)
	}
	return sdkClient{c, strings.TrimPrefix(srv.URL(), "http://")}
}

// at points a request at the emulator over plain HTTP.
func (s sdkClient) at(r requests.AcsRequest) {
	r.SetScheme("http")
	r.SetDomain(s.host)
}

func (s sdkClient) run(image, vswitch string, amount int, tags map[string]string) ([]string, error) {
	r := sdkecs.CreateRunInstancesRequest()
	s.at(r)
	r.AcceptFormat = "XML"
	r.RegionId, r.ImageId, r.InstanceType, r.VSwitchId, r.SecurityGroupId = DefaultRegion, image, DefaultInstanceType, vswitch, DefaultSecurityGroupID
	r.Amount = requests.NewInteger(amount)
	var ts []sdkecs.RunInstancesTag
	for _, t := range sortedTags(tags) {
		ts = append(ts, sdkecs.RunInstancesTag{Key: t.Key, Value: t.Value})
	}
	r.Tag = &ts
	resp, err := s.c.RunInstances(r)
	if err != nil {
		return nil, err
	}
	return resp.InstanceIdSets.InstanceIdSet, nil
}

func (s sdkClient) describe(tags map[string]string, ids string, max int, next string) (*sdkecs.DescribeInstancesResponse, error) {
	r := sdkecs.CreateDescribeInstancesRequest()
	s.at(r)
	r.AcceptFormat = "XML"
	r.RegionId, r.InstanceIds, r.NextToken = DefaultRegion, ids, next
	if max > 0 {
		r.MaxResults = requests.NewInteger(max)
	}
	var ts []sdkecs.DescribeInstancesTag
	for _, t := range sortedTags(tags) {
		ts = append(ts, sdkecs.DescribeInstancesTag{Key: t.Key, Value: t.Value})
	}
	r.Tag = &ts
	return s.c.DescribeInstances(r)
}

func (s sdkClient) list(tags map[string]string, max int, next string) ([]string, string, error) {
	resp, err := s.describe(tags, "", max, next)
	if err != nil {
		return nil, "", err
	}
	var ids []string
	for _, in := range resp.Instances.Instance {
		ids = append(ids, in.InstanceId)
	}
	return ids, resp.NextToken, nil
}

func (s sdkClient) get(id string) (string, map[string]string, string, bool, error) {
	resp, err := s.describe(nil, `["`+id+`"]`, 0, "")
	if err != nil || len(resp.Instances.Instance) == 0 {
		return "", nil, "", false, err
	}
	in := resp.Instances.Instance[0]
	tags := map[string]string{}
	for _, t := range in.Tags.Tag {
		tags[t.TagKey] = t.TagValue
	}
	ip := ""
	if a := in.VpcAttributes.PrivateIpAddress.IpAddress; len(a) > 0 {
		ip = a[0]
	}
	return in.Status, tags, ip, true, nil
}

func (s sdkClient) tag(id, k, v string) error {
	r := sdkecs.CreateTagResourcesRequest()
	s.at(r)
	r.AcceptFormat = "XML"
	r.RegionId, r.ResourceType = DefaultRegion, "instance"
	r.ResourceId = &[]string{id}
	r.Tag = &[]sdkecs.TagResourcesTag{{Key: k, Value: v}}
	_, err := s.c.TagResources(r)
	return err
}

func (s sdkClient) untag(id, k string) error {
	r := sdkecs.CreateUntagResourcesRequest()
	s.at(r)
	r.AcceptFormat = "XML"
	r.RegionId, r.ResourceType = DefaultRegion, "instance"
	r.ResourceId = &[]string{id}
	r.TagKey = &[]string{k}
	_, err := s.c.UntagResources(r)
	return err
}

func (s sdkClient) start(id string) error {
	r := sdkecs.CreateStartInstanceRequest()
	s.at(r)
	r.AcceptFormat = "XML"
	r.InstanceId = id
	_, err := s.c.StartInstance(r)
	return err
}

func (s sdkClient) stop(id string) error {
	r := sdkecs.CreateStopInstanceRequest()
	s.at(r)
	r.AcceptFormat = "XML"
	r.InstanceId = id
	_, err := s.c.StopInstance(r)
	return err
}

func (s sdkClient) remove(id string, force bool) error {
	r := sdkecs.CreateDeleteInstanceRequest()
	s.at(r)
	r.AcceptFormat = "XML"
	r.InstanceId = id
	r.Force = requests.NewBoolean(force)
	_, err := s.c.DeleteInstance(r)
	return err
}

func (s sdkClient) regions() ([]string, error) {
	r := sdkecs.CreateDescribeRegionsRequest()
	s.at(r)
	r.AcceptFormat = "XML"
	resp, err := s.c.DescribeRegions(r)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, x := range resp.Regions.Region {
		out = append(out, x.RegionId)
	}
	return out, nil
}

// --- scenarios ----------------------------------------------------------------

type scenario struct {
	name string
	fn   func(t *testing.T, c ecsClient, srv *Server)
}

func wantCode(t *testing.T, err error, status int, code string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want %d %s, got success", status, code)
	}
	if s, c := apiErr(err); s != status || c != code {
		t.Fatalf("want %d %s, got %d %s (%v)", status, code, s, c, err)
	}
}

var scenarios = []scenario{
	{"regions", func(t *testing.T, c ecsClient, srv *Server) {
		rs, err := c.regions()
		if err != nil || !slices.Contains(rs, "cn-hangzhou") || !slices.Contains(rs, "cn-beijing") {
			t.Fatalf("regions %v, %v", rs, err)
		}
	}},
	{"create with tags", func(t *testing.T, c ecsClient, srv *Server) {
		tags := map[string]string{"infrakit.group": "workers", "infrakit.config.hash": "abc123"}
		ids, err := c.run(DefaultImageID, DefaultVSwitchI, 3, tags)
		if err != nil || len(ids) != 3 {
			t.Fatalf("run: %v %v", ids, err)
		}
		st, got, ip, ok, err := c.get(ids[1])
		if err != nil || !ok {
			t.Fatalf("get: %v %v", ok, err)
		}
		if st != StatusPending || got["infrakit.group"] != "workers" || got["infrakit.config.hash"] != "abc123" || !strings.HasPrefix(ip, "172.16.") {
			t.Fatalf("got status %s tags %v ip %s", st, got, ip)
		}
		srv.Advance(DefaultBootTime)
		if st, _, _, _, _ := c.get(ids[0]); st != StatusRunning {
			t.Fatalf("after boot: %s", st)
		}
		if n := srv.Stats().Calls["RunInstances"]; n != 1 {
			t.Fatalf("RunInstances calls = %d", n)
		}
	}},
	{"list with tag filter and paging", func(t *testing.T, c ecsClient, srv *Server) {
		want, err := c.run(DefaultImageID, DefaultVSwitchH, 25, map[string]string{"group": "paging", "env": "ci"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.run(DefaultImageID, DefaultVSwitchH, 5, map[string]string{"group": "other", "env": "ci"}); err != nil {
			t.Fatal(err)
		}
		var got []string
		next, pages := "", 0
		for {
			ids, tok, err := c.list(map[string]string{"group": "paging", "env": "ci"}, 10, next)
			if err != nil {
				t.Fatal(err)
			}
			got, next, pages = append(got, ids...), tok, pages+1
			if next == "" {
				break
			}
		}
		if pages != 3 || !slices.Equal(got, want) {
			t.Fatalf("pages %d, got %v\nwant %v", pages, got, want)
		}
		all, _, err := c.list(map[string]string{"env": "ci"}, 100, "")
		if err != nil || len(all) != 30 {
			t.Fatalf("env=ci: %d %v", len(all), err)
		}
	}},
	{"tag operations", func(t *testing.T, c ecsClient, srv *Server) {
		ids, err := c.run(DefaultImageID, DefaultVSwitchH, 1, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.tag(ids[0], "role", "db"); err != nil {
			t.Fatal(err)
		}
		if got, _, _ := c.list(map[string]string{"role": "db"}, 10, ""); !slices.Equal(got, ids) {
			t.Fatalf("after tag: %v", got)
		}
		if err := c.tag(ids[0], "role", "cache"); err != nil {
			t.Fatal(err)
		}
		if got, _, _ := c.list(map[string]string{"role": "db"}, 10, ""); len(got) != 0 {
			t.Fatalf("old value still matches: %v", got)
		}
		if err := c.untag(ids[0], "role"); err != nil {
			t.Fatal(err)
		}
		if _, tags, _, _, _ := c.get(ids[0]); len(tags) != 0 {
			t.Fatalf("after untag: %v", tags)
		}
		wantCode(t, c.tag(ids[0], "aliyun:reserved", "x"), http.StatusBadRequest, "InvalidTagKey.Malformed")
		wantCode(t, c.tag("i-doesnotexist", "a", "b"), http.StatusNotFound, "InvalidResourceId.NotFound")
	}},
	{"stop start delete", func(t *testing.T, c ecsClient, srv *Server) {
		ids, err := c.run(DefaultImageID, DefaultVSwitchJ, 1, nil)
		if err != nil {
			t.Fatal(err)
		}
		id := ids[0]
		wantCode(t, c.stop(id), http.StatusForbidden, "IncorrectInstanceStatus") // still Pending
		srv.Advance(DefaultBootTime)
		if err := c.stop(id); err != nil {
			t.Fatal(err)
		}
		if st, _, _, _, _ := c.get(id); st != StatusStopping {
			t.Fatalf("after stop: %s", st)
		}
		srv.Advance(DefaultStopTime)
		if st, _, _, _, _ := c.get(id); st != StatusStopped {
			t.Fatalf("after stop time: %s", st)
		}
		if err := c.start(id); err != nil {
			t.Fatal(err)
		}
		if st, _, _, _, _ := c.get(id); st != StatusStarting {
			t.Fatalf("after start: %s", st)
		}
		srv.Advance(DefaultBootTime)
		wantCode(t, c.remove(id, false), http.StatusForbidden, "IncorrectInstanceStatus")
		if err := c.remove(id, true); err != nil {
			t.Fatal(err)
		}
		if _, _, _, found, err := c.get(id); found || err != nil {
			t.Fatalf("deleted instance still listed (%v, %v)", found, err)
		}
		wantCode(t, c.stop(id), http.StatusNotFound, "InvalidInstanceId.NotFound")
		wantCode(t, c.remove(id, true), http.StatusNotFound, "InvalidInstanceId.NotFound")
	}},
	{"errors", func(t *testing.T, c ecsClient, srv *Server) {
		_, err := c.run("no_such_image.vhd", DefaultVSwitchH, 1, nil)
		wantCode(t, err, http.StatusNotFound, "InvalidImageId.NotFound")
		_, err = c.run(DefaultImageID, "vsw-nope", 1, nil)
		wantCode(t, err, http.StatusNotFound, "InvalidVSwitchId.NotFound")
		_, err = c.run(DefaultImageID, DefaultVSwitchH, 101, nil)
		wantCode(t, err, http.StatusBadRequest, "InvalidParameter")
		_, err = c.run(DefaultImageID, DefaultVSwitchH, 1, map[string]string{"acs:x": "y"})
		wantCode(t, err, http.StatusBadRequest, "InvalidTagKey.Malformed")
		srv.SetFaults(Faults{NoStock: []StockKey{{InstanceType: DefaultInstanceType, ZoneId: "cn-hangzhou-h"}}})
		_, err = c.run(DefaultImageID, DefaultVSwitchH, 1, nil)
		wantCode(t, err, http.StatusForbidden, "OperationDenied.NoStock")
		srv.SetFaults(Faults{ThrottleRate: 1})
		_, err = c.regions()
		wantCode(t, err, http.StatusBadRequest, "Throttling.User")
		srv.SetFaults(Faults{})
		if got := srv.Stats().Instances; len(got) != 0 {
			t.Fatalf("failed calls created instances: %v", got)
		}
	}},
}

// TestConformance runs every scenario with both clients against fresh emulators.
func TestConformance(t *testing.T) {
	clients := []struct {
		name string
		mk   func(t testing.TB, srv *Server) ecsClient
	}{
		{"aliyungo", func(_ testing.TB, srv *Server) ecsClient { return newGoClient(srv) }},
		{"sdk-xml", newSDKClient},
		{"acs3", newACS3Client},
	}
	for _, cl := range clients {
		for _, sc := range append(scenarios, moreScenarios...) {
			t.Run(cl.name+"/"+sc.name, func(t *testing.T) {
				t.Parallel()
				srv, _ := newTestServer(t, Options{})
				sc.fn(t, cl.mk(t, srv), srv)
			})
		}
	}
}

// TestConformanceSTS checks both clients with temporary credentials.
func TestConformanceSTS(t *testing.T) {
	srv, _ := newTestServer(t, Options{STSKeys: map[string]STSCredential{
		"STS.key": {AccessKeySecret: "sts-secret", SecurityToken: "token-1", Expiration: time.Now().Add(time.Hour)},
	}})
	gc := goecs.NewECSClientWithEndpointAndSecurityToken(srv.URL(), "STS.key", "sts-secret", "token-1", DefaultRegion)
	if _, err := gc.DescribeRegions(); err != nil {
		t.Fatalf("aliyungo with token: %v", err)
	}
	bad := goecs.NewECSClientWithEndpointAndSecurityToken(srv.URL(), "STS.key", "sts-secret", "", DefaultRegion)
	_, err := bad.DescribeRegions()
	if s, c := apiErr(err); s != 400 || c != "InvalidSecurityToken.MismatchWithAccessKey" {
		t.Fatalf("aliyungo without token: %d %s", s, c)
	}
	sc, err := sdkecs.NewClientWithStsToken(DefaultRegion, "STS.key", "sts-secret", "token-1")
	if err != nil {
		t.Fatal(err)
	}
	r := sdkecs.CreateDescribeRegionsRequest()
	r.SetScheme("http")
	r.SetDomain(strings.TrimPrefix(srv.URL(), "http://"))
	if _, err := sc.DescribeRegions(r); err != nil {
		t.Fatalf("sdk with token: %v", err)
	}
}
