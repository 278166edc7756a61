package emulator

import (
	"testing"
	"time"
)

// TestNonceReplayAtWindowEdge: a request stamped ahead of the server's
// clock is valid until the server reaches Timestamp+15 min inclusive, so
// its nonce must be remembered at that very instant too; it was forgotten
// one tick early and the captured request could be replayed once.
func TestNonceReplayAtWindowEdge(t *testing.T) {
	srv, fc := newTestServer(t, Options{})
	fc.Add(-time.Duration(fc.Now().Nanosecond())) // whole seconds, as Timestamp is
	ts := fc.Now().Add(10 * time.Minute)          // the client's clock runs ahead
	r := raw{params: map[string]string{"Action": "DescribeRegions", "SignatureNonce": "edge-nonce"}, baseURL: srv.URL()}
	mustOK(t, r.do(t, ts))
	fc.Add(ts.Add(timestampWindow).Sub(fc.Now())) // the last instant ts is accepted
	if got := r.do(t, ts); got.Status != 400 || got.Code() != "SignatureNonceUsed" {
		t.Fatalf("replay at Timestamp+%v: %d %s, want 400 SignatureNonceUsed", timestampWindow, got.Status, got.Text)
	}
	fc.Add(time.Nanosecond) // now the Timestamp itself is refused
	if got := r.do(t, ts); got.Code() != "InvalidTimeStamp.Expired" {
		t.Fatalf("replay after the window: %d %s, want InvalidTimeStamp.Expired", got.Status, got.Text)
	}
}
