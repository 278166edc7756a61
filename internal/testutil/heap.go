package testutil

import (
	"runtime/metrics"
	"time"
)

// HeapBytes is the bytes of live and not yet swept heap objects now.
func HeapBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// HeapPeak runs f and returns the most heap-object bytes seen while it ran,
// sampled every 200µs: memory benchmarks report it beside B/op, which counts
// what was allocated, not what was held at once.
func HeapPeak(f func()) uint64 {
	var (
		peak uint64
		stop = make(chan struct{})
		done = make(chan struct{})
	)
	go func() {
		defer close(done)
		t := time.NewTicker(200 * time.Microsecond)
		defer t.Stop()
		for {
			peak = max(peak, HeapBytes())
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	f()
	close(stop)
	<-done
	return max(peak, HeapBytes())
}
