package capacity

import (
	"testing"
	"time"

	log "github.com/Sirupsen/logrus"
)

// Groups come from callers (a describe by any group tag, a Provision of
// any group): tallies of groups nobody asked about for longer than
// tallyTTL are dropped, so the map does not grow for as long as the
// plugin runs.
func TestTalliesOfIdleGroupsAreDropped(t *testing.T) {
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	p := New(Config{Log: log.New(), Now: func() time.Time { return now }})
	for i := 0; i < 1000; i++ {
		p.Observe("junk-"+string(rune('a'+i%26))+time.Duration(i).String(), map[string]string{})
	}
	now = now.Add(2 * tallyTTL)
	p.Observe("g", map[string]string{"i-1": "vsw-1"})
	p.mu.Lock()
	n := len(p.tallies)
	p.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d tallies kept after their groups were idle for %v, want 1", n, 2*tallyTTL)
	}
	if got := p.tally("g"); got["i-1"] != "vsw-1" {
		t.Fatalf("the fresh tally is lost: %v", got)
	}
}
