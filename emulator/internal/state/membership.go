package state

import (
	"slices"
	"time"
)

// MaxGroupsPerInstance is how many security groups an instance can be in.
const MaxGroupsPerInstance = 5

// DeleteSecurityGroup deletes a group no live instance is in and no other
// group's rule names. The caller holds the store lock, then g's.
func DeleteSecurityGroup(st *Store, g *SecGroups, id, region string) error {
	sg, err := g.Get(id, region)
	if err != nil {
		return err
	}
	for _, in := range st.Order {
		if !in.Released() && slices.Contains(in.SecurityGroupIDs, id) {
			return &Error{Kind: InUse, Resource: ResSecurityGroup, ID: id, By: ResInstance, ByID: in.ID}
		}
	}
	for _, other := range g.Order {
		for _, r := range other.Rules {
			if other != sg && r.SourceGroupId == id {
				return &Error{Kind: InUse, Resource: ResSecurityGroup, ID: id, By: ResSecurityGroup, ByID: other.ID}
			}
		}
	}
	delete(g.Groups, id)
	for i, x := range g.Order {
		if x == sg {
			g.Order = append(g.Order[:i:i], g.Order[i+1:]...)
			break
		}
	}
	return nil
}

// membership finds the live instance and the group of its region for
// Join/LeaveSecurityGroup; the instance must be Running or Stopped.
func membership(st *Store, g *SecGroups, iid, sid, region string, now time.Time) (*Instance, *SecGroup, error) {
	in, err := st.LiveInstance(iid, region)
	if err != nil {
		return nil, nil, err
	}
	sg, err := g.Get(sid, in.RegionID)
	if err != nil {
		return nil, nil, err
	}
	if err := usable(in, now); err != nil {
		return nil, nil, err
	}
	return in, sg, nil
}

func membershipErr(k Kind, in *Instance, sid string) error {
	return &Error{Kind: k, Resource: ResInstance, ID: in.ID, ByID: sid}
}

// JoinSecurityGroup puts an instance in one more group of its VPC. The
// caller holds the store lock, then g's.
func JoinSecurityGroup(st *Store, g *SecGroups, iid, sid, region string, now time.Time) error {
	in, sg, err := membership(st, g, iid, sid, region, now)
	if err != nil {
		return err
	}
	switch {
	case slices.Contains(in.SecurityGroupIDs, sid):
		return membershipErr(AlreadyMember, in, sid)
	case sg.VpcID != in.VpcID:
		return membershipErr(VPCMismatch, in, sid)
	case len(in.SecurityGroupIDs) >= MaxGroupsPerInstance:
		return membershipErr(GroupLimit, in, sid)
	}
	in.SecurityGroupIDs = append(in.SecurityGroupIDs, sid)
	return nil
}

// LeaveSecurityGroup takes an instance out of a group, never its last.
// The caller holds the store lock, then g's.
func LeaveSecurityGroup(st *Store, g *SecGroups, iid, sid, region string, now time.Time) error {
	in, _, err := membership(st, g, iid, sid, region, now)
	if err != nil {
		return err
	}
	switch {
	case !slices.Contains(in.SecurityGroupIDs, sid):
		return membershipErr(NotMember, in, sid)
	case len(in.SecurityGroupIDs) == 1:
		return membershipErr(LastGroup, in, sid)
	}
	out := make([]string, 0, len(in.SecurityGroupIDs)-1)
	for _, x := range in.SecurityGroupIDs {
		if x != sid {
			out = append(out, x)
		}
	}
	in.SecurityGroupIDs = out
	return nil
}
