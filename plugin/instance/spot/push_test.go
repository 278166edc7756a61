package spot

import (
	"testing"
	"time"

	"infrakit.aliyun/internal/testutil"
)

var equal = testutil.Equal

func TestTokenBucket(t *testing.T) {
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	b := tokenBucket{rate: 2, burst: 3}
	n := 0
	for i := 0; i < 10; i++ {
		if b.take(t0) {
			n++
		}
	}
	equal(t, 3, n, "the burst")
	equal(t, false, b.take(t0.Add(400*time.Millisecond)))
	equal(t, true, b.take(t0.Add(500*time.Millisecond)), "one token per 1/rate")
	equal(t, false, b.take(t0.Add(-time.Hour)), "a clock going back adds nothing")
	n = 0
	for i := 0; i < 10; i++ {
		if b.take(t0.Add(time.Hour)) {
			n++
		}
	}
	equal(t, 3, n, "never more than the burst")
}
