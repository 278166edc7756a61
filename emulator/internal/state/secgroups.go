package state

import (
	"fmt"
	"strings"
	"sync"
	"time"
)

// SecGroup is a security group with its rules.
type SecGroup struct {
	ID          string
	RegionID    string
	VpcID       string
	Name        string
	Description string
	Type        string // normal | enterprise
	Tags        []Tag
	Created     time.Time
	Rules       []SGRule
	// RuleSeq numbers the group's rules; kept in the state file so a rule
	// added after a restart never reuses the ID of a revoked one.
	RuleSeq int
}

// SGRule is one ingress rule.
type SGRule struct {
	ID            string
	IpProtocol    string
	PortRange     string
	SourceCidrIp  string
	SourceGroupId string
	Policy        string
	Priority      int
	NicType       string
	Description   string
	Created       time.Time
}

// SecGroups holds the security groups, in creation order, guarded by its
// own mutex (Lock, Unlock). Lock order: the store lock first, then this one
// (DeleteSecurityGroup and JoinSecurityGroup need both).
type SecGroups struct {
	sync.Mutex
	Groups map[string]*SecGroup
	Order  []*SecGroup
}

// NewSecGroups starts with the given groups (the catalogue's).
func NewSecGroups(groups []*SecGroup) *SecGroups {
	g := &SecGroups{Groups: map[string]*SecGroup{}}
	for _, sg := range groups {
		g.Groups[sg.ID] = sg
		g.Order = append(g.Order, sg)
	}
	return g
}

// Snapshot copies the groups, in creation order, for the state file; never
// nil, so a file where every group was deleted says so.
func (g *SecGroups) Snapshot() []SecGroup {
	g.Lock()
	defer g.Unlock()
	out := make([]SecGroup, 0, len(g.Order))
	for _, sg := range g.Order {
		c := *sg
		c.Tags = append([]Tag(nil), sg.Tags...)
		c.Rules = append([]SGRule(nil), sg.Rules...)
		out = append(out, c)
	}
	return out
}

// Restore replaces the groups with those of a state file.
func (g *SecGroups) Restore(groups []SecGroup) {
	g.Lock()
	defer g.Unlock()
	g.Groups, g.Order = map[string]*SecGroup{}, nil
	for i := range groups {
		sg := &groups[i]
		if sg.ID == "" || g.Groups[sg.ID] != nil {
			continue
		}
		g.Groups[sg.ID] = sg
		g.Order = append(g.Order, sg)
	}
}

// Lookup returns the group's region and VPC (ok false: no such group);
// RunInstances uses it to check SecurityGroupId.
func (g *SecGroups) Lookup(id string) (region, vpc string, ok bool) {
	g.Lock()
	defer g.Unlock()
	sg := g.Groups[id]
	if sg == nil {
		return "", "", false
	}
	return sg.RegionID, sg.VpcID, true
}

// Get returns a group of region ("" = any); the caller holds the lock.
func (g *SecGroups) Get(id, region string) (*SecGroup, error) {
	sg := g.Groups[id]
	if sg == nil || (region != "" && sg.RegionID != region) {
		return nil, &Error{Kind: NotFound, Resource: ResSecurityGroup, ID: id}
	}
	return sg, nil
}

// Same reports whether two rules allow the same traffic (IDs, times and
// descriptions aside).
func (r SGRule) Same(o SGRule) bool {
	return r.IpProtocol == o.IpProtocol && r.PortRange == o.PortRange && r.SourceCidrIp == o.SourceCidrIp &&
		r.SourceGroupId == o.SourceGroupId && r.Policy == o.Policy && r.Priority == o.Priority && r.NicType == o.NicType
}

// MaxRulesPerGroup is ECS's default quota of rules in one group.
const MaxRulesPerGroup = 200

// Create stores a new group, giving it an ID from the store's ID space
// (the caller holds the store lock, then g's) and returns the ID.
func (g *SecGroups) Create(st *Store, sg *SecGroup) string {
	id := st.NewID("sg", sg.RegionID)
	for g.Groups[id] != nil { // the store's ID space does not know groups
		id = st.NewID("sg", sg.RegionID)
	}
	sg.ID = id
	g.Groups[id] = sg
	g.Order = append(g.Order, sg)
	return id
}

// Authorize adds ingress rules to a group of region, all or none: every
// source group must exist in the group's region and the group must stay
// within MaxRulesPerGroup; a rule identical to an existing one is skipped
// (not an error in ECS). It returns how many rules were added; the caller
// holds the lock.
func (g *SecGroups) Authorize(id, region string, rules []SGRule, now time.Time) (int, error) {
	sg, err := g.Get(id, region)
	if err != nil {
		return 0, err
	}
	for _, r := range rules {
		if r.SourceGroupId == "" {
			continue
		}
		if src := g.Groups[r.SourceGroupId]; src == nil || src.RegionID != sg.RegionID {
			return 0, &Error{Kind: NotFound, Resource: ResSecurityGroup, ID: r.SourceGroupId}
		}
	}
	add := []SGRule{}
	for _, r := range rules {
		dup := false
		for _, x := range append(sg.Rules, add...) {
			dup = dup || x.Same(r)
		}
		if !dup {
			add = append(add, r)
		}
	}
	if len(sg.Rules)+len(add) > MaxRulesPerGroup {
		return 0, &Error{Kind: RuleLimit, Resource: ResSecurityGroup, ID: id, Detail: fmt.Sprint(MaxRulesPerGroup)}
	}
	for _, r := range add {
		sg.RuleSeq++
		r.ID = "sgr-" + strings.TrimPrefix(sg.ID, "sg-") + fmt.Sprintf("%04x", uint16(sg.RuleSeq))
		r.Created = now
		sg.Rules = append(sg.Rules, r)
	}
	return len(add), nil
}
