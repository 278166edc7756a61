package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// stateVersion is bumped when the state file format changes incompatibly.
const stateVersion = 1

// World is everything the state file holds, and the clocks it is read by.
type World struct {
	Clock     *Clock
	Store     *Store
	SecGroups *SecGroups
	Keys      *IssuedKeys
	// KeysNow is the clock temporary keys expire by (Options.STSNow).
	KeysNow func() time.Time
}

type stateDoc struct {
	Version    int
	SavedAt    time.Time // emulated
	Seq        uint64
	PublicNext uint32
	Instances  []*Instance
	Disks      []*Disk
	Images     []*CustomImage
	Snapshots  []*Snapshot
	Tokens     map[string]*Token
	// STSKeys are the temporary keys AssumeRole (and the metadata fake)
	// issued: a client holding one keeps working across a restart. The file
	// is created 0600 for this reason.
	STSKeys map[string]Credential `json:",omitempty"`
	// SecurityGroups are all groups (catalogue ones included: their rules
	// change and they can be deleted) with their rules. Absent (a file
	// from before groups were saved): the catalogue's groups.
	SecurityGroups []SecGroup `json:",omitempty"`
	// SecurityGroupsSaved tells an empty SecurityGroups (every group
	// deleted) from an old file that had none.
	SecurityGroupsSaved bool `json:",omitempty"`
}

// Persister makes every acknowledged change durable before it is answered
// (write-before-answer): a mutating request calls commit after applying its
// change and before writing its answer, and commit returns once a snapshot
// holding the change has been written, fsynced and renamed over the state
// file. A kill -9 at any moment therefore loses no answered change, and
// the rename makes every write all-or-nothing: a crash between two writes
// leaves the last complete snapshot (and a stray temp file, removed at the
// next start).
//
// Commits are grouped: while one save runs, every change made meanwhile
// waits for the next save, which covers them all at once; so N concurrent
// mutations cost far fewer than N file writes. Changes are counted in gen;
// a save records the gen it covers, read under the store lock so the
// snapshot holds every change counted up to it.
type Persister struct {
	w    *World
	log  *slog.Logger
	path string

	// Fail, when set (tests), is called before each step of a save
	// ("write", "sync", "rename", "syncdir") and aborts the save with its
	// error, as a crash or a full disk between two writes would.
	Fail func(step string) error

	mu       sync.Mutex
	cond     *sync.Cond // signalled when a save ends
	gen      uint64     // changes counted so far
	savedGen uint64     // every change up to savedGen is on disk
	saving   bool
	failGen  uint64 // the last failed save covered changes up to failGen
	failErr  error
	saves    int // completed saves, for tests and the group-commit figure
}

// NewPersister keeps w in the state file at path, logging failed saves.
func NewPersister(w *World, path string, log *slog.Logger) *Persister {
	p := &Persister{w: w, log: log, path: path}
	p.cond = sync.NewCond(&p.mu)
	return p
}

// Saves is the number of completed saves (for tests and the group-commit
// figure).
func (p *Persister) Saves() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.saves
}

// Counted is the number of changes counted so far.
func (p *Persister) Counted() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.gen
}

// Failed reports whether the last save failed: changes then exist that
// are applied in memory but not on disk.
func (p *Persister) Failed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.failErr != nil
}

// Commit counts one change (already applied under the store lock) and
// returns once a save covering it succeeded, or with the error of the save
// that covered it.
func (p *Persister) Commit() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gen++
	return p.waitLocked(p.gen)
}

// waitLocked waits (p.mu held) until changes up to gen are saved, running
// the save itself when no save is in progress.
func (p *Persister) waitLocked(gen uint64) error {
	for {
		switch {
		case p.savedGen >= gen:
			return nil
		case p.failErr != nil && p.failGen >= gen:
			return p.failErr
		case !p.saving:
			p.saving = true
			p.mu.Unlock()
			covered, err := p.save()
			p.mu.Lock()
			p.saving = false
			if err == nil {
				p.savedGen = max(p.savedGen, covered)
				p.failErr = nil
				p.saves++
			} else {
				p.failGen, p.failErr = covered, err
				p.log.Error("saving state file", "path", p.path, "err", err)
			}
			p.cond.Broadcast()
		default:
			p.cond.Wait()
		}
	}
}

// Close saves once more when a change is not on disk yet (or the last save
// failed), so emulated time and reaped instances are kept too.
func (p *Persister) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.saving {
		p.cond.Wait()
	}
	if p.savedGen >= p.gen && p.failErr == nil {
		return nil
	}
	p.gen++
	return p.waitLocked(p.gen)
}

// save writes the state atomically: temp file in the same directory, fsync,
// rename over the old file, fsync of the directory (so the rename itself
// survives a power loss). It returns the change count the snapshot covers.
func (p *Persister) save() (uint64, error) {
	w := p.w
	now := w.Clock.Now()
	unlock := w.Store.Lock(now)
	p.mu.Lock()
	covered := p.gen
	p.mu.Unlock()
	st := w.Store
	doc := stateDoc{Version: stateVersion, SavedAt: now, Seq: st.Seq, PublicNext: st.PublicNext,
		Instances: InSeqOrder(st.Instances), Disks: st.DiskOrder, Images: st.ImgOrder, Tokens: st.Tokens,
		STSKeys: w.Keys.Snapshot(), SecurityGroups: w.SecGroups.Snapshot(), SecurityGroupsSaved: true}
	if len(st.Snapshots) > 0 { // none: Snapshots stays null in the file
		doc.Snapshots = InSeqOrder(st.Snapshots)
	}
	b, err := json.Marshal(doc)
	unlock()
	if err != nil {
		return covered, fmt.Errorf("encode state: %w", err)
	}
	step := func(name string) error {
		if p.Fail != nil {
			return p.Fail(name)
		}
		return nil
	}
	dir := filepath.Dir(p.path)
	f, err := os.CreateTemp(dir, filepath.Base(p.path)+TmpInfix+"*")
	if err != nil {
		return covered, err
	}
	tmp := f.Name()
	werr := step("write")
	if werr == nil {
		_, werr = f.Write(b)
	}
	if werr == nil {
		if werr = step("sync"); werr == nil {
			werr = f.Sync()
		}
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		if werr = step("rename"); werr == nil {
			werr = os.Rename(tmp, p.path)
		}
	}
	if werr != nil {
		os.Remove(tmp)
		return covered, werr
	}
	if err := step("syncdir"); err != nil {
		return covered, err
	}
	return covered, syncDir(dir)
}

// TmpInfix names the temp files of a save: "<state file>.tmp-<random>".
const TmpInfix = ".tmp-"

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// removeStrayTemps deletes the temp files of saves a crash interrupted.
func (p *Persister) removeStrayTemps() {
	matches, _ := filepath.Glob(p.path + TmpInfix + "*")
	for _, m := range matches {
		if err := os.Remove(m); err == nil {
			p.log.Info("removed the temp file of an interrupted save", "path", m)
		}
	}
}

// Load restores a state file written by save; a missing file is a fresh
// start. A file that does not parse is an error, never a fresh start: saves
// only ever rename complete files into place, so a damaged file was damaged
// by something else and starting empty would silently drop every resource.
func (p *Persister) Load() error {
	p.removeStrayTemps()
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
	w := p.w
	st := w.Store
	st.Seq, st.PublicNext = doc.Seq, doc.PublicNext
	sort.Slice(doc.Instances, func(i, j int) bool { return doc.Instances[i].Seq < doc.Instances[j].Seq })
	for _, in := range doc.Instances {
		if in == nil || in.ID == "" {
			continue
		}
		st.Instances[in.ID] = in
		if in.Released() {
			continue
		}
		st.Order = append(st.Order, in)
		st.Live++
		for _, t := range in.Tags {
			st.Index(in, t, true)
		}
		if pool := st.Pools[in.VSwitchID]; pool != nil {
			if a, err := netip.ParseAddr(in.PrivateIP); err == nil {
				if o, ok := pool.Offset(a); ok {
					pool.Used[o] = in.ID
				}
			}
		}
		if !in.ReleaseAt.IsZero() {
			st.PendingRelease = append(st.PendingRelease, in)
		}
	}
	for _, d := range doc.Disks {
		if d != nil && d.ID != "" {
			st.AddDisk(d)
		}
	}
	for _, im := range doc.Images {
		if im != nil && im.ID != "" {
			st.Images[im.ID] = im
			st.ImgOrder = append(st.ImgOrder, im)
		}
	}
	for _, sn := range doc.Snapshots {
		if sn != nil && sn.ID != "" {
			st.Snapshots[sn.ID] = sn
		}
	}
	if doc.Tokens != nil {
		st.Tokens = doc.Tokens
	}
	if doc.SecurityGroupsSaved {
		w.SecGroups.Restore(doc.SecurityGroups)
	}
	for id, c := range doc.STSKeys {
		w.Keys.Put(id, c, w.KeysNow())
	}
	w.Clock.ResumeAt(doc.SavedAt)
	return nil
}
