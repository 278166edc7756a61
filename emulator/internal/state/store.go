package state

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

// Transition is the lazily evaluated state machine of an instance: From
// until MidAt, Mid until ToAt, then To. Every ECS lifecycle move (run,
// create, start, stop, reboot) fits this three-phase shape, so no timer or
// goroutine is needed: the status is computed from the emulated clock.
type Transition struct {
	From  string
	MidAt time.Time
	Mid   string
	ToAt  time.Time
	To    string
}

func (t Transition) At(now time.Time) string {
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
type Instance struct {
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
	State                   Transition
	Locks                   []string
	PreemptedAt             time.Time
	ReleaseAt               time.Time // scheduled release (spot interruption)
	ReleasedAt              time.Time // zero while the instance lives
	ReleaseReason           string
}

// released reports whether the instance is gone (ReleasedAt is set then,
// and only then).
func (in *Instance) Released() bool { return !in.ReleasedAt.IsZero() }

func (in *Instance) Status(now time.Time) string {
	if in.Released() {
		return StatusReleased
	}
	return in.State.At(now)
}

type Disk struct {
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

func (d *Disk) IsDeleted() bool { return !d.DeletedAt.IsZero() }

func (d *Disk) Status() string {
	switch {
	case d.IsDeleted():
		return "Deleted"
	case d.InstanceID != "":
		return "In_use"
	}
	return "Available"
}

type CustomImage struct {
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

func (im *CustomImage) Status(now time.Time) string {
	if now.Before(im.Ready) {
		return "Creating"
	}
	return "Available"
}

type Snapshot struct {
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
type Token struct {
	Hash string
	IDs  []string
}

// ipPool allocates addresses of one vswitch. ECS reserves the first and the
// last three addresses of every vswitch CIDR.
type IPPool struct {
	base netip.Addr
	size uint32
	Used map[uint32]string
	next uint32
}

func NewIPPool(p netip.Prefix) *IPPool {
	return &IPPool{base: p.Addr(), size: uint32(1) << (32 - p.Bits()), Used: map[uint32]string{}, next: 1}
}

func (p *IPPool) Usable() int { return int(p.size) - 4 }

func (p *IPPool) Free() int { return p.Usable() - len(p.Used) }

func (p *IPPool) Offset(a netip.Addr) (uint32, bool) {
	if !a.Is4() {
		return 0, false
	}
	b, x := p.base.As4(), a.As4()
	o := (uint32(x[0])<<24 | uint32(x[1])<<16 | uint32(x[2])<<8 | uint32(x[3])) -
		(uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]))
	return o, o < p.size
}

func (p *IPPool) addr(o uint32) string {
	b := p.base.As4()
	v := (uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])) + o
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}).String()
}

func (p *IPPool) Reserved(o uint32) bool { return o == 0 || o >= p.size-3 }

// take allocates the next free address round-robin (so a released address
// is not handed out again at once, like ECS).
func (p *IPPool) Take(owner string) (string, bool) {
	n := uint32(p.Usable())
	for i := uint32(0); i < n; i++ {
		o := p.next
		p.next++
		if p.next >= p.size-3 {
			p.next = 1
		}
		if _, ok := p.Used[o]; !ok {
			p.Used[o] = owner
			return p.addr(o), true
		}
	}
	return "", false
}

func (p *IPPool) release(ip string) {
	if a, err := netip.ParseAddr(ip); err == nil {
		if o, ok := p.Offset(a); ok {
			delete(p.Used, o)
		}
	}
}

// store is all mutable state behind one mutex. Instances are kept in
// creation order (order) so listing and paging walk a slice without copying;
// tagIdx maps "key\x00value" and "key\x01" (key only) to instances so a
// DescribeInstances tag filter over 10k instances touches only the matches.
type Store struct {
	mu sync.Mutex

	rng      *rand.Rand
	Seq      uint64
	BootTime time.Duration // Pending+Starting, emulated
	StopTime time.Duration // Stopping, emulated

	Instances      map[string]*Instance
	Order          []*Instance
	ReleasedCount  int // released instances still in order
	Live           int // instances not released
	tagIdx         map[string]map[*Instance]struct{}
	PendingRelease []*Instance

	Disks     map[string]*Disk
	DiskOrder []*Disk
	Images    map[string]*CustomImage
	ImgOrder  []*CustomImage
	Snapshots map[string]*Snapshot
	Tokens    map[string]*Token

	Pools      map[string]*IPPool
	PublicNext uint32
}

// NewStore makes an empty store; prefixes are the vswitch CIDRs (by
// vswitch ID) addresses are allocated from, seed seeds IDs, boot and stop
// are the emulated Pending+Starting and Stopping times.
func NewStore(prefixes map[string]netip.Prefix, seed int64, boot, stop time.Duration) *Store {
	st := &Store{
		rng: rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15)), BootTime: boot, StopTime: stop,
		Instances: map[string]*Instance{}, tagIdx: map[string]map[*Instance]struct{}{},
		Disks: map[string]*Disk{}, Images: map[string]*CustomImage{}, Snapshots: map[string]*Snapshot{},
		Tokens: map[string]*Token{}, Pools: map[string]*IPPool{},
	}
	for id, p := range prefixes {
		st.Pools[id] = NewIPPool(p)
	}
	return st
}

// lock takes the store lock and first applies every scheduled release that
// is due at emulated time now; it returns the unlock function.
func (st *Store) Lock(now time.Time) func() {
	st.mu.Lock()
	st.Reap(now)
	return st.mu.Unlock
}

func (st *Store) Reap(now time.Time) {
	if len(st.PendingRelease) == 0 {
		return
	}
	keep := st.PendingRelease[:0]
	for _, in := range st.PendingRelease {
		switch {
		case in.Released():
		case !now.Before(in.ReleaseAt):
			st.Release(in, in.ReleaseAt, ReleasePreempted)
		default:
			keep = append(keep, in)
		}
	}
	for i := len(keep); i < len(st.PendingRelease); i++ {
		st.PendingRelease[i] = nil
	}
	st.PendingRelease = keep
}

var regionPrefix = map[string]string{
	"cn-hangzhou": "bp1", "cn-shanghai": "uf6", "cn-beijing": "2ze", "cn-shenzhen": "wz9",
	"cn-hongkong": "j6c", "ap-southeast-1": "t4n", "us-west-1": "rj9", "eu-central-1": "gw8",
}

// newID makes a real-looking ID (prefix-<region code><17 base36 chars>) from
// the seeded source, so runs with the same Seed produce the same IDs.
func (st *Store) NewID(kind, region string) string {
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
		_, a := st.Instances[id]
		_, d := st.Disks[id]
		_, c := st.Images[id]
		_, e := st.Snapshots[id]
		if !a && !d && !c && !e {
			return id
		}
	}
}

func (st *Store) NextSeq() uint64 { st.Seq++; return st.Seq }

func (st *Store) NextPublicIP() string {
	// 47.96.0.0/13 is an Alibaba Cloud cn-hangzhou public range.
	st.PublicNext++
	v := uint32(47)<<24 | uint32(96)<<16 + st.PublicNext%(1<<19)
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

func (in *Instance) alive() bool       { return !in.Released() }
func (in *Instance) region() string    { return in.RegionID }
func (in *Instance) seqNo() uint64     { return in.Seq }
func (d *Disk) alive() bool            { return !d.IsDeleted() }
func (d *Disk) region() string         { return d.RegionID }
func (d *Disk) seqNo() uint64          { return d.Seq }
func (im *CustomImage) alive() bool    { return !im.Deleted }
func (im *CustomImage) region() string { return im.RegionID }
func (im *CustomImage) seqNo() uint64  { return im.Seq }
func (sn *Snapshot) alive() bool       { return !sn.Deleted }
func (sn *Snapshot) region() string    { return sn.RegionID }
func (sn *Snapshot) seqNo() uint64     { return sn.Seq }

// live returns m[id] if it exists, is neither released nor deleted and is
// in region ("" = any); otherwise notFound(id).
func live[T record](m map[string]T, id, region, resource string) (T, error) {
	x, ok := m[id]
	if !ok || !x.alive() || (region != "" && x.region() != region) {
		var none T
		return none, &Error{Kind: NotFound, Resource: resource, ID: id}
	}
	return x, nil
}

func (st *Store) LiveInstance(id, region string) (*Instance, error) {
	return live(st.Instances, id, region, ResInstance)
}

func (st *Store) LiveDisk(id, region string) (*Disk, error) {
	return live(st.Disks, id, region, ResDisk)
}

func (st *Store) LiveImage(id, region string) (*CustomImage, error) {
	return live(st.Images, id, region, ResImage)
}

func (st *Store) LiveSnapshot(id, region string) (*Snapshot, error) {
	return live(st.Snapshots, id, region, ResSnapshot)
}

// pick returns m[id] for each distinct id of ids that m holds, released and
// deleted ones included, in creation order: an ID filter looks its
// resources up instead of walking every resource.
func Pick[T record](m map[string]T, ids []string) []T {
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
func InSeqOrder[T record](m map[string]T) []T {
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

func (st *Store) Index(in *Instance, t Tag, add bool) {
	for _, key := range []string{tagKey(t.Key, t.Value), tagOnly(t.Key)} {
		m := st.tagIdx[key]
		if add {
			if m == nil {
				m = map[*Instance]struct{}{}
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

func SetTag(tags []Tag, k, v string) []Tag {
	for i := range tags {
		if tags[i].Key == k {
			tags[i].Value = v
			return tags
		}
	}
	return append(tags, Tag{k, v})
}

func RemoveTag(tags []Tag, k string) []Tag {
	for i := range tags {
		if tags[i].Key == k {
			return append(tags[:i:i], tags[i+1:]...)
		}
	}
	return tags
}

func TagValue(tags []Tag, k string) (string, bool) {
	for _, t := range tags {
		if t.Key == k {
			return t.Value, true
		}
	}
	return "", false
}

// setInstanceTag keeps tagIdx in step with the instance's tags.
func (st *Store) SetInstanceTag(in *Instance, k, v string) {
	if old, ok := TagValue(in.Tags, k); ok {
		st.Index(in, Tag{k, old}, false)
	}
	in.Tags = SetTag(in.Tags, k, v)
	st.Index(in, Tag{k, v}, true)
}

func (st *Store) RemoveInstanceTag(in *Instance, k string) {
	if old, ok := TagValue(in.Tags, k); ok {
		st.Index(in, Tag{k, old}, false)
		in.Tags = RemoveTag(in.Tags, k)
	}
}

// tagFilter is one Tag.N filter; Value nil means "key present, any value".
type TagFilter struct {
	Key   string
	Value *string
}

func MatchTags(tags []Tag, f []TagFilter) bool {
	for _, x := range f {
		v, ok := TagValue(tags, x.Key)
		if !ok || (x.Value != nil && *x.Value != v) {
			return false
		}
	}
	return true
}

// candidates narrows a listing by the most selective tag filter using the
// index; it returns nil, false when there is no tag filter (walk order).
func (st *Store) Candidates(f []TagFilter) ([]*Instance, bool) {
	if len(f) == 0 {
		return nil, false
	}
	var best map[*Instance]struct{}
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
	out := make([]*Instance, 0, len(best))
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
func (st *Store) Release(in *Instance, at time.Time, reason string) {
	if in.Released() {
		return
	}
	in.ReleasedAt, in.ReleaseReason = at, reason
	st.ReleasedCount++
	st.Live--
	if p := st.Pools[in.VSwitchID]; p != nil {
		p.release(in.PrivateIP)
	}
	for _, t := range in.Tags {
		st.Index(in, t, false)
	}
	for _, id := range append([]string{in.SystemDiskID}, in.DataDiskIDs...) {
		d := st.Disks[id]
		if d == nil || d.IsDeleted() || d.InstanceID != in.ID {
			continue
		}
		if d.Type == "system" || d.DeleteWithInstance {
			d.DeletedAt, d.InstanceID = at, ""
		} else {
			d.InstanceID, d.Device, d.Detached = "", "", at
		}
	}
	st.Compact()
}

// compact drops released instances from the creation-order slice once they
// are the majority, so long-running emulators do not walk dead entries.
// Released instances stay in the map for the control API.
func (st *Store) Compact() {
	if st.ReleasedCount < 1024 || st.ReleasedCount*2 < len(st.Order) {
		return
	}
	keep := make([]*Instance, 0, len(st.Order)-st.ReleasedCount)
	for _, in := range st.Order {
		if !in.Released() {
			keep = append(keep, in)
		}
	}
	st.Order = keep
	st.ReleasedCount = 0
}

// AddDisk stores a new disk.
func (st *Store) AddDisk(d *Disk) {
	st.Disks[d.ID] = d
	st.DiskOrder = append(st.DiskOrder, d)
}

// Idempotent looks a ClientToken up: it returns the IDs of the first call
// when the parameters match, IdempotentParameterMismatch when they differ,
// and nil, nil for a new token. The caller holds the store lock.
func (st *Store) Idempotent(action, token, hash string) ([]string, error) {
	if token == "" {
		return nil, nil
	}
	r := st.Tokens[action+"\x00"+token]
	if r == nil {
		return nil, nil
	}
	if r.Hash != hash {
		return nil, &Error{Kind: TokenMismatch, ID: token}
	}
	return r.IDs, nil
}

func (st *Store) Remember(action, token, hash string, ids []string) {
	if token != "" {
		st.Tokens[action+"\x00"+token] = &Token{Hash: hash, IDs: ids}
	}
}

// InstanceAndDisk finds the live instance and disk of an AttachDisk or
// DetachDisk call; the caller holds the store lock.
func (st *Store) InstanceAndDisk(iid, did, region string) (*Instance, *Disk, error) {
	in, err := st.LiveInstance(iid, region)
	if err != nil {
		return nil, nil, err
	}
	d, err := st.LiveDisk(did, region)
	if err != nil {
		return nil, nil, err
	}
	return in, d, nil
}
