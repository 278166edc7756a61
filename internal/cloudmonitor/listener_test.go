package cloudmonitor

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/Sirupsen/logrus"

	"infrakit.aliyun/internal/testutil"
)

var (
	noErr    = testutil.NoErr
	equal    = testutil.Equal
	contains = testutil.Contains
)

type fakeMarker struct {
	mu     sync.Mutex
	marked []string
}

// MarkInterrupting answers like the plugin: i-unknown is not one of its
// spot instances, "bad id" is refused.
func (f *fakeMarker) MarkInterrupting(id, source string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.marked = append(f.marked, id+" "+source)
	switch id {
	case "i-unknown":
		return Unknown, nil
	case "bad id":
		return "", fmt.Errorf("mark instance %q interrupting: not an instance id", id)
	}
	return "checking", nil
}

func TestEventsListener(t *testing.T) {
	log := logrus.New()
	log.Out = io.Discard
	log.Level = logrus.DebugLevel
	tests := []struct {
		name, method, body string
		wantStatus         int
		wantBody           string
		wantMarked         []string
	}{
		{"interruption", http.MethodPost,
			`{"product":"ECS","resourceId":"acs:ecs:cn-hangzhou:1:instance/i-1","level":"WARN","name":"Instance:PreemptibleInstanceInterruption","regionId":"cn-hangzhou","content":{"instanceId":"i-1","action":"delete"}}`,
			http.StatusAccepted, `"status":"checking"`, []string{"i-1 cloudmonitor"}},
		{"not a known spot instance", http.MethodPost,
			`{"product":"ECS","name":"Instance:PreemptibleInstanceInterruption","content":{"instanceId":"i-unknown"}}`,
			http.StatusOK, `"ignored":"not a spot instance of this plugin's namespace`, []string{"i-unknown cloudmonitor"}},
		{"not an instance id", http.MethodPost,
			`{"product":"ECS","name":"Instance:PreemptibleInstanceInterruption","content":{"instanceId":"bad id"}}`,
			http.StatusBadRequest, `not an instance id`, []string{"bad id cloudmonitor"}},
		{"content as a JSON string", http.MethodPost,
			`{"product":"ECS","name":"Instance:PreemptibleInstanceInterruption","content":"{\"instanceId\":\"i-2\",\"action\":\"delete\"}"}`,
			http.StatusAccepted, `"instanceId":"i-2"`, []string{"i-2 cloudmonitor"}},
		{"bad JSON", http.MethodPost, `{"product":"ECS",`, http.StatusBadRequest, "event is not valid JSON: unexpected end of JSON input", nil},
		{"other event", http.MethodPost, `{"product":"ECS","name":"Instance:StateChange","content":{"instanceId":"i-3"}}`,
			http.StatusOK, `"ignored":"event \"Instance:StateChange\" is not Instance:PreemptibleInstanceInterruption"`, nil},
		{"no instance id", http.MethodPost, `{"product":"ECS","name":"Instance:PreemptibleInstanceInterruption","content":{"action":"delete"}}`,
			http.StatusBadRequest, "event content has no instanceId", nil},
		{"other product", http.MethodPost, `{"product":"RDS","name":"Instance:PreemptibleInstanceInterruption","content":{"instanceId":"i-4"}}`,
			http.StatusBadRequest, `product \"RDS\", want ECS`, nil},
		{"too big", http.MethodPost, `{"name":"` + strings.Repeat("x", MaxBody) + `"}`, http.StatusRequestEntityTooLarge, "event body over 65536 bytes", nil},
		{"GET", http.MethodGet, "", http.StatusMethodNotAllowed, "POST a CloudMonitor event", nil},
	}
	// What Observe is told of each (the daemon's spot_pushes_total).
	wantResult := map[string]string{
		"interruption": "checking", "not a known spot instance": Unknown, "not an instance id": ResultInvalid,
		"content as a JSON string": "checking", "bad JSON": ResultInvalid, "other event": ResultIgnored,
		"no instance id": ResultInvalid, "other product": ResultInvalid, "too big": ResultInvalid, "GET": ResultInvalid,
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &fakeMarker{}
			rec := httptest.NewRecorder()
			var results []string
			NewHandler(m, log, Observe(func(r string) { results = append(results, r) })).
				ServeHTTP(rec, httptest.NewRequest(tt.method, "/", strings.NewReader(tt.body)))
			equal(t, []string{wantResult[tt.name]}, results, "observed")
			rec = httptest.NewRecorder()
			m = &fakeMarker{}
			NewHandler(m, log).ServeHTTP(rec, httptest.NewRequest(tt.method, "/", strings.NewReader(tt.body)))
			equal(t, tt.wantStatus, rec.Code, rec.Body.String())
			contains(t, rec.Body.String(), tt.wantBody)
			equal(t, tt.wantMarked, m.marked)
		})
	}
}

func TestEventsListenRefusesRemote(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "192.0.2.1:8087"} {
		_, err := Listen(addr, false)
		if err == nil {
			t.Fatalf("%s: listening on a non-loopback address without --events-allow-remote", addr)
		}
		contains(t, err.Error(), "is not a loopback address")
	}
	for _, addr := range []string{"127.0.0.1:0", "[::1]:0", "localhost:0"} {
		l, err := Listen(addr, false)
		if err != nil && strings.Contains(err.Error(), "loopback") {
			t.Fatalf("%s refused: %v", addr, err)
		}
		if l != nil {
			l.Close()
		}
	}
	l, err := Listen("0.0.0.0:0", true)
	noErr(t, err)
	l.Close()
	_, err = Listen("nonsense", false)
	contains(t, fmt.Sprint(err), `--events-listen "nonsense"`)
}
