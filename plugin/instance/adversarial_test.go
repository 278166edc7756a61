package instance

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/docker/infrakit/pkg/spi/instance"

	"infrakit.aliyun/internal/ecs"
	"infrakit.aliyun/internal/testutil"
	"infrakit.aliyun/plugin/instance/groupspec"
)

// Issue #15, attacked from the SPI side: foreign IDs, namespace escapes
// through Label, and validation that must refuse before anything is created.

func newNamespacedPlugin(t *testing.T, api ecs.InstanceAPI, ns map[string]string) *Plugin {
	t.Helper()
	clock := &fakeClock{now: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
	logger, _ := quietLogger()
	p, err := newPlugin(api, Config{RegionID: "cn-hangzhou", NamespaceTags: ns, Logger: logger, Now: clock.Now,
		Retry: ecs.RetryConfig{Sleep: clock.Sleep}})
	noErr(t, err)
	return p
}

func TestAdversarialDestroyForeignInstances(t *testing.T) {
	ns := map[string]string{"cluster": "a"}
	member := map[string]string{"cluster": "a", "infrakit.group": "g"}
	cases := []struct {
		name string
		tags map[string]string
		want string
	}{
		{"created outside InfraKit", map[string]string{"role": "database"}, "it lacks the namespace tag cluster=a"},
		{"another cluster's member", map[string]string{"cluster": "b", "infrakit.group": "g"}, `its namespace tag cluster is "b", this plugin's is "a"`},
		{"namespace tag but not InfraKit's", map[string]string{"cluster": "a", "role": "database"}, "it carries no InfraKit tag"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fake := newFake()
			fake.addInstance("i-foreign", tc.tags, "")
			fake.addInstance("i-member", member, "")
			p := newNamespacedPlugin(t, fake, ns)
			for _, reason := range []instance.Context{instance.Termination, instance.RollingUpdate} {
				err := p.Destroy("i-foreign", reason)
				contains(t, fmt.Sprint(err), "destroy instance i-foreign: instance i-foreign is not managed by this plugin ("+tc.want)
				testutil.ErrorAs[*ForeignInstanceError](t, err)
			}
			equal(t, 0, len(fake.deletes), "DeleteInstance calls")
			equal(t, 0, len(fake.modifies), "disk changes")
			_, still := fake.instances["i-foreign"]
			equal(t, true, still)

			err := p.Label("i-foreign", map[string]string{"x": "y"})
			testutil.ErrorAs[*ForeignInstanceError](t, err)
			equal(t, 0, len(fake.tagCalls))

			// The member is still destroyed, after one describe by ID.
			noErr(t, p.Destroy("i-member", instance.Termination))
			equal(t, []string{"i-member force=true"}, fake.deletes)
		})
	}
	t.Run("without namespace tags an InfraKit tag is still required", func(t *testing.T) {
		fake := newFake()
		fake.addInstance("i-db", map[string]string{"role": "database"}, "")
		p := newNamespacedPlugin(t, fake, nil)
		err := p.Destroy("i-db", instance.Termination)
		contains(t, fmt.Sprint(err), "it carries no InfraKit tag")
		equal(t, 0, len(fake.deletes))
		descs, err := p.DescribeInstances(map[string]string{}, false)
		noErr(t, err)
		equal(t, 0, len(descs), "a foreign instance is not described")
	})
}

func TestAdversarialDestroyEmptyIDCallsNothing(t *testing.T) {
	fake := newFake()
	p := newNamespacedPlugin(t, fake, map[string]string{"cluster": "a"})
	for _, id := range []instance.ID{"", "  "} {
		err := p.Destroy(id, instance.Termination)
		contains(t, fmt.Sprint(err), "destroy instance: the instance ID is empty")
	}
	equal(t, 0, len(fake.describes), "DescribeInstances calls")
	equal(t, 0, len(fake.deletes), "DeleteInstance calls")
}

func TestAdversarialLabelNamespaceEscape(t *testing.T) {
	ns := map[string]string{"cluster": "a"}
	tags := map[string]string{"cluster": "a", "infrakit.group": "g", "infrakit.config.hash": "bootstrap",
		"infrakit.logical_id": "pet-1", TagFallback: "zone"}
	refused := []struct {
		labels map[string]string
		want   string
	}{
		{map[string]string{"cluster": "b"}, `Labels["cluster"]: namespace tag`},
		{map[string]string{"infrakit.group": "other"}, `Labels["infrakit.group"]: InfraKit tag cannot be changed by Label`},
		{map[string]string{"infrakit.logical_id": "pet-2"}, `Labels["infrakit.logical_id"]: InfraKit tag`},
		{map[string]string{"infrakit.attachment": "d"}, `Labels["infrakit.attachment"]: InfraKit tag`},
		{map[string]string{TagFallback: "none"}, `Labels["infrakit-aliyun.fallback"]: the plugin's own tag cannot be changed`},
		{map[string]string{"infrakit-aliyun.keep-data": "x"}, `Labels["infrakit-aliyun.keep-data"]: the plugin's own tag cannot be changed`},
		// The allowed change in the same call does not carry the refused one.
		{map[string]string{"infrakit.config.hash": "h2", "infrakit.group": "other"}, `Labels["infrakit.group"]`},
	}
	for _, tc := range refused {
		t.Run(fmt.Sprint(tc.labels), func(t *testing.T) {
			fake := newFake()
			fake.addInstance("i-1", tags, "")
			p := newNamespacedPlugin(t, fake, ns)
			err := p.Label("i-1", tc.labels)
			contains(t, fmt.Sprint(err), "label instance i-1: "+tc.want)
			testutil.ErrorAs[*ProtectedTagError](t, err)
			equal(t, 0, len(fake.tagCalls), "TagResources calls")
		})
	}
	t.Run("what InfraKit's group plugin sends still works", func(t *testing.T) {
		fake := newFake()
		fake.addInstance("i-1", tags, "")
		p := newNamespacedPlugin(t, fake, ns)
		// scaledGroup.Label: memberTags plus the new config hash.
		noErr(t, p.Label("i-1", map[string]string{"infrakit.group": "g", "infrakit.config.hash": "h2", "cluster": "a"}))
		equal(t, []map[string]string{{"infrakit.config.hash": "h2"}}, fake.tagCalls)
		noErr(t, p.Label("i-1", map[string]string{"infrakit.config_sha": "old", "team": "x"}))
	})
}

func TestAdversarialProvisionWithoutInfraKitTagsStaysManageable(t *testing.T) {
	fake := newFake()
	p := newNamespacedPlugin(t, fake, map[string]string{"cluster": "a"})
	spec := instance.Spec{Properties: props(goodProps), Tags: map[string]string{"team": "x"}}
	id, err := p.Provision(spec)
	noErr(t, err)
	equal(t, "true", fake.runs[0].Tags[TagManaged])
	noErr(t, p.Label(*id, map[string]string{"team": "y"}))
	noErr(t, p.Destroy(*id, instance.Termination))
	equal(t, 1, len(fake.deletes))

	// Group members carry InfraKit's tags already: no extra tag spent.
	_, err = p.Provision(groupSpec())
	noErr(t, err)
	_, has := fake.runs[1].Tags[TagManaged]
	equal(t, false, has)
}

func TestAdversarialTagLengthsInCharacters(t *testing.T) {
	e128, e129 := strings.Repeat("é", 128), strings.Repeat("é", 129)
	equal(t, 0, len(groupspec.CheckTag(e128, e128)), "128 é is 256 bytes but 128 characters")
	equal(t, []string{"key is 129 characters, at most 128", "value is 129 characters, at most 128"}, groupspec.CheckTag(e129, e129))

	fake := newFake()
	p := newNamespacedPlugin(t, fake, map[string]string{"cluster": e128})
	spec := groupSpec()
	spec.Tags["team"] = e128
	_, err := p.Provision(spec)
	noErr(t, err)
	spec.Tags["team"] = e129
	_, err = p.Provision(spec)
	contains(t, fmt.Sprint(err), `Spec.Tags["team"]: value is 129 characters, at most 128`)
	equal(t, 1, len(fake.runs))
}

func TestAdversarialPrivateIPConflictsWithLogicalID(t *testing.T) {
	fake := newFake()
	p := newNamespacedPlugin(t, fake, nil)
	withIP := func(ip string) instance.Spec {
		s := groupSpec()
		s.Properties = props(`{"RunInstances":{"ImageId":"img-1","InstanceType":"ecs.g7.large","VSwitchId":"vsw-1","PrivateIpAddress":"` + ip + `"}}`)
		s.LogicalID = instance.LogicalIDFromString("10.0.0.5")
		return s
	}
	_, err := p.Provision(withIP("10.0.0.9"))
	contains(t, fmt.Sprint(err), `LogicalID: "10.0.0.5" is used as PrivateIpAddress, which conflicts with RunInstances.PrivateIpAddress "10.0.0.9"`)
	equal(t, 0, len(fake.runs))
	_, err = p.Provision(withIP("10.0.0.5"))
	noErr(t, err)
	equal(t, "10.0.0.5", fake.runs[0].PrivateIP)
}

func TestAdversarialRunInstancesLimits(t *testing.T) {
	run := func(extra string) error {
		_, err := groupspec.ParseProperties(props(`{"RunInstances":{"ImageId":"i","InstanceType":"t"` + extra + `}}`))
		return err
	}
	refused := map[string]string{
		`,"InternetMaxBandwidthOut":101`:                                          "RunInstances.InternetMaxBandwidthOut: 101, must be 0 to 100",
		`,"DataDisk":[{"Size":19}]`:                                               "RunInstances.DataDisk[0].Size: 19, must be 20 to 32768",
		`,"DataDisk":[{"Size":32769}]`:                                            "RunInstances.DataDisk[0].Size: 32769, must be 20 to 32768",
		`,"DataDisk":[{"Size":40,"Category":"ephemeral_ssd"}]`:                    `RunInstances.DataDisk[0].Category: "ephemeral_ssd", must be one of`,
		`,"SystemDisk":{"Category":"ephemeral_ssd"}`:                              `RunInstances.SystemDisk.Category: "ephemeral_ssd", must be one of`,
		`,"SystemDisk":{"Category":"elastic_ephemeral_disk_standard"}`:            `RunInstances.SystemDisk.Category: "elastic_ephemeral_disk_standard"`,
		`,"UserData":"` + strings.Repeat("x", groupspec.MaxUserDataBytes+1) + `"`: "RunInstances.UserData: 32769 bytes, at most 32768 before base64",
	}
	for extra, want := range refused {
		contains(t, fmt.Sprint(run(extra)), want)
	}
	for _, extra := range []string{
		`,"InternetMaxBandwidthOut":100`,
		`,"DataDisk":[{"Size":20},{"Size":32768}]`,
		`,"DataDisk":[{"Size":40,"Category":"cloud_essd_entry"},{"Size":40,"Category":"cloud_auto"},{"Size":40,"Category":"elastic_ephemeral_disk_premium"}]`,
		`,"SystemDisk":{"Category":"cloud_essd_entry"}`,
		`,"UserData":"` + strings.Repeat("x", 32<<10) + `"`,
	} {
		noErr(t, run(extra))
	}
}
