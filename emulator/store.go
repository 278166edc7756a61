package emulator

import (
	"math/rand/v2"
	"net/netip"
	"sort"
	"sync"
	"time"
)

// Instance statuses, as ECS spells them.
const (
	StatusPending  = "Pending"
	StatusStarting = "Starting"
	StatusRunning  = "Running"
	StatusStopping = "Stopping"
	StatusStopped  = "Stopped"
	// StatusReleased is not an ECS status (released instances vanish from
	// the API); it labels released instances in Stats and InstanceView.
	StatusReleased = "Released"
)

// Release reasons recorded on released instances.
const (
	ReleaseDeleted   = "deleted"   // DeleteInstance(s)
	ReleaseKilled    = "killed"    // Kill / DELETE /emulator/instances/{id}
	ReleasePreempted = "preempted" // spot interruption after PreemptNotice
)

// Tag is one key/value tag.
type Tag struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

// transition is the lazily evaluated state machine of an instance: From
// until MidAt, Mid until ToAt, then To. Every ECS lifecycle move (run,
// create, start, stop, reboot) fits this three-phase shape, so no timer or
// goroutine is needed: the status is computed from the emulated clock.
type transition struct {
	From  string
	MidAt time.Time
	Mid   string
	ToAt  time.Time
	To    string
}

func (t transition) at(now time.Time) string {
	switch {
	case now.Before(t.MidAt):
		return t.From
	case now.Before(t.ToAt):
		return t.Mid
	}
	return t.To
}

// instance is the stored form of an ECS instance. Fields are exported only
// for the state file's JSON.
type instance struct {
	Seq                     uint64
	ID                      string
	Name                    string
	Description             string
	HostName                string
	RegionID                string
	ZoneID                  string
	Type                    string
	ImageID                 string
	VpcID                   string
	VSwitchID               string
	PrivateIP               string
	PublicIP                string
	InternetMaxBandwidthOut int
	SecurityGroupIDs        []string
	Tags                    []Tag
	UserData                string // base64, as sent
	KeyPairName             string
	RamRoleName             string
	SpotStrategy            string
	SpotPriceLimit          float64
	DeletionProtection      bool
	ClientToken             string
	SystemDiskID            string
	DataDiskIDs             []string
	Created                 time.Time
	Started                 time.Time
	State                   transition
	Locks                   []string
	PreemptedAt             time.Time
	ReleaseAt               time.Time // scheduled release (spot interruption)
	ReleasedAt              time.Time // zero while the instance lives
	ReleaseReason           string
}

// released reports whether the instance is gone (ReleasedAt is set then,
// and only then).
func (in *instance) released() bool { return !in.ReleasedAt.IsZero() }

func (in *instance) status(now time.Time) string {
	if in.released() {
		return StatusReleased
	}
	return in.State.at(now)
}

type disk struct {
	Seq                uint64
	ID                 string
	RegionID           string
	ZoneID             string
	Name               string
	Description        string
	Type               string // system | data
	Category           string
	Size               int
	ImageID            string
	SnapshotID         string
	InstanceID         string
	Device             string
	DeleteWithInstance bool
	DeleteAutoSnapshot bool
	EnableAutoSnapshot bool
	Encrypted          bool
	Portable           bool
	Tags               []Tag
	Created            time.Time
	Attached           time.Time
	Detached           time.Time
	DeletedAt          time.Time // zero while the disk exists
}

func (d *disk) deleted() bool { return !d.DeletedAt.IsZero() }

func (d *disk) status() string {
	switch {
	case d.deleted():
		return "Deleted"
	case d.InstanceID != "":
		return "In_use"
	}
	return "Available"
}

type customImage struct {
	Seq            uint64
	ID             string
	RegionID       string
	Name           string
	Description    string
	SourceInstance string
	SourceSnapshot string
	OSName         string
	OSType         string
	Platform       string
	Architecture   string
	Size           int
	Tags           []Tag
	Created        time.Time
	Ready          time.Time
	Deleted        bool
}

func (im *customImage) status(now time.Time) string {
	if now.Before(im.Ready) {
		return "Creating"
	}
	return "Available"
}

type snapshot struct {
	Seq      uint64
	ID       string
	RegionID string
	DiskID   string
	Name     string
	Size     int
	Tags     []Tag
	Created  time.Time
	Deleted  bool
}

// tokenRecord remembers a ClientToken: the hash of the parameters it was
// first used with and the IDs it created.
type tokenRecord struct {
	Hash string
	IDs  []string
}

// ipPool allocates addresses of one vswitch. ECS reserves the first and the
// last three addresses of every vswitch CIDR.
type ipPool struct {
	base netip.Addr
	size uint32
	used map[uint32]string
	next uint32
}

func newIPPool(p netip.Prefix) *ipPool {
	return &ipPool{base: p.Addr(), size: uint32(1) << (32 - p.Bits()), used: map[uint32]string{}, next: 1}
}

func (p *ipPool) usable() int { return int(p.size) - 4 }

func (p *ipPool) free() int { return p.usable() - len(p.used) }

func (p *ipPool) offset(a netip.Addr) (uint32, bool) {
	if !a.Is4() {
		return 0, false
	}
	b, x := p.base.As4(), a.As4()
	o := (uint32(x[0])<<24 | uint32(x[1])<<16 | uint32(x[2])<<8 | uint32(x[3])) -
		(uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]))
	return o, o < p.size
}

func (p *ipPool) addr(o uint32) string {
	b := p.base.As4()
	v := (uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])) + o
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}).String()
}

func (p *ipPool) reservedOffset(o uint32) bool { return o == 0 || o >= p.size-3 }

// take allocates the next free address round-robin (so a released address
// is not handed out again at once, like ECS).
func (p *ipPool) take(owner string) (string, bool) {
	n := uint32(p.usable())
	for i := uint32(0); i < n; i++ {
		o := p.next
		p.next++
		if p.next >= p.size-3 {
			p.next = 1
		}
		if _, ok := p.used[o]; !ok {
			p.used[o] = owner
			return p.addr(o), true
		}
	}
	return "", false
}

func (p *ipPool) release(ip string) {
	if a, err := netip.ParseAddr(ip); err == nil {
		if o, ok := p.offset(a); ok {
			delete(p.used, o)
		}
	}
}

// store is all mutable state behind one mutex. Instances are kept in
// creation order (order) so listing and paging walk a slice without copying;
// tagIdx maps "key\x00value" and "key\x01" (key only) to instances so a
// DescribeInstances tag filter over 10k instances touches only the matches.
type store struct {
	mu sync.Mutex

	cat  *catalog
	rng  *rand.Rand
	seq  uint64
	boot time.Duration
	stop time.Duration

	instances      map[string]*instance
	order          []*instance
	releasedCount  int // released instances still in order
	live           int // instances not released
	tagIdx         map[string]map[*instance]struct{}
	pendingRelease []*instance

	disks     map[string]*disk
	diskOrder []*disk
	images    map[string]*customImage
	imgOrder  []*customImage
	snapshots map[string]*snapshot
	tokens    map[string]*tokenRecord

	pools      map[string]*ipPool
	publicNext uint32
}

func newStore(cat *catalog, seed int64, boot, stop time.Duration) *store {
	st := &store{
		cat: cat, rng: rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15)), boot: boot, stop: stop,
		instances: map[string]*instance{}, tagIdx: map[string]map[*instance]struct{}{},
		disks: map[string]*disk{}, images: map[string]*customImage{}, snapshots: map[string]*snapshot{},
		tokens: map[string]*tokenRecord{}, pools: map[string]*ipPool{},
	}
	for id, p := range cat.prefixes {
		st.pools[id] = newIPPool(p)
	}
	return st
}

// lock takes the store lock and first applies every scheduled release that
// is due at emulated time now; it returns the unlock function.
func (st *store) lock(now time.Time) func() {
	st.mu.Lock()
	st.reap(now)
	return st.mu.Unlock
}

func (st *store) reap(now time.Time) {
	if len(st.pendingRelease) == 0 {
		return
	}
	keep := st.pendingRelease[:0]
	for _, in := range st.pendingRelease {
		switch {
		case in.released():
		case !now.Before(in.ReleaseAt):
			st.release(in, in.ReleaseAt, ReleasePreempted)
		default:
			keep = append(keep, in)
		}
	}
	for i := len(keep); i < len(st.pendingRelease); i++ {
		st.pendingRelease[i] = nil
	}
	st.pendingRelease = keep
}

var regionPrefix = map[string]string{
	"cn-hangzhou": "bp1", "cn-shanghai": "uf6", "cn-beijing": "2ze", "cn-shenzhen": "wz9",
	"cn-hongkong": "j6c", "ap-southeast-1": "t4n", "us-west-1": "rj9", "eu-central-1": "gw8",
}

// newID makes a real-looking ID (prefix-<region code><17 base36 chars>) from
// the seeded source, so runs with the same Seed produce the same IDs.
func (st *store) newID(kind, region string) string {
	const alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"
	rp := regionPrefix[region]
	if rp == "" {
		rp = "emu"
	}
	for {
		b := make([]byte, 0, 24)
		b = append(b, kind...)
		b = append(b, '-')
		b = append(b, rp...)
		for i := 0; i < 17; i++ {
			b = append(b, alphabet[st.rng.IntN(len(alphabet))])
		}
		id := string(b)
		_, a := st.instances[id]
		_, d := st.disks[id]
		_, c := st.images[id]
		_, e := st.snapshots[id]
		if !a && !d && !c && !e {
			return id
		}
	}
}

func (st *store) nextSeq() uint64 { st.seq++; return st.seq }

func (st *store) nextPublicIP() string {
	// 47.96.0.0/13 is an Alibaba Cloud cn-hangzhou public range.
	st.publicNext++
	v := uint32(47)<<24 | uint32(96)<<16 + st.publicNext%(1<<19)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}).String()
}

// record is what the store keeps of every resource kind (instances, disks,
// custom images, snapshots): whether it still exists, its region, and its
// creation sequence number.
type record interface {
	alive() bool
	region() string
	seqNo() uint64
}

func (in *instance) alive() bool       { return !in.released() }
func (in *instance) region() string    { return in.RegionID }
func (in *instance) seqNo() uint64     { return in.Seq }
func (d *disk) alive() bool            { return !d.deleted() }
func (d *disk) region() string         { return d.RegionID }
func (d *disk) seqNo() uint64          { return d.Seq }
func (im *customImage) alive() bool    { return !im.Deleted }
func (im *customImage) region() string { return im.RegionID }
func (im *customImage) seqNo() uint64  { return im.Seq }
func (sn *snapshot) alive() bool       { return !sn.Deleted }
func (sn *snapshot) region() string    { return sn.RegionID }
func (sn *snapshot) seqNo() uint64     { return sn.Seq }

// live returns m[id] if it exists, is neither released nor deleted and is
// in region ("" = any); otherwise notFound(id).
func live[T record](m map[string]T, id, region string, notFound func(id string) *apiError) (T, *apiError) {
	x, ok := m[id]
	if !ok || !x.alive() || (region != "" && x.region() != region) {
		var none T
		return none, notFound(id)
	}
	return x, nil
}

func (st *store) liveInstance(id, region string) (*instance, *apiError) {
	return live(st.instances, id, region, errInstanceNotFound)
}

func (st *store) liveDisk(id, region string) (*disk, *apiError) {
	return live(st.disks, id, region, errDiskNotFound)
}

func (st *store) liveImage(id, region string) (*customImage, *apiError) {
	return live(st.images, id, region, errImageNotFound)
}

func (st *store) liveSnapshot(id, region string) (*snapshot, *apiError) {
	return live(st.snapshots, id, region, errSnapshotNotFound)
}

// pick returns m[id] for each distinct id of ids that m holds, released and
// deleted ones included, in creation order: an ID filter looks its
// resources up instead of walking every resource.
func pick[T record](m map[string]T, ids []string) []T {
	out := make([]T, 0, len(ids))
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if x, ok := m[id]; ok && !seen[id] {
			seen[id] = true
			out = append(out, x)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].seqNo() < out[j].seqNo() })
	return out
}

// inSeqOrder returns the values of m, released and deleted ones included,
// in creation order.
func inSeqOrder[T record](m map[string]T) []T {
	out := make([]T, 0, len(m))
	for _, x := range m {
		out = append(out, x)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].seqNo() < out[j].seqNo() })
	return out
}

// --- tags -----------------------------------------------------------------

func tagKey(k, v string) string { return k + "\x00" + v }
func tagOnly(k string) string   { return k + "\x01" }

func (st *store) index(in *instance, t Tag, add bool) {
	for _, key := range []string{tagKey(t.Key, t.Value), tagOnly(t.Key)} {
		m := st.tagIdx[key]
		if add {
			if m == nil {
				m = map[*instance]struct{}{}
				st.tagIdx[key] = m
			}
			m[in] = struct{}{}
		} else if m != nil {
			delete(m, in)
			if len(m) == 0 {
				delete(st.tagIdx, key)
			}
		}
	}
}

func setTag(tags []Tag, k, v string) []Tag {
	for i := range tags {
		if tags[i].Key == k {
			tags[i].Value = v
			return tags
		}
	}
	return append(tags, Tag{k, v})
}

func removeTag(tags []Tag, k string) []Tag {
	for i := range tags {
		if tags[i].Key == k {
			return append(tags[:i:i], tags[i+1:]...)
		}
	}
	return tags
}

func tagValue(tags []Tag, k string) (string, bool) {
	for _, t := range tags {
		if t.Key == k {
			return t.Value, true
		}
	}
	return "", false
}

// setInstanceTag keeps tagIdx in step with the instance's tags.
func (st *store) setInstanceTag(in *instance, k, v string) {
	if old, ok := tagValue(in.Tags, k); ok {
		st.index(in, Tag{k, old}, false)
	}
	in.Tags = setTag(in.Tags, k, v)
	st.index(in, Tag{k, v}, true)
}

func (st *store) removeInstanceTag(in *instance, k string) {
	if old, ok := tagValue(in.Tags, k); ok {
		st.index(in, Tag{k, old}, false)
		in.Tags = removeTag(in.Tags, k)
	}
}

// tagFilter is one Tag.N filter; Value nil means "key present, any value".
type tagFilter struct {
	Key   string
	Value *string
}

func matchTags(tags []Tag, f []tagFilter) bool {
	for _, x := range f {
		v, ok := tagValue(tags, x.Key)
		if !ok || (x.Value != nil && *x.Value != v) {
			return false
		}
	}
	return true
}

// candidates narrows a listing by the most selective tag filter using the
// index; it returns nil, false when there is no tag filter (walk order).
func (st *store) candidates(f []tagFilter) ([]*instance, bool) {
	if len(f) == 0 {
		return nil, false
	}
	var best map[*instance]struct{}
	for i, x := range f {
		key := tagOnly(x.Key)
		if x.Value != nil {
			key = tagKey(x.Key, *x.Value)
		}
		m := st.tagIdx[key]
		if i == 0 || len(m) < len(best) {
			best = m
		}
	}
	out := make([]*instance, 0, len(best))
	for in := range best {
		out = append(out, in)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out, true
}

// --- release ----------------------------------------------------------------

// release ends an instance's life at emulated time at: its private IP goes
// back to the pool, it leaves the tag index, the system disk and data disks
// with DeleteWithInstance are deleted and other data disks become Available.
func (st *store) release(in *instance, at time.Time, reason string) {
	if in.released() {
		return
	}
	in.ReleasedAt, in.ReleaseReason = at, reason
	st.releasedCount++
	st.live--
	if p := st.pools[in.VSwitchID]; p != nil {
		p.release(in.PrivateIP)
	}
	for _, t := range in.Tags {
		st.index(in, t, false)
	}
	for _, id := range append([]string{in.SystemDiskID}, in.DataDiskIDs...) {
		d := st.disks[id]
		if d == nil || d.deleted() || d.InstanceID != in.ID {
			continue
		}
		if d.Type == "system" || d.DeleteWithInstance {
			d.DeletedAt, d.InstanceID = at, ""
		} else {
			d.InstanceID, d.Device, d.Detached = "", "", at
		}
	}
	st.compact()
}

// compact drops released instances from the creation-order slice once they
// are the majority, so long-running emulators do not walk dead entries.
// Released instances stay in the map for the control API.
func (st *store) compact() {
	if st.releasedCount < 1024 || st.releasedCount*2 < len(st.order) {
		return
	}
	live := make([]*instance, 0, len(st.order)-st.releasedCount)
	for _, in := range st.order {
		if !in.released() {
			live = append(live, in)
		}
	}
	st.order = live
	st.releasedCount = 0
}
