package emulator

import (
	"errors"
	"net/http"
	"path/filepath"
	"testing"
)

// failNextSave makes the next saves of srv fail at the rename (a crash
// between two writes) until the returned function is called.
func failNextSave(srv *Server) (stop func()) {
	srv.persist.Fail = func(step string) error {
		if step == "rename" {
			return errors.New("crash between two writes")
		}
		return nil
	}
	return func() { srv.persist.Fail = nil }
}

// TestClientTokenRetryIsDurable: RunInstances whose save failed is
// answered InternalError and its instance stays in memory; the ClientToken
// retry that is then answered success must have put it on disk, or a
// kill -9 right after that answer loses an acknowledged instance.
func TestClientTokenRetryIsDurable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	srv, fc := newTestServer(t, Options{StateFile: path})
	mustOK(t, api(t, srv, fc, runParams(nil))) // the state file exists

	stop := failNextSave(srv)
	r := api(t, srv, fc, runParams(map[string]string{"ClientToken": "retry-1"}))
	if r.Status != http.StatusInternalServerError {
		t.Fatalf("RunInstances whose save failed: %d %s, want 500", r.Status, r.Text)
	}
	stop()
	id := runIDs(t, api(t, srv, fc, runParams(map[string]string{"ClientToken": "retry-1"})))[0]

	srv2, _ := newTestServer(t, Options{StateFile: crashCopy(t, path)})
	if !liveIDs(srv2)[id] {
		t.Fatalf("instance %s answered to a ClientToken retry is not in the state file: lost in a crash", id)
	}
}

// TestAnswerAfterFailedSaveIsDurable: DeleteInstance whose save failed is
// answered InternalError, but the instance is released in memory. The
// retry (the plugin's Destroy looks the instance up, then deletes again)
// is answered "not found", which the plugin takes as done; that answer
// must not come before the release is on disk, or a kill -9 right after
// it brings back an instance the plugin was told is gone.
func TestAnswerAfterFailedSaveIsDurable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	srv, fc := newTestServer(t, Options{StateFile: path})
	id := runIDs(t, api(t, srv, fc, runParams(map[string]string{"InstanceChargeType": "PostPaid"})))[0]
	del := map[string]string{"Action": "DeleteInstance", "RegionId": DefaultRegion, "InstanceId": id, "Force": "true"}

	stop := failNextSave(srv)
	if r := api(t, srv, fc, del); r.Status != http.StatusInternalServerError {
		t.Fatalf("DeleteInstance whose save failed: %d %s, want 500", r.Status, r.Text)
	}
	stop()
	if r := api(t, srv, fc, del); r.Code() != "InvalidInstanceId.NotFound" {
		t.Fatalf("DeleteInstance retry: %d %s, want InvalidInstanceId.NotFound", r.Status, r.Text)
	}
	srv2, _ := newTestServer(t, Options{StateFile: crashCopy(t, path)})
	if liveIDs(srv2)[id] {
		t.Fatalf("instance %s, answered as not found, is back after a crash", id)
	}
}
