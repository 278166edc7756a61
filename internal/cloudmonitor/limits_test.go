package cloudmonitor

import "testing"

// A pusher that never reads its answer must not hold one of the 64
// connections for ever (httplimit.TestWriteTimeoutFreesSlot).
func TestDefaultLimitsBoundWrites(t *testing.T) {
	if w := DefaultLimits().WriteTimeout; w <= 0 {
		t.Fatalf("events listener WriteTimeout %v: want a bound", w)
	}
}
