package rpcserver_test

import (
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/docker/infrakit/pkg/plugin"
	rpcinstance "github.com/docker/infrakit/pkg/rpc/instance"
	"github.com/docker/infrakit/pkg/spi/instance"
	"github.com/docker/infrakit/pkg/types"
)

// The current SPI, driven by infrakit's own rpc client as the group plugin does.
func TestRPCRoundTripWithInfrakitClient(t *testing.T) {
	p := newFakePlugin()
	_, socket, stop := served(t, p, nil)

	c, err := rpcinstance.NewClient(plugin.Name("instance-test"), socket)
	noErr(t, err) // includes the Handshake.Hello version check for Instance/0.6.1

	noErr(t, c.Validate(types.AnyValueMust(map[string]string{"InstanceType": "ecs.g6.large"})))
	err = c.Validate(types.AnyValueMust(map[string]string{}))
	if err == nil {
		t.Fatal("Validate passed invalid properties")
	}
	contains(t, err.Error(), "InstanceType is required")

	lid := instance.LogicalID("10.0.0.10")
	spec := instance.Spec{
		Properties:  types.AnyValueMust(map[string]string{"InstanceType": "ecs.g6.large"}),
		Tags:        map[string]string{"infrakit.group": "workers", "infrakit.config.hash": "h1"},
		Init:        "#!/bin/sh\necho hi",
		LogicalID:   &lid,
		Attachments: []instance.Attachment{{ID: "d-1", Type: "disk"}},
	}
	id, err := c.Provision(spec)
	noErr(t, err)
	equal(t, instance.ID("i-fake001"), *id)
	got := p.LastSpec()
	equal(t, spec.Tags, got.Tags)
	equal(t, spec.Init, got.Init)
	equal(t, lid, *got.LogicalID)
	equal(t, spec.Attachments, got.Attachments)

	noErr(t, c.Label(*id, map[string]string{"infrakit.config.hash": "bootstrap-2"}))

	descs, err := c.DescribeInstances(map[string]string{"infrakit.group": "workers"}, true)
	noErr(t, err)
	if len(descs) != 1 {
		t.Fatalf("DescribeInstances: %v", descs)
	}
	equal(t, "bootstrap-2", descs[0].Tags["infrakit.config.hash"])
	equal(t, lid, *descs[0].LogicalID)
	if descs[0].Properties == nil {
		t.Error("properties not returned")
	}
	_, props := p.LastDescribe()
	equal(t, true, props)

	noErr(t, c.Destroy(*id, instance.RollingUpdate))
	equal(t, []destroyCall{{ID: *id, Reason: "rolling_update"}}, p.Destroys())

	descs, err = c.DescribeInstances(map[string]string{"infrakit.group": "workers"}, false)
	noErr(t, err)
	equal(t, 0, len(descs))

	noErr(t, stop())
}

func TestRPCErrorsAreScrubbed(t *testing.T) {
	p := newFakePlugin()
	_, socket, _ := served(t, p, nil)
	// What an aliyungo transport error looks like: the whole signed URL.
	p.SetFail(errors.New(`Aliyun API Error: Get "https://ecs.cn-hangzhou.aliyuncs.com/?AccessKeyId=LTAIxx&Action=RunInstances&SecurityToken=STS.tok3n&Signature=c2lnbmF0dXJl": dial tcp: i/o timeout`))

	c, err := rpcinstance.NewClient(plugin.Name("instance-test"), socket)
	noErr(t, err)
	_, err = c.Provision(instance.Spec{})
	if err == nil {
		t.Fatal("no error")
	}
	contains(t, err.Error(), "i/o timeout")
	contains(t, err.Error(), "https://ecs.cn-hangzhou.aliyuncs.com/?REDACTED")
	for _, s := range []string{"STS.tok3n", "c2lnbmF0dXJl", "SecurityToken="} {
		notContains(t, err.Error(), s)
	}
}

// ECS answers a bad signature with its string to sign, which holds the
// SecurityToken percent-encoded (so no secret value or parameter pattern
// matches it): it must not reach the caller.
func TestRPCErrorsDropTheStringToSign(t *testing.T) {
	p := newFakePlugin()
	_, socket, _ := served(t, p, nil)
	p.SetFail(errors.New(`RunInstances: SignatureDoesNotMatch (HTTP 400, RequestId r-1): Specified signature is not matched with our calculation. ` +
		`server string to sign is:GET&%2F&AccessKeyId%3DLTAIxx%26Action%3DRunInstances%26SecurityToken%3DCAIS%252Bs3cr3tT0ken%253D%253D`))

	c, err := rpcinstance.NewClient(plugin.Name("instance-test"), socket)
	noErr(t, err)
	_, err = c.Provision(instance.Spec{})
	if err == nil {
		t.Fatal("no error")
	}
	contains(t, err.Error(), "SignatureDoesNotMatch (HTTP 400, RequestId r-1): Specified signature is not matched with our calculation.")
	for _, s := range []string{"s3cr3tT0ken", "SecurityToken", "string to sign"} {
		notContains(t, err.Error(), s)
	}
}

// rpcResult decodes a JSON-RPC 2.0 response, failing on an error member.
func rpcResult(t *testing.T, status int, body string, id int, into interface{}) {
	t.Helper()
	equal(t, 200, status, body)
	var env struct {
		Version string          `json:"jsonrpc"`
		Result  json.RawMessage `json:"result"`
		Error   json.RawMessage `json:"error"`
		ID      int             `json:"id"`
	}
	noErr(t, json.Unmarshal([]byte(body), &env))
	equal(t, "2.0", env.Version)
	equal(t, id, env.ID)
	if len(env.Error) > 0 && string(env.Error) != "null" {
		t.Fatalf("RPC error: %s", env.Error)
	}
	noErr(t, json.Unmarshal(env.Result, into))
}

// The handshakes of every client generation, and request shapes of the
// older releases, at the byte level over the unix socket (the captured
// traffic of v0.4.1 and v0.5 is replayed against the real plugin in
// legacy_replay_test.go).
func TestWireLevelHandshakesAndShapes(t *testing.T) {
	p := newFakePlugin()
	_, socket, _ := served(t, p, nil)

	t.Run("Handshake.Implements (v0.3.0 to v0.5)", func(t *testing.T) {
		status, body := rawRPC(t, socket, `{"jsonrpc":"2.0","method":"Handshake.Implements","params":{},"id":1}`)
		var r oldImplements
		rpcResult(t, status, body, 1, &r)
		equal(t, []oldSpec{{Name: "Instance", Version: "0.3.0"}, {Name: "Instance", Version: "0.5.0"}, {Name: "Instance", Version: "0.6.1"}}, r.APIs)
		noErr(t, oldHandshake(r.APIs, "0.3.0"))
		noErr(t, oldHandshake(r.APIs, "0.5.0"))
	})

	t.Run("Handshake.Types (v0.5 CLI)", func(t *testing.T) {
		status, body := rawRPC(t, socket, `{"jsonrpc":"2.0","method":"Handshake.Types","params":{},"id":1}`)
		var r oldTypes
		rpcResult(t, status, body, 1, &r)
		equal(t, map[string][]string{"Instance/0.3.0": {"."}, "Instance/0.5.0": {"."}, "Instance/0.6.1": {"."}}, r.Types)
	})

	// v0.1.0/v0.2.0 require Instance/0.1.0, which is not claimed (see
	// PluginImplements): they get their own clear version error.
	t.Run("Plugin.Implements (v0.1.0, v0.2.0)", func(t *testing.T) {
		status, body := rawRPC(t, socket, `{"jsonrpc":"2.0","method":"Plugin.Implements","params":{},"id":1}`)
		var r oldImplements
		rpcResult(t, status, body, 1, &r)
		err := oldHandshake(r.APIs, "0.1.0")
		if err == nil {
			t.Fatal("Instance/0.1.0 claimed")
		}
		equal(t, "Plugin supports Instance interface version 0.6.1, client requires 0.1.0", err.Error())
	})

	t.Run("Handshake.Hello (current handshake)", func(t *testing.T) {
		status, body := rawRPC(t, socket, `{"jsonrpc":"2.0","method":"Handshake.Hello","params":{},"id":2}`)
		var r struct {
			Objects map[string][]struct{ Name, ProxyFor string }
		}
		rpcResult(t, status, body, 2, &r)
		equal(t, map[string][]struct{ Name, ProxyFor string }{"Instance/0.6.1": {{Name: ".", ProxyFor: ""}}}, r.Objects)
	})

	t.Run("Instance.Validate", func(t *testing.T) {
		status, body := rawRPC(t, socket, `{"jsonrpc":"2.0","method":"Instance.Validate","params":{"Properties":{"InstanceType":"ecs.t5-lc1m1.small"}},"id":3}`)
		var r struct{ OK bool }
		rpcResult(t, status, body, 3, &r)
		equal(t, true, r.OK)
	})

	var id1, id2 string
	t.Run("Instance.Provision (v0.5 body)", func(t *testing.T) {
		status, body := rawRPC(t, socket, `{"jsonrpc":"2.0","method":"Instance.Provision","params":{"Spec":{"Properties":{"InstanceType":"ecs.t5-lc1m1.small"},"Tags":{"infrakit.group":"cattle","infrakit.config_sha":"Ysc3Uq"},"Init":"docker swarm join","LogicalID":null,"Attachments":null}},"id":4}`)
		var r struct{ ID string }
		rpcResult(t, status, body, 4, &r)
		equal(t, "i-fake001", r.ID)
		id1 = r.ID
		equal(t, "docker swarm join", p.LastSpec().Init)
		equal(t, "Ysc3Uq", p.LastSpec().Tags["infrakit.config_sha"])

		status, body = rawRPC(t, socket, `{"jsonrpc":"2.0","method":"Instance.Provision","params":{"Type":"","Spec":{"Properties":{"InstanceType":"x"},"Tags":{"infrakit.group":"cattle"},"Init":"","LogicalID":"10.0.0.5","Attachments":[{"ID":"d-1","Type":"disk"}]}},"id":5}`)
		rpcResult(t, status, body, 5, &r)
		id2 = r.ID
	})

	t.Run("Instance.DescribeInstances (v0.5 body, no Properties flag)", func(t *testing.T) {
		status, body := rawRPC(t, socket, `{"jsonrpc":"2.0","method":"Instance.DescribeInstances","params":{"Tags":{"infrakit.group":"cattle"}},"id":6}`)
		var r struct {
			Descriptions []struct {
				ID         string
				LogicalID  *string
				Tags       map[string]string
				Properties json.RawMessage
			}
		}
		rpcResult(t, status, body, 6, &r)
		equal(t, 2, len(r.Descriptions))
		tags, props := p.LastDescribe()
		equal(t, false, props)
		equal(t, map[string]string{"infrakit.group": "cattle"}, tags)
		for _, d := range r.Descriptions {
			equal(t, "cattle", d.Tags["infrakit.group"])
			if len(d.Properties) != 0 {
				t.Errorf("properties sent without being asked: %s", d.Properties)
			}
		}

		// The group plugin's current poll.
		status, body = rawRPC(t, socket, `{"jsonrpc":"2.0","method":"Instance.DescribeInstances","params":{"Type":"","Tags":{"infrakit.group":"cattle"},"Properties":true},"id":7}`)
		rpcResult(t, status, body, 7, &r)
		equal(t, 2, len(r.Descriptions))
		for _, d := range r.Descriptions {
			if len(d.Properties) == 0 {
				t.Errorf("properties missing for %s", d.ID)
			}
		}
	})

	t.Run("Instance.Destroy without Context (v0.5) means terminate", func(t *testing.T) {
		status, body := rawRPC(t, socket, `{"jsonrpc":"2.0","method":"Instance.Destroy","params":{"Instance":"`+id1+`"},"id":8}`)
		var r struct{ OK bool }
		rpcResult(t, status, body, 8, &r)
		equal(t, true, r.OK)
	})

	t.Run("Instance.Destroy with Context", func(t *testing.T) {
		status, body := rawRPC(t, socket, `{"jsonrpc":"2.0","method":"Instance.Destroy","params":{"Type":"","Instance":"`+id2+`","Context":{"Reason":"rolling_update"}},"id":9}`)
		var r struct{ OK bool }
		rpcResult(t, status, body, 9, &r)
		equal(t, true, r.OK)
		equal(t, []destroyCall{{ID: instance.ID(id1), Reason: "terminate"}, {ID: instance.ID(id2), Reason: "rolling_update"}}, p.Destroys())
	})

	t.Run("errors are JSON-RPC errors", func(t *testing.T) {
		status, body := rawRPC(t, socket, `{"jsonrpc":"2.0","method":"Instance.Destroy","params":{"Instance":"i-nope"},"id":10}`)
		equal(t, 200, status, body)
		var env struct {
			Error struct {
				Code    int
				Message string
			} `json:"error"`
			ID int `json:"id"`
		}
		noErr(t, json.Unmarshal([]byte(body), &env))
		equal(t, 10, env.ID)
		contains(t, env.Error.Message, "no instance i-nope")

		status, body = rawRPC(t, socket, `{"jsonrpc":"2.0","method":"Instance.Nope","params":{},"id":11}`)
		contains(t, body, "Instance.Nope")
		_ = status
	})

	t.Run("GET /info/api.json", func(t *testing.T) {
		c := unixHTTP(socket)
		defer c.CloseIdleConnections()
		resp, err := c.Get("http://a/info/api.json")
		noErr(t, err)
		defer resp.Body.Close()
		equal(t, 200, resp.StatusCode)
		b, err := io.ReadAll(resp.Body)
		noErr(t, err)
		var info struct {
			Vendor struct {
				Name    string
				Version string
				URL     string
			}
			Implements []struct{ Name, Version string }
			Interfaces []struct {
				Name, Version string
				Methods       []struct{ Request struct{ Method string } }
			}
		}
		noErr(t, json.Unmarshal(b, &info))
		equal(t, []struct{ Name, Version string }{{"Instance", "0.6.1"}}, info.Implements)
		equal(t, "infrakit-instance-aliyun", info.Vendor.Name)
		var methods []string
		for _, i := range info.Interfaces {
			for _, m := range i.Methods {
				methods = append(methods, m.Request.Method)
			}
		}
		contains(t, strings.Join(methods, ","), "Instance.Provision")
		contains(t, strings.Join(methods, ","), "Instance.DescribeInstances")

		resp2, err := c.Get("http://a/info/functions.json")
		noErr(t, err)
		resp2.Body.Close()
		equal(t, 200, resp2.StatusCode)
	})
}

// nilIDPlugin answers Provision with neither an ID nor an error.
type nilIDPlugin struct{ *fakePlugin }

func (nilIDPlugin) Provision(instance.Spec) (*instance.ID, error) { return nil, nil }

// A null ID is success to the old clients, and v0.4.1's and v0.5's group
// plugins then crash dereferencing it: the daemon turns it into an error.
func TestProvisionNeverAnswersANullID(t *testing.T) {
	_, socket, _ := served(t, nilIDPlugin{newFakePlugin()}, nil)
	for _, body := range []string{
		`{"jsonrpc":"2.0","method":"Instance.Provision","params":{"Type":"","Spec":{"Properties":{},"Tags":{"infrakit.group":"cattle"},"Init":"","LogicalID":null,"Attachments":null}},"id":2}`,
		`{"jsonrpc":"2.0","method":"Instance.Provision","params":{"Spec":{"Properties":{}}},"id":2}`,
	} {
		var r oldProvisioned
		err := read(replay(t, socket, "a", body), &r)
		if err == nil {
			t.Fatalf("null ID answered as success: %+v", r)
		}
		contains(t, err.Error(), "provision instance: the plugin returned no instance ID")
	}
}

// The rule above, checked against what the real v0.4.1 did (reference).
func TestOldHandshakeRuleMatchesTheCapture(t *testing.T) {
	noErr(t, oldHandshake([]oldSpec{{Name: "Instance", Version: "0.6.1"}, {Name: "Event", Version: "0.1.0"}, {Name: "Instance", Version: "0.3.0"}}, "0.3.0"))
	equal(t, "Plugin supports Instance interface version 0.5.0, client requires 0.3.0",
		oldHandshake([]oldSpec{{Name: "Instance", Version: "0.5.0"}}, "0.3.0").Error())
	equal(t, "Plugin does not support interface {Instance 0.3.0}", oldHandshake(nil, "0.3.0").Error())
}
