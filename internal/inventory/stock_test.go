package inventory

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"

	"github.com/denverdino/aliyungo/common"
	"github.com/denverdino/aliyungo/ecs"

	"infrakit.aliyun/internal/ecs/ecstest"
)

// TestStockReadLikeThePlugin answers DescribeAvailableResource with the
// shared answer whose Status and StatusCategory the operator commands and
// the plugin's capacity fallback once read two ways. validate --online's
// stock check must pass exactly the types the plugin counts as in stock
// (plugin/instance TestCapacityStockReadLikeInventory reads the same
// answer), and instance-types --available must label every one.
func TestStockReadLikeThePlugin(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("Action") != "DescribeAvailableResource" {
			w.WriteHeader(400)
			_ = json.NewEncoder(w).Encode(map[string]string{"Code": "InvalidParameter", "Message": "unexpected", "RequestId": "r"})
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(ecstest.StockAnswer("cn-hangzhou-h"))
	}))
	t.Cleanup(srv.Close)
	c := wrapClient(t.Context(), ecs.NewECSClientWithEndpointAndSecurityToken(srv.URL, "ak", "sk", "", common.Region("cn-hangzhou")), noWait())

	var passed []string
	for _, typ := range []string{"ecs.g6.large", "ecs.g6.xlarge", "ecs.c6.large", "ecs.c6.xlarge", "ecs.r6.large", "ecs.r6.xlarge"} {
		line := checkStock(c, "cn-hangzhou", "cn-hangzhou-h", typ).String()
		if strings.HasPrefix(line, "ok") {
			passed = append(passed, typ)
		} else if !strings.Contains(line, "no stock in zone cn-hangzhou-h") {
			t.Errorf("%s: unexpected check %q", typ, line)
		}
	}
	want := append([]string(nil), ecstest.StockAnswerInStock...)
	sort.Strings(passed)
	sort.Strings(want)
	assertEqual(t, want, passed)

	stock, err := describeStock(c, "cn-hangzhou", "", "")
	requireNoError(t, err)
	assertEqual(t, "ClosedWithStock", stock["cn-hangzhou-h"]["ecs.r6.xlarge"].Label())
	assertEqual(t, "SoldOut", stock["cn-hangzhou-h"]["ecs.r6.xlarge"].Status)
}
