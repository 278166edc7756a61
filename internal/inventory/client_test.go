package inventory

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/denverdino/aliyungo/common"
	"github.com/denverdino/aliyungo/ecs"
)

// The commands' calls go through the plugin's retry policy: a throttled
// call is repeated, and what finally fails is classified by ECS code with
// no signed URL in its message.
func TestCommandsRetryAndScrub(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if calls.Add(1) == 1 {
			w.WriteHeader(400)
			_ = json.NewEncoder(w).Encode(map[string]string{"Code": "Throttling.User", "Message": "slow down", "RequestId": "r1"})
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]interface{}{"RequestId": "r2",
			"Regions": map[string]interface{}{"Region": []map[string]string{{"RegionId": "cn-hangzhou", "LocalName": "Hangzhou"}}}})
	}))
	t.Cleanup(srv.Close)
	rows := runJSON[regionRow](t, clientFor(srv.URL, "sk"), "regions")
	assertEqual(t, []regionRow{{RegionId: "cn-hangzhou", LocalName: "Hangzhou"}}, rows)
	assertEqual(t, int32(2), calls.Load())

	dead := httptest.NewServer(http.NotFoundHandler())
	url := dead.URL
	dead.Close()
	_, err := run(t, func() (*ecs.Client, string, error) {
		return ecs.NewECSClientWithEndpointAndSecurityToken(url, "ak", "sk", "sts-token", common.Region("cn-hangzhou")), "cn-hangzhou", nil
	}, "regions")
	requireError(t, err)
	assertContains(t, err.Error(), "describe regions: describeRegions: AliyunGoClientFailure")
	assertNotContains(t, err.Error(), "Signature")
	assertNotContains(t, err.Error(), "sts-token")
}
