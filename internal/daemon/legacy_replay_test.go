package daemon

// Replays of what real InfraKit v0.4.1 and v0.5 clients send an instance
// plugin, captured on the wire from binaries built from the upstream tags
// (/work/shared/reference/infrakit-legacy-wire.md has the captures, the
// file:line of each client call and how each release reads the replies).
//
// Why a replay and not the real clients: neither release builds from the Go
// module proxy, the only source CI has (v0.4.1's module zip has no vendor
// tree and does not build; v0.5 is not served at all), so the old clients
// cannot run in `make test`. The replay is therefore the regression test:
// each request below is the captured JSON-RPC body, sent byte for byte with
// the HTTP request line and headers those clients' Go net/http sent, over
// the real unix socket of the served plugin (the real ECS plugin on the
// in-process emulator). Only instance IDs, which differ per run, are
// substituted. Replies are read with gorilla's json2 client decoder (the
// one vendored, unchanged, in both tags) into the reply shapes of those
// releases, and checked with their rules (handshake: an exact version
// anywhere in APIs; pets: LogicalID equal to an allocation entry; never a
// null Provision ID).

import (
	"sort"
	"strings"
	"testing"

	"infrakit.aliyun/emulator"
	"infrakit.aliyun/internal/rpcserver/rpctest"
	"infrakit.aliyun/internal/testutil"
)

// The legacy clients' reply shapes and handshake rule (shared with
// rpcserver's tests).
type (
	oldSpec        = rpctest.OldSpec
	oldImplements  = rpctest.OldImplements
	oldTypes       = rpctest.OldTypes
	oldOK          = rpctest.OldOK
	oldProvisioned = rpctest.OldProvisioned
	oldDescription = rpctest.OldDescription
	oldDescribed   = rpctest.OldDescribed
)

var (
	oldHandshake = rpctest.OldHandshake
	read         = rpctest.ReadOld
	replay       = rpctest.Replay
)

// release is what differs between the two replayed releases.
type release struct {
	name      string
	host      string // the Host header its client sends
	requires  string // the Instance version its handshake requires
	configSHA string // its group plugin's infrakit.config_sha for the spec below
	// describeExtra is appended to DescribeInstances params: v0.5 adds
	// Properties (false from the group plugin, true for `describe -p`).
	groupDescribe, cliDescribe string
}

var releases = []release{
	{name: "v0.4.1", host: "a", requires: "0.3.0", configSHA: "8oXobMU3DI-knOCEBs6KmEAzYy8=",
		groupDescribe: `{"Type":"","Tags":{"infrakit.group":"cattle"}}`,
		cliDescribe:   `{"Type":"","Tags":{}}`},
	{name: "v0.5", host: "h", requires: "0.5.0", configSHA: "6kc6q3gfg4gi7je44ccantuktbadgyzp",
		groupDescribe: `{"Type":"","Tags":{"infrakit.group":"cattle"},"Properties":false}`,
		cliDescribe:   `{"Type":"","Tags":{},"Properties":true}`},
}

// The group's Instance.Properties, as captured (the emulator's IDs).
const capturedProperties = `{"RunInstances":{"ImageId":"ubuntu_22_04_x64_20G_alibase_20240101.vhd","InstanceType":"ecs.g6.large","VSwitchId":"vsw-bp1emulator000000000h","SecurityGroupId":"sg-bp1emulator0000000001","InstanceName":"cattle","InternetMaxBandwidthOut":0,"SystemDisk":{"Category":"cloud_essd","Size":40}},"Tags":{"project":"infrakit-demo"}}`

// The original aliyun plugin's README form (CreateInstanceArgs, a Password,
// a Name tag), with the emulator's image, vswitch and security group.
const originalREADMEProperties = `{"CreateInstanceArgs":{"ImageId":"ubuntu_22_04_x64_20G_alibase_20240101.vhd","InstanceType":"ecs.g6.large","VSwitchId":"vsw-bp1emulator000000000h","SecurityGroupId":"sg-bp1emulator0000000001","Password":"Just4Test"},"Tags":{"Name":"infrakit-example"}}`

// servedOnEmulator starts the daemon as the original plugin's users start
// it (its README's command line, plus --endpoint for the emulator) and
// returns the socket, the emulator and the log.
func servedOnEmulator(t *testing.T) (string, *emulator.Server, *testutil.SyncBuffer) {
	t.Helper()
	srv, err := emulator.New(emulator.Options{TimeScale: 1000})
	noErr(t, err)
	t.Cleanup(func() { srv.Close() })
	out := &testutil.SyncBuffer{}
	socket, _ := runRoot(t, []string{"--region", emulator.DefaultRegion, "--access-key-id", emulator.DefaultAccessKeyID,
		"--access-key-secret", emulator.DefaultAccessKeySecret, "--name", "instance-aliyun", "--log", "5", "--private-ip",
		"--endpoint", srv.URL()}, map[string]string{EnvPluginsDir: shortTempDir(t)}, Deps{}, out)
	return socket, srv, out
}

func TestReplayLegacyClients(t *testing.T) {
	for _, rel := range releases {
		t.Run(rel.name, func(t *testing.T) {
			socket, emu, logs := servedOnEmulator(t)
			call := func(body string, into interface{}) error {
				t.Helper()
				return read(replay(t, socket, rel.host, body), into)
			}

			// Handshake: every CLI invocation and every group commit.
			var impl oldImplements
			noErr(t, call(`{"jsonrpc":"2.0","method":"Handshake.Implements","params":{},"id":8037416625642618525}`, &impl))
			noErr(t, oldHandshake(impl.APIs, rel.requires))
			// What master clients see (Hello) is listed too, after the old versions.
			equal(t, []oldSpec{{Name: "Instance", Version: "0.3.0"}, {Name: "Instance", Version: "0.5.0"}, {Name: "Event", Version: "0.1.1"}, {Name: "Instance", Version: "0.6.1"}, {Name: "Metadata", Version: "0.1.1"}}, impl.APIs)
			var hello struct {
				Objects map[string][]struct{ Name, ProxyFor string }
			}
			noErr(t, call(`{"jsonrpc":"2.0","method":"Handshake.Hello","params":{},"id":1}`, &hello))
			equal(t, []string{"Event/0.1.1", "Instance/0.6.1", "Metadata/0.1.1"}, sortedKeys(hello.Objects))

			if rel.name == "v0.5" {
				// The v0.5 CLI builds `infrakit instance-aliyun ...` from
				// Types: its instance commands exist only for Instance/0.5.0.
				var types oldTypes
				noErr(t, call(`{"jsonrpc":"2.0","method":"Handshake.Types","params":{},"id":5409478977851703026}`, &types))
				equal(t, []string{"."}, types.Types["Instance/0.5.0"])
				equal(t, []string{"."}, types.Types["Instance/0.3.0"])
				equal(t, []string{"Event/0.1.1", "Instance/0.3.0", "Instance/0.5.0", "Instance/0.6.1", "Metadata/0.1.1"}, sortedKeys(types.Types))
			}

			var ok oldOK
			noErr(t, call(`{"jsonrpc":"2.0","method":"Instance.Validate","params":{"Type":"","Properties":`+capturedProperties+`},"id":1}`, &ok))

			// Cattle (group plugin): LogicalID null, Attachments null.
			provision := func(logical, id string) string {
				t.Helper()
				var p oldProvisioned
				noErr(t, call(`{"jsonrpc":"2.0","method":"Instance.Provision","params":{"Type":"","Spec":{"Properties":`+capturedProperties+
					`,"Tags":{"infrakit.config_sha":"`+rel.configSHA+`","infrakit.group":"cattle","tier":"web"},"Init":"#!/bin/sh\necho 'hello from infrakit' > /etc/motd","LogicalID":`+logical+`,"Attachments":null}},"id":`+id+`}`, &p))
				if p.ID == nil || !strings.HasPrefix(*p.ID, "i-") {
					t.Fatalf("Provision answered ID %v: the group plugin dereferences it", p.ID)
				}
				return *p.ID
			}
			cattle1, cattle2 := provision("null", "2"), provision("null", "3")
			pet := provision(`"172.16.15.11"`, "4")

			v, found := emu.Instance(cattle1)
			if !found {
				t.Fatalf("%s not in the emulator", cattle1)
			}
			equal(t, "#!/bin/sh\necho 'hello from infrakit' > /etc/motd", v.UserData)
			equal(t, "cattle", v.InstanceName)
			pv, _ := emu.Instance(pet)
			equal(t, "172.16.15.11", pv.PrivateIpAddress, "a pet's logical ID is its private IP")

			// The group plugin's poll.
			var d oldDescribed
			noErr(t, call(`{"jsonrpc":"2.0","method":"Instance.DescribeInstances","params":`+rel.groupDescribe+`,"id":5}`, &d))
			byID := map[string]oldDescription{}
			for _, x := range d.Descriptions {
				byID[x.ID] = x
				if x.Properties != nil {
					t.Errorf("%s: properties sent although the poll asks for none", x.ID)
				}
			}
			equal(t, 3, len(byID), d.Descriptions)
			for _, id := range []string{cattle1, cattle2, pet} {
				x, ok := byID[id]
				if !ok {
					t.Fatalf("%s not described", id)
				}
				equal(t, map[string]string{"infrakit.config_sha": rel.configSHA, "infrakit.group": "cattle", "tier": "web", "project": "infrakit-demo"},
					withoutKey(x.Tags, "infrakit.logical_id"), id)
				if x.LogicalID == nil {
					// v0.4.1 quorum.go skips it and provisions the slot again on every poll.
					t.Errorf("%s: null LogicalID", id)
				}
			}
			// Pets: the quorum compares LogicalID with the allocation entry exactly.
			equal(t, "172.16.15.11", *byID[pet].LogicalID)
			cv, _ := emu.Instance(cattle1)
			equal(t, cv.PrivateIpAddress, *byID[cattle1].LogicalID, "cattle: the private IP")

			// Label (members whose config_sha is "bootstrap").
			noErr(t, call(`{"jsonrpc":"2.0","method":"Instance.Label","params":{"Type":"","Instance":"`+cattle2+`","Labels":{"infrakit.config_sha":"`+rel.configSHA+`-2","infrakit.group":"cattle"}},"id":6}`, &ok))
			lv, _ := emu.Instance(cattle2)
			equal(t, rel.configSHA+"-2", lv.Tags["infrakit.config_sha"])
			equal(t, "web", lv.Tags["tier"], "Label keeps the other tags")

			// Destroy without Context (group scale-down, rolling update,
			// group destroy and the CLI all send this): a terminate.
			noErr(t, call(`{"jsonrpc":"2.0","method":"Instance.Destroy","params":{"Type":"","Instance":"`+cattle1+`"},"id":7}`, &ok))
			gone, _ := emu.Instance(cattle1)
			if !gone.Released {
				t.Errorf("%s not released after Destroy", cattle1)
			}

			// The CLI's describe: every instance, properties for v0.5's -p.
			d = oldDescribed{}
			noErr(t, call(`{"jsonrpc":"2.0","method":"Instance.DescribeInstances","params":`+rel.cliDescribe+`,"id":8}`, &d))
			ids := []string{}
			for _, x := range d.Descriptions {
				ids = append(ids, x.ID)
				if rel.name == "v0.5" && x.Properties == nil {
					t.Errorf("%s: no properties for describe -p", x.ID)
				}
			}
			equal(t, 2, len(ids), ids)
			notContains(t, strings.Join(ids, ","), cattle1)

			// Nothing matched: null (or empty) Descriptions, no error.
			d = oldDescribed{}
			noErr(t, call(`{"jsonrpc":"2.0","method":"Instance.DescribeInstances","params":{"Type":"","Tags":{"infrakit.group":"nope"}},"id":9}`, &d))
			equal(t, 0, len(d.Descriptions))

			// The original aliyun README's spec form, through the CLI's
			// validate and provision (the file sent as is).
			noErr(t, call(`{"jsonrpc":"2.0","method":"Instance.Validate","params":{"Type":"","Properties":`+originalREADMEProperties+`},"id":10}`, &ok))
			var p oldProvisioned
			noErr(t, call(`{"jsonrpc":"2.0","method":"Instance.Provision","params":{"Type":"","Spec":{"Properties":`+originalREADMEProperties+
				`,"Tags":{"infrakit.config_sha":"dUBtWGmkptbGg29ecBgv1VJYzys=","infrakit.group":"aliyun-example"},"Init":"sh -c \"echo 'Hello, World' > /hello\"","LogicalID":null,"Attachments":null}},"id":11}`, &p))
			if p.ID == nil {
				t.Fatal("no ID")
			}
			ov, _ := emu.Instance(*p.ID)
			equal(t, "infrakit-example", ov.Tags["Name"])
			equal(t, "aliyun-example", ov.Tags["infrakit.group"])
			equal(t, `sh -c "echo 'Hello, World' > /hello"`, ov.UserData)

			// Errors reach the user as the message (v0.4.1 prints it).
			err := call(`{"jsonrpc":"2.0","method":"Instance.Validate","params":{"Type":"","Properties":{"CreateInstanceArgs":{"ImageID":"x"}}},"id":12}`, &ok)
			if err == nil {
				t.Fatal("a bad spec validated")
			}
			contains(t, err.Error(), "ImageID")
			notContains(t, logs.String(), "Just4Test")
		})
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func withoutKey(m map[string]string, k string) map[string]string {
	out := map[string]string{}
	for kk, v := range m {
		if kk != k {
			out[kk] = v
		}
	}
	return out
}
