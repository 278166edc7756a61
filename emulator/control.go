package emulator

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"infrakit.aliyun/emulator/internal/state"
)

// ErrNotFound is returned (wrapped) by Kill and Preempt for an unknown or
// already released instance.
var ErrNotFound = errors.New("not found")

// errSave marks a change that was applied but could not be saved to the
// state file.
var errSave = errors.New("save state file")

// maxControlBody bounds a control API request body.
const maxControlBody = 1 << 20

// maxFaultLatency bounds latency_ms: a longer delay only hangs clients.
const maxFaultLatency = 10 * time.Minute

// maxAdvance bounds one /emulator/advance step: emulated time is kept in a
// time.Duration offset, which a few huge steps would overflow.
const maxAdvance = 10 * 365 * 24 * time.Hour

// advance is Advance reporting a failed save of the state file.
func (s *Server) advance(d time.Duration) error {
	s.clock.Advance(d)
	unlock := s.st.Lock(s.clock.Now())
	unlock()
	return s.commit()
}

// checkFaults refuses a fault configuration that cannot mean what its
// author wants: rates outside [0,1], negative latency, limits or quotas,
// and names the emulator does not know (a typo would silently inject
// nothing). Errors name the JSON field and the rule.
func (s *Server) checkFaults(f Faults) error {
	rate := func(field string, x float64) error {
		if math.IsNaN(x) || x < 0 || x > 1 {
			return fmt.Errorf("%s: %v is not a probability: want a number from 0 to 1", field, x)
		}
		return nil
	}
	for _, r := range []struct {
		field string
		x     float64
	}{{"throttle_rate", f.ThrottleRate}, {"error_rate", f.ErrorRate}, {"drop_response_rate", f.DropResponseRate}} {
		if err := rate(r.field, r.x); err != nil {
			return err
		}
	}
	if f.LatencyMS < 0 || time.Duration(f.LatencyMS)*time.Millisecond > maxFaultLatency {
		return fmt.Errorf("latency_ms: %d: want 0 to %d milliseconds", f.LatencyMS, maxFaultLatency.Milliseconds())
	}
	if f.MaxInstances < 0 {
		return fmt.Errorf("max_instances: %d: want 0 (no quota) or a positive quota", f.MaxInstances)
	}
	action := func(field, a string) error {
		if _, ok := s.actions[a]; !ok && a != "AssumeRole" {
			return fmt.Errorf("%s: %q is not an action the emulator serves", field, a)
		}
		return nil
	}
	for a, x := range f.Conflict {
		if err := action("conflict", a); err != nil {
			return err
		}
		if err := rate("conflict."+a, x); err != nil {
			return err
		}
	}
	for a, x := range f.RateLimits {
		if err := action("rate_limits", a); err != nil {
			return err
		}
		if math.IsNaN(x) || math.IsInf(x, 0) || x < 0 {
			return fmt.Errorf("rate_limits.%s: %v: want a finite number of calls per second, 0 or more (0: no limit)", a, x)
		}
	}
	for _, a := range f.Actions {
		if err := action("actions", a); err != nil {
			return err
		}
	}
	for field, keys := range map[string][]StockKey{"no_stock": f.NoStock, "not_on_sale": f.NotOnSale} {
		for i, k := range keys {
			if k.InstanceType != "" && s.cat.types[k.InstanceType] == nil {
				return fmt.Errorf("%s[%d].InstanceType: %q is not in the catalogue", field, i, k.InstanceType)
			}
			if k.ZoneId != "" && s.cat.zoneTypes[k.ZoneId] == nil {
				return fmt.Errorf("%s[%d].ZoneId: %q is not in the catalogue", field, i, k.ZoneId)
			}
		}
	}
	return nil
}

// InstanceView is the full emulator-side view of an instance, released ones
// included (Released, ReleasedAt, ReleaseReason). Times are emulated.
type InstanceView struct {
	InstanceId         string
	InstanceName       string
	Description        string
	HostName           string
	RegionId           string
	ZoneId             string
	InstanceType       string
	ImageId            string
	VpcId              string
	VSwitchId          string
	PrivateIpAddress   string
	PublicIpAddress    string `json:",omitempty"`
	SecurityGroupIds   []string
	Status             string // ECS status, or "Released"
	Cpu                int
	Memory             int // MiB
	Tags               map[string]string
	UserData           string `json:",omitempty"` // decoded (the API carries base64)
	KeyPairName        string `json:",omitempty"`
	RamRoleName        string `json:",omitempty"`
	SpotStrategy       string
	SpotPriceLimit     float64 `json:",omitempty"`
	ClientToken        string  `json:",omitempty"`
	DeletionProtection bool
	SystemDiskId       string
	DataDiskIds        []string // attached now; for a released instance, all it had
	OperationLocks     []string
	CreationTime       time.Time
	StartTime          time.Time `json:",omitzero"`
	PreemptedAt        time.Time `json:",omitzero"`
	ReleaseAt          time.Time `json:",omitzero"` // scheduled spot release
	ReleasedAt         time.Time `json:",omitzero"`
	Released           bool
	ReleaseReason      string `json:",omitempty"` // deleted | killed | preempted
}

// DiskView is the emulator-side view of a disk, deleted ones included.
type DiskView struct {
	DiskId             string
	RegionId           string
	ZoneId             string
	Type               string // system | data
	Category           string
	Size               int
	Status             string // In_use | Available | Deleted
	InstanceId         string `json:",omitempty"`
	Device             string `json:",omitempty"`
	DeleteWithInstance bool
	SnapshotId         string `json:",omitempty"`
	Tags               map[string]string
	CreationTime       time.Time
	Deleted            bool
	DeletedAt          time.Time `json:",omitzero"`
}

// ImageView describes catalogue (OwnerAlias "system") and custom ("self") images.
type ImageView struct {
	ImageId          string
	ImageName        string
	RegionId         string `json:",omitempty"` // empty for system images (every region)
	OwnerAlias       string
	Status           string
	OSType           string
	Size             int
	SourceInstanceId string `json:",omitempty"`
	Tags             map[string]string
	CreationTime     time.Time
	Deleted          bool
}

func tagMap(tags []Tag) map[string]string {
	m := make(map[string]string, len(tags))
	for _, t := range tags {
		m[t.Key] = t.Value
	}
	return m
}

// dataDisks are the data disks attached to a live instance now (a detached
// one is listed no more), or every data disk a released instance had.
// Caller holds the store lock.
func (s *Server) dataDisks(in *instance) []string {
	out := []string{}
	for _, id := range in.DataDiskIDs {
		if d := s.st.Disks[id]; in.Released() || (d != nil && !d.IsDeleted() && d.InstanceID == in.ID) {
			out = append(out, id)
		}
	}
	return out
}

func (s *Server) view(in *instance, now time.Time) InstanceView {
	ud, _ := base64.StdEncoding.DecodeString(in.UserData)
	v := InstanceView{
		InstanceId: in.ID, InstanceName: in.Name, Description: in.Description, HostName: in.HostName,
		RegionId: in.RegionID, ZoneId: in.ZoneID, InstanceType: in.Type, ImageId: in.ImageID, VpcId: in.VpcID,
		VSwitchId: in.VSwitchID, PrivateIpAddress: in.PrivateIP, PublicIpAddress: in.PublicIP,
		SecurityGroupIds: append([]string{}, in.SecurityGroupIDs...), Status: in.Status(now), Tags: tagMap(in.Tags),
		UserData: string(ud), KeyPairName: in.KeyPairName, RamRoleName: in.RamRoleName, SpotStrategy: in.SpotStrategy,
		SpotPriceLimit: in.SpotPriceLimit, ClientToken: in.ClientToken, DeletionProtection: in.DeletionProtection,
		SystemDiskId: in.SystemDiskID, DataDiskIds: s.dataDisks(in),
		OperationLocks: append([]string{}, in.Locks...), CreationTime: in.Created, PreemptedAt: in.PreemptedAt,
		ReleaseAt: in.ReleaseAt, ReleasedAt: in.ReleasedAt, Released: in.Released(), ReleaseReason: in.ReleaseReason,
	}
	if !in.Started.After(now) {
		v.StartTime = in.Started
	}
	if t := s.cat.types[in.Type]; t != nil {
		v.Cpu, v.Memory = t.CpuCoreCount, int(t.MemorySize*1024)
	}
	return v
}

// Instances returns views of all instances, released ones included, in
// creation order.
func (s *Server) Instances() []InstanceView {
	now := s.clock.Now()
	unlock := s.st.Lock(now)
	defer unlock()
	all := state.InSeqOrder(s.st.Instances)
	out := make([]InstanceView, 0, len(all))
	for _, in := range all {
		out = append(out, s.view(in, now))
	}
	return out
}

// Instance returns the view of one instance (released ones too).
func (s *Server) Instance(id string) (InstanceView, bool) {
	now := s.clock.Now()
	unlock := s.st.Lock(now)
	defer unlock()
	in := s.st.Instances[id]
	if in == nil {
		return InstanceView{}, false
	}
	return s.view(in, now), true
}

// Kill releases an instance at once, as if it was deleted outside InfraKit
// (console, another tool, hardware loss). Disks follow DeleteWithInstance.
func (s *Server) Kill(id string) error {
	now := s.clock.Now()
	unlock := s.st.Lock(now)
	err := s.st.Kill(id, now)
	unlock()
	if err != nil {
		return fmt.Errorf("emulator: kill %s: %w", id, controlError(err))
	}
	if err := s.commit(); err != nil {
		return fmt.Errorf("emulator: kill %s: %w: %w", id, errSave, err)
	}
	return nil
}

// controlError maps a state error to the control API's: not found is
// ErrNotFound (answered 404), anything else keeps the state's words.
func controlError(err error) error {
	var se *state.Error
	if errors.As(err, &se) && se.Kind == state.NotFound {
		return ErrNotFound
	}
	return err
}

// BUG(emulator): any instance can be preempted, not only spot instances.

// Preempt interrupts an instance like a spot reclaim: OperationLocks gets
// Recycling now and the instance is released PreemptNotice (emulated) later.
func (s *Server) Preempt(id string) error {
	now := s.clock.Now()
	unlock := s.st.Lock(now)
	err := s.st.Preempt(id, now, s.opts.PreemptNotice)
	unlock()
	if err != nil {
		return fmt.Errorf("emulator: preempt %s: %w", id, controlError(err))
	}
	if err := s.commit(); err != nil {
		return fmt.Errorf("emulator: preempt %s: %w: %w", id, errSave, err)
	}
	return nil
}

// Disks returns views of all disks, deleted ones included, in creation order.
func (s *Server) Disks() []DiskView {
	unlock := s.st.Lock(s.clock.Now())
	defer unlock()
	out := make([]DiskView, 0, len(s.st.DiskOrder))
	for _, d := range s.st.DiskOrder {
		out = append(out, DiskView{DiskId: d.ID, RegionId: d.RegionID, ZoneId: d.ZoneID, Type: d.Type, Category: d.Category,
			Size: d.Size, Status: d.Status(), InstanceId: d.InstanceID, Device: d.Device, DeleteWithInstance: d.DeleteWithInstance,
			SnapshotId: d.SnapshotID, Tags: tagMap(d.Tags), CreationTime: d.Created, Deleted: d.IsDeleted(), DeletedAt: d.DeletedAt})
	}
	return out
}

// Images returns the catalogue images followed by custom images.
func (s *Server) Images() []ImageView {
	now := s.clock.Now()
	unlock := s.st.Lock(now)
	defer unlock()
	var out []ImageView
	for _, im := range s.cat.Images {
		out = append(out, ImageView{ImageId: im.ImageId, ImageName: im.ImageName, OwnerAlias: "system", Status: "Available",
			OSType: im.OSType, Size: im.Size, Tags: map[string]string{}, CreationTime: systemImageEpoch})
	}
	for _, im := range s.st.ImgOrder {
		st := im.Status(now)
		if im.Deleted {
			st = "Deleted"
		}
		out = append(out, ImageView{ImageId: im.ID, ImageName: im.Name, RegionId: im.RegionID, OwnerAlias: "self", Status: st,
			OSType: im.OSType, Size: im.Size, SourceInstanceId: im.SourceInstance, Tags: tagMap(im.Tags), CreationTime: im.Created, Deleted: im.Deleted})
	}
	return out
}

// --- HTTP control API ----------------------------------------------------------

// controlJSON encodes before writing the status, so an answer that cannot
// be encoded becomes a 500 with an error body instead of a 200 with an
// empty one.
func controlJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		status = http.StatusInternalServerError
		b, _ = json.MarshalIndent(map[string]string{"error": "encode answer: " + err.Error()}, "", "  ")
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

func controlErr(w http.ResponseWriter, status int, msg string) {
	controlJSON(w, status, map[string]string{"error": msg})
}

// serveControl routes /emulator/...; it is outside the ECS API (no
// signature, no faults) and is meant for tests and scripts.
func (s *Server) serveControl(w http.ResponseWriter, r *http.Request) {
	path := strings.Trim(strings.TrimPrefix(r.URL.Path, "/emulator"), "/")
	parts := strings.Split(path, "/")
	switch {
	case path == "stats" && r.Method == http.MethodGet:
		controlJSON(w, http.StatusOK, s.Stats())
	case path == "instances" && r.Method == http.MethodGet:
		controlJSON(w, http.StatusOK, s.Instances())
	case path == "disks" && r.Method == http.MethodGet:
		controlJSON(w, http.StatusOK, s.Disks())
	case path == "images" && r.Method == http.MethodGet:
		controlJSON(w, http.StatusOK, s.Images())
	case path == "time" && r.Method == http.MethodGet:
		controlJSON(w, http.StatusOK, map[string]any{"now": s.Now()})
	case len(parts) == 2 && parts[0] == "instances" && r.Method == http.MethodGet:
		s.controlInstance(w, parts[1])
	case len(parts) == 2 && parts[0] == "instances" && r.Method == http.MethodDelete:
		s.controlKill(w, parts[1])
	case len(parts) == 3 && parts[0] == "instances" && parts[2] == "preempt" && r.Method == http.MethodPost:
		s.controlPreempt(w, parts[1])
	case path == "advance" && r.Method == http.MethodPost:
		s.controlAdvance(w, r)
	case path == "faults" && r.Method == http.MethodGet:
		controlJSON(w, http.StatusOK, s.Faults())
	case path == "faults" && r.Method == http.MethodDelete:
		s.SetFaults(Faults{})
		controlJSON(w, http.StatusOK, s.Faults())
	case path == "faults" && (r.Method == http.MethodPost || r.Method == http.MethodPut):
		s.controlSetFaults(w, r)
	default:
		controlErr(w, http.StatusNotFound, "unknown control endpoint "+r.Method+" "+r.URL.Path)
	}
}

// controlInstance answers GET /emulator/instances/{id}.
func (s *Server) controlInstance(w http.ResponseWriter, id string) {
	if v, ok := s.Instance(id); ok {
		controlJSON(w, http.StatusOK, v)
	} else {
		controlErr(w, http.StatusNotFound, "no instance "+id)
	}
}

// controlKill answers DELETE /emulator/instances/{id} with the instance
// after the kill.
func (s *Server) controlKill(w http.ResponseWriter, id string) {
	if err := s.Kill(id); err != nil {
		status := http.StatusInternalServerError
		if errors.Is(err, ErrNotFound) {
			status = http.StatusNotFound
		}
		controlErr(w, status, err.Error())
		return
	}
	v, _ := s.Instance(id)
	controlJSON(w, http.StatusOK, v)
}

// controlPreempt answers POST /emulator/instances/{id}/preempt with the
// instance after the preemption notice.
func (s *Server) controlPreempt(w http.ResponseWriter, id string) {
	if err := s.Preempt(id); err != nil {
		status := http.StatusConflict
		switch {
		case errors.Is(err, ErrNotFound):
			status = http.StatusNotFound
		case errors.Is(err, errSave):
			status = http.StatusInternalServerError
		}
		controlErr(w, status, err.Error())
		return
	}
	v, _ := s.Instance(id)
	controlJSON(w, http.StatusOK, v)
}

// controlAdvance answers POST /emulator/advance?d=<duration>.
func (s *Server) controlAdvance(w http.ResponseWriter, r *http.Request) {
	d, err := time.ParseDuration(r.URL.Query().Get("d"))
	if err != nil || d < 0 || d > maxAdvance {
		controlErr(w, http.StatusBadRequest, fmt.Sprintf("d: want a Go duration from 0 to %v, e.g. d=30s", maxAdvance))
		return
	}
	if err := s.advance(d); err != nil {
		controlErr(w, http.StatusInternalServerError, "advance: "+err.Error())
		return
	}
	controlJSON(w, http.StatusOK, map[string]any{"now": s.Now()})
}

// controlSetFaults answers POST or PUT /emulator/faults: one Faults object,
// no unknown fields, checked before it replaces the current faults.
func (s *Server) controlSetFaults(w http.ResponseWriter, r *http.Request) {
	var f Faults
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxControlBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		controlErr(w, http.StatusBadRequest, "bad faults JSON: "+err.Error())
		return
	}
	if dec.More() {
		controlErr(w, http.StatusBadRequest, "bad faults JSON: one object expected, more data follows it")
		return
	}
	if err := s.checkFaults(f); err != nil {
		controlErr(w, http.StatusBadRequest, err.Error())
		return
	}
	s.SetFaults(f)
	controlJSON(w, http.StatusOK, s.Faults())
}
