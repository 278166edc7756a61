package state

import (
	"sync"
	"time"
)

// Credential is a temporary (STS) credential: requests signed with its
// AccessKeyId must carry SecurityToken.
type Credential struct {
	AccessKeySecret string
	SecurityToken   string
	Expiration      time.Time // zero: never expires (checked against Options.Now)
}

// IssuedKeys holds the temporary keys minted at run time. Unlike
// Options.STSKeys it is written while the server runs, so it has a lock.
type IssuedKeys struct {
	mu   sync.Mutex
	keys map[string]Credential
}

// Get returns a minted key.
func (k *IssuedKeys) Get(id string) (Credential, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	c, ok := k.keys[id]
	return c, ok
}

// Put records a minted key; now (the temporary keys' clock) ages out old ones.
func (k *IssuedKeys) Put(id string, c Credential, now time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.keys == nil {
		k.keys = map[string]Credential{}
	}
	// Forget keys that expired long ago so a long run cannot grow forever.
	for old, oc := range k.keys {
		if !oc.Expiration.IsZero() && now.Sub(oc.Expiration) > time.Hour {
			delete(k.keys, old)
		}
	}
	k.keys[id] = c
}

// Snapshot copies the keys for the state file.
func (k *IssuedKeys) Snapshot() map[string]Credential {
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.keys) == 0 {
		return nil
	}
	out := make(map[string]Credential, len(k.keys))
	for id, c := range k.keys {
		out[id] = c
	}
	return out
}
