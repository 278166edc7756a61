package rpcserver

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	rpcinstance "github.com/docker/infrakit/pkg/rpc/instance"
	"github.com/docker/infrakit/pkg/spi/instance"
	"github.com/docker/infrakit/pkg/types"
	"github.com/gorilla/rpc/v2"
	"github.com/gorilla/rpc/v2/json2"
	"infrakit.aliyun/internal/testutil"
)

// describeReply is a DescribeInstances answer of n instances with
// properties, with characters JSON escapes (HTML, quotes, non-ASCII).
func describeReply(n int) *rpcinstance.DescribeInstancesResponse {
	out := &rpcinstance.DescribeInstancesResponse{Type: "", Descriptions: []instance.Description{}}
	for i := 0; i < n; i++ {
		lid := instance.LogicalID(fmt.Sprintf("10.0.%d.%d", i/250, i%250))
		out.Descriptions = append(out.Descriptions, instance.Description{
			ID:        instance.ID(fmt.Sprintf("i-%08d", i)),
			LogicalID: &lid,
			Tags:      map[string]string{"infrakit.group": "web", "note": `<a href="x">&é</a>`, "n": fmt.Sprint(i)},
			Properties: types.AnyString(fmt.Sprintf(`{"InstanceId": "i-%08d",
  "Status":"Running", "HostName":"<h\u00e9>", "SecurityGroupIds":["sg-1","sg-2"], "SpotPriceLimit":0.25}`, i)),
		})
	}
	return out
}

// respond writes reply through codec for a request with the given JSON-RPC
// id and returns the recorded answer.
func respond(codec rpc.Codec, id string, reply interface{}) *httptest.ResponseRecorder {
	body := `{"jsonrpc":"2.0","method":"Instance.DescribeInstances","params":{"Tags":{}},"id":` + id + `}`
	w := httptest.NewRecorder()
	codec.NewRequest(httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))).WriteResponse(w, reply)
	return w
}

// A streamed DescribeInstances answer is byte for byte what gorilla writes.
func TestDescribeAnswerIsStreamedVerbatim(t *testing.T) {
	for _, n := range []int{0, 1, 3, 2000} { // 2000: several flushes
		for _, id := range []string{`1`, `"a<b>"`, `{ "k" : [1, 2] }`} {
			reply := describeReply(n)
			want := respond(json2.NewCodec(), id, reply)
			got := respond(newParamsCodec(), id, reply)
			equal(t, want.Code, got.Code)
			equal(t, want.Header().Get("Content-Type"), got.Header().Get("Content-Type"))
			if w, g := want.Body.String(), got.Body.String(); w != g {
				at := 0
				for at < min(len(w), len(g)) && w[at] == g[at] {
					at++
				}
				t.Errorf("n=%d id=%s: answers differ at byte %d of %d/%d\nwant: %.200q\n got: %.200q", n, id, at, len(w), len(g), w[at:], g[at:])
			}
		}
	}
	// Other answers, nil descriptions and notifications go through gorilla.
	for _, reply := range []interface{}{&rpcinstance.DescribeInstancesResponse{}, &rpcinstance.LabelResponse{OK: true}} {
		equal(t, respond(json2.NewCodec(), `7`, reply).Body.String(), respond(newParamsCodec(), `7`, reply).Body.String())
	}
	equal(t, "", respond(newParamsCodec(), `null`, describeReply(1)).Body.String())
}

// Properties that do not encode fail the call as gorilla fails it.
func TestDescribeAnswerEncodingFailure(t *testing.T) {
	reply := describeReply(1)
	reply.Descriptions[0].Properties = types.AnyString(`{not json`)
	want := respond(json2.NewCodec(), `1`, reply)
	got := respond(newParamsCodec(), `1`, reply)
	equal(t, http.StatusInternalServerError, got.Code)
	equal(t, want.Code, got.Code)
	equal(t, want.Body.String(), got.Body.String())
}

// BenchmarkDescribeAnswer10k writes a 10,000-instance DescribeInstances
// answer with properties, as gorilla does and streamed; peak-heap-MB is the
// most the heap grew while it was written (sampled).
//
//	go test -run '^$' -bench DescribeAnswer -benchmem ./internal/rpcserver
func BenchmarkDescribeAnswer10k(b *testing.B) {
	reply := describeReply(10000)
	for _, c := range []struct {
		name  string
		codec rpc.Codec
	}{{"gorilla", json2.NewCodec()}, {"streamed", newParamsCodec()}} {
		b.Run(c.name, func(b *testing.B) {
			var peak uint64
			b.ReportAllocs()
			b.StopTimer()
			for i := 0; i < b.N; i++ {
				body := `{"jsonrpc":"2.0","method":"Instance.DescribeInstances","params":{},"id":1}`
				req := c.codec.NewRequest(httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body)))
				w := &discard{header: http.Header{}}
				runtime.GC()
				base := testutil.HeapBytes()
				b.StartTimer()
				hw := testutil.HeapPeak(func() { req.WriteResponse(w, reply) })
				b.StopTimer()
				if w.n == 0 {
					b.Fatal("nothing written")
				}
				peak = max(peak, hw-min(hw, base))
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
		})
	}
}

// discard is a ResponseWriter that keeps nothing.
type discard struct {
	header http.Header
	n      int
}

func (w *discard) Header() http.Header         { return w.header }
func (w *discard) Write(b []byte) (int, error) { w.n += len(b); return len(b), nil }
func (w *discard) WriteHeader(int)             {}
