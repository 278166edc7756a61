package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/denverdino/aliyungo/ecs"
	"github.com/docker/infrakit/pkg/plugin"
	rpcevent "github.com/docker/infrakit/pkg/rpc/event"
	rpcinstance "github.com/docker/infrakit/pkg/rpc/instance"
	rpcmetadata "github.com/docker/infrakit/pkg/rpc/metadata"
	"github.com/docker/infrakit/pkg/spi/event"
	"github.com/docker/infrakit/pkg/spi/instance"
	"github.com/docker/infrakit/pkg/types"

	"infrakit.aliyun/emulator"
	"infrakit.aliyun/internal/cloudmonitor"
	"infrakit.aliyun/internal/rpcserver"
	ecsplugin "infrakit.aliyun/plugin/instance"
)

// cloudmonitor answers "ignored" for the status the plugin gives an
// instance it does not know: the two names must be one value.
func TestCloudMonitorUnknownIsThePluginsPushUnknown(t *testing.T) {
	equal(t, ecsplugin.PushUnknown, cloudmonitor.Unknown)
}

// The ECS plugin over the emulator, served like the daemon does: infrakit's
// rpc clients see Instance, Event and Metadata on the one socket, a
// subscriber gets instance/interrupting when a spot member is reclaimed,
// and a live subscription does not hold up shutdown.
func TestServeEventsAndMetadata(t *testing.T) {
	srv, err := emulator.New(emulator.Options{TimeScale: 1})
	noErr(t, err)
	t.Cleanup(func() { srv.Close() })
	client := ecs.NewECSClientWithEndpointAndSecurityToken(srv.URL(), emulator.DefaultAccessKeyID, emulator.DefaultAccessKeySecret, "", emulator.DefaultRegion)
	log, _ := testLogger(t, 5)
	p, err := ecsplugin.New(ecsplugin.Config{Clients: ecsplugin.StaticClient(client), RegionID: emulator.DefaultRegion, Logger: log,
		NamespaceTags: map[string]string{"scope": "spot-test"}, Now: srv.Now})
	noErr(t, err)
	t.Cleanup(func() { p.Close() })
	// Served as Serve does, with the handler at hand to see subscriptions.
	h, err := rpcserver.NewHandler(p, log)
	noErr(t, err)
	streams := h
	socket := filepath.Join(shortTempDir(t), "instance-aliyun")
	l, err := net.Listen("unix", socket)
	noErr(t, err)
	hs := &http.Server{Handler: h}
	go hs.Serve(l)
	stop := func() error {
		h.CloseStreams()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return hs.Shutdown(ctx)
	}
	t.Cleanup(func() { hs.Close() })

	inst, err := rpcinstance.NewClient(plugin.Name("instance-aliyun"), socket)
	noErr(t, err)
	spec := instance.Spec{
		Properties: types.AnyString(fmt.Sprintf(`{"RunInstances":{"ImageId":%q,"InstanceType":%q,"VSwitchId":%q,"SecurityGroupId":%q,"SpotStrategy":"SpotAsPriceGo"}}`,
			emulator.DefaultImageID, emulator.DefaultInstanceType, emulator.DefaultVSwitchH, emulator.DefaultSecurityGroupID)),
		Tags: map[string]string{"infrakit.group": "spot", "infrakit.config.hash": "h"},
	}
	id1, err := inst.Provision(spec)
	noErr(t, err)
	id2, err := inst.Provision(spec)
	noErr(t, err)

	ev, err := rpcevent.NewClient(socket)
	noErr(t, err)
	topics, err := ev.List(types.PathFromString("instance"))
	noErr(t, err)
	equal(t, []string{"interrupting", "lost", "no-stock"}, topics)
	stream, done, err := ev.(event.Subscriber).SubscribeOn(types.PathFromString(ecsplugin.TopicInterrupting))
	noErr(t, err)
	defer close(done)
	// The client subscribes in the background; an event published before
	// the broker registered it would be missed.
	deadline := time.Now().Add(10 * time.Second)
	for streams.Subscribers() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	equal(t, 1, streams.Subscribers())

	noErr(t, srv.Preempt(string(*id1)))
	descs, err := inst.DescribeInstances(map[string]string{"infrakit.group": "spot"}, false)
	noErr(t, err)
	if len(descs) != 1 || descs[0].ID != *id2 {
		t.Fatalf("group describe after the reclaim of %s: %v", *id1, descs)
	}
	select {
	case e := <-stream:
		equal(t, ecsplugin.TopicInterrupting, e.Topic.String())
		var info ecsplugin.Interruption
		noErr(t, e.Data.Decode(&info))
		equal(t, string(*id1), info.InstanceId)
		equal(t, "spot", info.Group)
	case <-time.After(20 * time.Second):
		t.Fatal("the subscriber got no instance/interrupting event")
	}

	md, err := rpcmetadata.NewClient(plugin.Name("instance-aliyun"), socket)
	noErr(t, err)
	keys, err := md.Keys(types.PathFromString("."))
	noErr(t, err)
	equal(t, []string{"capacity", "events", "instances", "region", "spot", "zones"}, keys)
	v, err := md.Get(types.PathFromString("region"))
	noErr(t, err)
	equal(t, `"cn-hangzhou"`, v.String())
	v, err = md.Get(types.PathFromString("spot/interrupting"))
	noErr(t, err)
	var interrupting []string
	noErr(t, json.Unmarshal(v.Bytes(), &interrupting))
	equal(t, []string{string(*id1)}, interrupting)

	start := time.Now()
	noErr(t, stop())
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("shutdown with a subscriber took %v", d)
	}
}

// Forged pushes through the real listener, against the real plugin over the
// emulator: pushes for an on-demand member and for made-up or other
// clusters' IDs are ignored at no ECS cost; a storm for a running spot
// member costs at most the look-up budget. Nothing leaves the group, so the
// group plugin has nothing to replace.
func TestForgedPushesChangeNothing(t *testing.T) {
	srv, err := emulator.New(emulator.Options{TimeScale: 1e-6}) // emulated time stands still
	noErr(t, err)
	t.Cleanup(func() { srv.Close() })
	client := ecs.NewECSClientWithEndpointAndSecurityToken(srv.URL(), emulator.DefaultAccessKeyID, emulator.DefaultAccessKeySecret, "", emulator.DefaultRegion)
	log, _ := testLogger(t, 4)
	p, err := ecsplugin.New(ecsplugin.Config{Clients: ecsplugin.StaticClient(client), RegionID: emulator.DefaultRegion, Logger: log,
		NamespaceTags: map[string]string{"scope": "forged"}, Now: srv.Now})
	noErr(t, err)
	t.Cleanup(func() { p.Close() })
	spec := func(spot string) instance.Spec {
		return instance.Spec{
			Properties: types.AnyString(fmt.Sprintf(`{"RunInstances":{"ImageId":%q,"InstanceType":%q,"VSwitchId":%q,"SecurityGroupId":%q,"SpotStrategy":%q}}`,
				emulator.DefaultImageID, emulator.DefaultInstanceType, emulator.DefaultVSwitchH, emulator.DefaultSecurityGroupID, spot)),
			Tags: map[string]string{"infrakit.group": "g", "infrakit.config.hash": "h"},
		}
	}
	onDemand, err := p.Provision(spec("NoSpot"))
	noErr(t, err)
	spot, err := p.Provision(spec("SpotAsPriceGo"))
	noErr(t, err)
	group := map[string]string{"infrakit.group": "g"}
	before, err := p.DescribeInstances(group, false)
	noErr(t, err)
	equal(t, 2, len(before))

	hs := httptest.NewServer(cloudmonitor.NewHandler(p, log))
	t.Cleanup(hs.Close)
	push := func(id string) (int, map[string]string) {
		body := fmt.Sprintf(`{"product":"ECS","name":%q,"content":{"instanceId":%q,"action":"delete"}}`, cloudmonitor.InterruptionEventName, id)
		resp, err := http.Post(hs.URL, "application/json", strings.NewReader(body))
		noErr(t, err)
		defer resp.Body.Close()
		var out map[string]string
		noErr(t, json.NewDecoder(resp.Body).Decode(&out))
		return resp.StatusCode, out
	}
	calls := func() int { return srv.Stats().Calls["DescribeInstances"] }
	start := calls()
	for i := 0; i < 200; i++ {
		for _, id := range []string{string(*onDemand), "i-madeup" + fmt.Sprint(i), "i-otherscluster"} {
			code, out := push(id)
			equal(t, http.StatusOK, code, id)
			contains(t, out["ignored"], "not a spot instance")
		}
	}
	equal(t, 0, calls()-start, "ignored pushes cost no ECS call")

	statuses := map[string]int{}
	for i := 0; i < 300; i++ {
		code, out := push(string(*spot))
		equal(t, http.StatusAccepted, code)
		statuses[out["status"]]++
		now, err := p.DescribeInstances(group, false)
		noErr(t, err)
		equal(t, 2, len(now), "a member left its group on a forged push")
	}
	p.Close() // waits for the look-up
	// 300 calls are the group describes; the pushes add one look-up.
	equal(t, 1, calls()-start-300, fmt.Sprintf("look-ups for 300 forged pushes of one spot member (statuses %v)", statuses))
	equal(t, 1, statuses[ecsplugin.PushChecking], fmt.Sprint(statuses))
}
