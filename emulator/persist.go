package emulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// stateVersion is bumped when the state file format changes incompatibly.
const stateVersion = 1

// saveDelay debounces state-file writes (real time): a burst of mutations
// costs one write.
const saveDelay = 200 * time.Millisecond

type stateDoc struct {
	Version    int
	SavedAt    time.Time // emulated
	Seq        uint64
	PublicNext uint32
	Instances  []*instance
	Disks      []*disk
	Images     []*customImage
	Snapshots  []*snapshot
	Tokens     map[string]*tokenRecord
}

type persister struct {
	s    *Server
	path string

	// saving serialises saves; mu guards timer and dirty only, so a
	// mutating request never waits for a save's file write and fsync.
	saving sync.Mutex
	mu     sync.Mutex
	timer  *time.Timer
	dirty  bool
}

func (p *persister) schedule() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dirty = true
	if p.timer == nil {
		p.timer = time.AfterFunc(saveDelay, p.flush)
	}
}

// flush runs on the debounce timer; a mutation during the save schedules
// the next one.
func (p *persister) flush() {
	p.mu.Lock()
	p.timer = nil
	p.mu.Unlock()
	if err := p.saveIfDirty(); err != nil {
		p.s.log.Error("saving state file", "path", p.path, "err", err)
	}
}

func (p *persister) close() error {
	p.mu.Lock()
	if p.timer != nil {
		p.timer.Stop()
		p.timer = nil
	}
	p.mu.Unlock()
	return p.saveIfDirty() // also waits for a save the timer started
}

// saveIfDirty saves when something changed since the last save; after a
// failed save the state stays dirty.
func (p *persister) saveIfDirty() error {
	p.saving.Lock()
	defer p.saving.Unlock()
	p.mu.Lock()
	dirty := p.dirty
	p.dirty = false
	p.mu.Unlock()
	if !dirty {
		return nil
	}
	err := p.save()
	if err != nil {
		p.mu.Lock()
		p.dirty = true
		p.mu.Unlock()
	}
	return err
}

// save writes the state atomically: temp file in the same directory, fsync,
// rename over the old file.
func (p *persister) save() error {
	s := p.s
	now := s.clock.Now()
	unlock := s.st.lock(now)
	st := s.st
	doc := stateDoc{Version: stateVersion, SavedAt: now, Seq: st.seq, PublicNext: st.publicNext,
		Instances: inSeqOrder(st.instances), Disks: st.diskOrder, Images: st.imgOrder, Tokens: st.tokens}
	if len(st.snapshots) > 0 { // none: Snapshots stays null in the file
		doc.Snapshots = inSeqOrder(st.snapshots)
	}
	b, err := json.Marshal(doc)
	unlock()
	if err != nil {
		return err
	}
	dir := filepath.Dir(p.path)
	f, err := os.CreateTemp(dir, filepath.Base(p.path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, werr := f.Write(b)
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp, p.path)
	}
	if werr != nil {
		os.Remove(tmp)
	}
	return werr
}

// load restores a state file written by save; a missing file is a fresh start.
func (p *persister) load() error {
	b, err := os.ReadFile(p.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("emulator: state file: %w", err)
	}
	var doc stateDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		return fmt.Errorf("emulator: state file %s: %w", p.path, err)
	}
	if doc.Version != stateVersion {
		return fmt.Errorf("emulator: state file %s: version %d, want %d", p.path, doc.Version, stateVersion)
	}
	s := p.s
	st := s.st
	st.seq, st.publicNext = doc.Seq, doc.PublicNext
	sort.Slice(doc.Instances, func(i, j int) bool { return doc.Instances[i].Seq < doc.Instances[j].Seq })
	for _, in := range doc.Instances {
		if in == nil || in.ID == "" {
			continue
		}
		st.instances[in.ID] = in
		if in.released() {
			continue
		}
		st.order = append(st.order, in)
		st.live++
		for _, t := range in.Tags {
			st.index(in, t, true)
		}
		if pool := st.pools[in.VSwitchID]; pool != nil {
			if a, err := netip.ParseAddr(in.PrivateIP); err == nil {
				if o, ok := pool.offset(a); ok {
					pool.used[o] = in.ID
				}
			}
		}
		if !in.ReleaseAt.IsZero() {
			st.pendingRelease = append(st.pendingRelease, in)
		}
	}
	for _, d := range doc.Disks {
		if d != nil && d.ID != "" {
			st.addDisk(d)
		}
	}
	for _, im := range doc.Images {
		if im != nil && im.ID != "" {
			st.images[im.ID] = im
			st.imgOrder = append(st.imgOrder, im)
		}
	}
	for _, sn := range doc.Snapshots {
		if sn != nil && sn.ID != "" {
			st.snapshots[sn.ID] = sn
		}
	}
	if doc.Tokens != nil {
		st.tokens = doc.Tokens
	}
	s.clock.resumeAt(doc.SavedAt)
	return nil
}
