package state

import (
	"sync"
	"time"
)

// clock is the emulated clock. There are no timers: instance states and
// scheduled releases are computed from emulated timestamps whenever they are
// read, so a test moves the world by moving this clock (TimeScale, Advance)
// instead of sleeping.
//
//	emulated now = emuStart + (realNow - realStart) * scale + offset
type Clock struct {
	now       func() time.Time // injected real clock
	realStart time.Time
	emuStart  time.Time
	scale     float64

	mu     sync.Mutex
	offset time.Duration
	last   time.Time // emulated time never runs backwards, even if now() does
}

func NewClock(now func() time.Time, scale float64) *Clock {
	r := now()
	return &Clock{now: now, realStart: r, emuStart: r.UTC(), scale: scale}
}

func (c *Clock) Now() time.Time {
	r := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	el := float64(r.Sub(c.realStart)) * c.scale
	t := c.emuStart.Add(time.Duration(el) + c.offset)
	if t.Before(c.last) {
		t = c.last
	}
	c.last = t
	return t
}

// Advance moves emulated time forward by d (negative d is ignored).
func (c *Clock) Advance(d time.Duration) {
	if d <= 0 {
		return
	}
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

// resumeAt makes emulated time continue from at least t; used when a state
// file saved at emulated time t is loaded, so restored timestamps never lie
// in the future.
func (c *Clock) ResumeAt(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.emuStart) {
		c.emuStart = t.UTC()
	}
}
