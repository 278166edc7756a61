package metrics

import "testing"

// A scraper that never reads its answer must not hold one of the 16
// connections for ever (httplimit.TestWriteTimeoutFreesSlot): the answer
// has a write timeout, longer than the gathering timeout.
func TestDefaultLimitsBoundWrites(t *testing.T) {
	if w := DefaultLimits().WriteTimeout; w <= 10e9 {
		t.Fatalf("metrics WriteTimeout %v: want one over the 10 s gathering timeout", w)
	}
}
