package emulator

import (
	"net/http"
	"net/netip"
	"strconv"
	"strings"

	"infrakit.aliyun/emulator/internal/state"
)

// Security groups: the catalogue's groups plus those made by
// CreateSecurityGroup, with their rules.
//
// BUG(emulator): only ingress rules with a CIDR or group source are kept;
// egress rules (AuthorizeSecurityGroupEgress), prefix lists and IPv6 sources
// are not served.

// catalogSecGroups are the catalogue's groups, as the store keeps them.
func catalogSecGroups(cat *catalog) []*state.SecGroup {
	var out []*state.SecGroup
	for _, c := range cat.SecurityGroups {
		out = append(out, &state.SecGroup{ID: c.SecurityGroupId, RegionID: c.RegionId, VpcID: c.VpcId, Name: c.SecurityGroupName,
			Type: "normal", Created: systemImageEpoch})
	}
	return out
}

func errSecurityGroupNotFound(id string) *apiError {
	return newErr(http.StatusNotFound, "InvalidSecurityGroupId.NotFound", "The specified SecurityGroupId %q does not exist.", id)
}

func actCreateSecurityGroup(s *Server, c *call) (any, *apiError) {
	p := c.p
	region, err := p.required("RegionId")
	if err != nil {
		return nil, err
	}
	vpc := p.get("VpcId")
	if vpc == "" {
		// BUG(emulator): real ECS makes a classic-network group without
		// VpcId; the emulator puts it in the region's first VPC.
		for _, v := range s.cat.VPCs {
			if v.RegionId == region {
				vpc = v.VpcId
				break
			}
		}
	}
	if v := s.cat.vpcs[vpc]; v == nil || v.RegionId != region {
		return nil, newErr(http.StatusNotFound, "InvalidVpcId.NotFound", "The specified VpcId %q does not exist.", vpc)
	}
	name, desc := p.get("SecurityGroupName"), p.get("Description")
	if name != "" && (len(name) < 2 || len(name) > 128 || strings.HasPrefix(name, "http://") || strings.HasPrefix(name, "https://")) {
		return nil, newErr(http.StatusBadRequest, "InvalidSecurityGroupName.Malformed",
			"The specified SecurityGroupName is not valid: 2 to 128 characters, not starting with http:// or https://.")
	}
	if len(desc) > 256 {
		return nil, newErr(http.StatusBadRequest, "InvalidSecurityGroupDescription.Malformed",
			"The specified Description is not valid: at most 256 characters.")
	}
	typ := p.get("SecurityGroupType")
	switch typ {
	case "":
		typ = "normal"
	case "normal", "enterprise":
	default:
		return nil, errInvalid("SecurityGroupType", "must be normal or enterprise")
	}
	tags, aerr := parseTags(p)
	if aerr != nil {
		return nil, aerr
	}
	unlock := s.st.Lock(c.now)
	defer unlock()
	s.sgs.Lock()
	defer s.sgs.Unlock()
	id := s.sgs.Create(s.st, &state.SecGroup{RegionID: region, VpcID: vpc, Name: name, Description: desc, Type: typ, Tags: tags, Created: c.now})
	c.mutated = true
	return &struct {
		baseResp
		SecurityGroupId string
	}{baseResp{c.requestID}, id}, nil
}

func actDeleteSecurityGroup(s *Server, c *call) (any, *apiError) {
	id, err := c.p.required("SecurityGroupId")
	if err != nil {
		return nil, err
	}
	unlock := s.st.Lock(c.now)
	defer unlock()
	s.sgs.Lock()
	defer s.sgs.Unlock()
	if err := ecsError(state.DeleteSecurityGroup(s.st, s.sgs, id, c.region)); err != nil {
		return nil, err
	}
	c.mutated = true
	return &baseResp{c.requestID}, nil
}

type wirePermission struct {
	SecurityGroupRuleId string
	Direction           string
	IpProtocol          string
	PortRange           string
	SourceCidrIp        string
	SourceGroupId       string
	DestCidrIp          string
	Policy              string
	Priority            string
	NicType             string
	Description         string
	CreateTime          string
}

func actDescribeSecurityGroupAttribute(s *Server, c *call) (any, *apiError) {
	id, err := c.p.required("SecurityGroupId")
	if err != nil {
		return nil, err
	}
	dir := c.p.get("Direction")
	if dir != "" && dir != "all" && dir != "ingress" && dir != "egress" {
		return nil, errInvalid("Direction", "must be ingress, egress or all")
	}
	s.sgs.Lock()
	defer s.sgs.Unlock()
	sg, err := found(s.sgs.Get(id, c.region))
	if err != nil {
		return nil, err
	}
	r := &struct {
		baseResp
		RegionId          string
		SecurityGroupId   string
		SecurityGroupName string
		Description       string
		VpcId             string
		InnerAccessPolicy string
		Permissions       struct{ Permission []wirePermission }
	}{baseResp: baseResp{c.requestID}, RegionId: sg.RegionID, SecurityGroupId: sg.ID, SecurityGroupName: sg.Name,
		Description: sg.Description, VpcId: sg.VpcID, InnerAccessPolicy: "Accept"}
	if sg.Type == "enterprise" {
		r.InnerAccessPolicy = "Drop"
	}
	r.Permissions.Permission = []wirePermission{}
	if dir != "egress" {
		for _, x := range sg.Rules {
			r.Permissions.Permission = append(r.Permissions.Permission, wirePermission{
				SecurityGroupRuleId: x.ID, Direction: "ingress", IpProtocol: x.IpProtocol, PortRange: x.PortRange,
				SourceCidrIp: x.SourceCidrIp, SourceGroupId: x.SourceGroupId, Policy: x.Policy,
				Priority: strconv.Itoa(x.Priority), NicType: x.NicType, Description: x.Description,
				CreateTime: x.Created.UTC().Format("2006-01-02T15:04:05Z")})
		}
	}
	return r, nil
}

// parseRule reads one ingress rule: fields from the old flat parameters
// (IpProtocol, PortRange, ...) or one Permissions.N element.
func parseRule(get func(string) string, prefix string) (state.SGRule, *apiError) {
	r := state.SGRule{Policy: "Accept", Priority: 1, NicType: "intranet"}
	proto := strings.ToUpper(get("IpProtocol"))
	switch proto {
	case "TCP", "UDP", "ICMP", "ICMPV6", "GRE", "ALL":
	case "":
		return r, errMissing(prefix + "IpProtocol")
	default:
		return r, newErr(http.StatusBadRequest, "InvalidIpProtocol.Malformed",
			"The specified %sIpProtocol %q is not valid (TCP, UDP, ICMP, ICMPv6, GRE or ALL).", prefix, get("IpProtocol"))
	}
	if proto == "ICMPV6" {
		proto = "ICMPv6"
	}
	r.IpProtocol = proto
	pr := get("PortRange")
	if pr == "" {
		if proto == "TCP" || proto == "UDP" {
			return r, errMissing(prefix + "PortRange")
		}
		pr = "-1/-1"
	}
	lo, hi, ok := strings.Cut(pr, "/")
	a, e1 := strconv.Atoi(lo)
	b, e2 := strconv.Atoi(hi)
	valid := ok && e1 == nil && e2 == nil
	if proto == "TCP" || proto == "UDP" {
		valid = valid && a >= 1 && b <= 65535 && a <= b
	} else {
		valid = valid && a == -1 && b == -1
	}
	if !valid {
		return r, newErr(http.StatusBadRequest, "InvalidPortRange.Malformed",
			"The specified %sPortRange %q is not valid (TCP/UDP: from/to in 1..65535, others: -1/-1).", prefix, pr)
	}
	r.PortRange = pr
	r.SourceCidrIp, r.SourceGroupId = get("SourceCidrIp"), get("SourceGroupId")
	if r.SourceCidrIp == "" && r.SourceGroupId == "" {
		return r, errMissing(prefix + "SourceCidrIp")
	}
	if r.SourceCidrIp != "" {
		if pfx, err := netip.ParsePrefix(r.SourceCidrIp); err == nil && pfx.Addr().Is4() {
			r.SourceCidrIp = pfx.Masked().String()
		} else if a, err := netip.ParseAddr(r.SourceCidrIp); err == nil && a.Is4() {
			r.SourceCidrIp = a.String()
		} else {
			return r, newErr(http.StatusBadRequest, "InvalidSourceCidrIp.Malformed",
				"The specified %sSourceCidrIp %q is not an IPv4 address or CIDR block.", prefix, r.SourceCidrIp)
		}
	}
	switch strings.ToLower(get("Policy")) {
	case "", "accept":
	case "drop":
		r.Policy = "Drop"
	default:
		return r, newErr(http.StatusBadRequest, "InvalidPolicy.Malformed", "The specified %sPolicy must be accept or drop.", prefix)
	}
	if v := get("Priority"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return r, newErr(http.StatusBadRequest, "InvalidPriority.Malformed", "The specified %sPriority must be from 1 to 100.", prefix)
		}
		r.Priority = n
	}
	switch v := get("NicType"); v {
	case "", "intranet":
	case "internet":
		r.NicType = v
	default:
		return r, errInvalid(prefix+"NicType", "must be internet or intranet")
	}
	r.Description = get("Description")
	if len(r.Description) > 512 {
		return r, errInvalid(prefix+"Description", "at most 512 characters")
	}
	return r, nil
}

func actAuthorizeSecurityGroup(s *Server, c *call) (any, *apiError) {
	p := c.p
	id, err := p.required("SecurityGroupId")
	if err != nil {
		return nil, err
	}
	var rules []state.SGRule
	if perms := p.indexed("Permissions"); len(perms) > 0 {
		if len(perms) > 100 {
			return nil, errInvalid("Permissions", "at most 100 rules per call")
		}
		for i, m := range perms {
			r, err := parseRule(func(k string) string { return m[k] }, "Permissions."+strconv.Itoa(i+1)+".")
			if err != nil {
				return nil, err
			}
			rules = append(rules, r)
		}
	} else {
		r, err := parseRule(p.get, "")
		if err != nil {
			return nil, err
		}
		rules = append(rules, r)
	}
	s.sgs.Lock()
	defer s.sgs.Unlock()
	added, err := found(s.sgs.Authorize(id, c.region, rules, c.now))
	if err != nil {
		return nil, err
	}
	c.mutated = added > 0
	return &baseResp{c.requestID}, nil
}

// joinLeave is JoinSecurityGroup (join) and LeaveSecurityGroup.
func joinLeave(join bool) actionFunc {
	return func(s *Server, c *call) (any, *apiError) {
		sid, err := c.p.required("SecurityGroupId")
		if err != nil {
			return nil, err
		}
		if c.p.get("NetworkInterfaceId") != "" {
			// BUG(emulator): elastic network interfaces are not emulated.
			return nil, newErr(http.StatusNotFound, "InvalidEniId.NotFound", "The specified NetworkInterfaceId does not exist.")
		}
		iid, err := c.p.required("InstanceId")
		if err != nil {
			return nil, err
		}
		unlock := s.st.Lock(c.now)
		defer unlock()
		s.sgs.Lock()
		defer s.sgs.Unlock()
		op := state.LeaveSecurityGroup
		if join {
			op = state.JoinSecurityGroup
		}
		if err := ecsError(op(s.st, s.sgs, iid, sid, c.region, c.now)); err != nil {
			return nil, err
		}
		c.mutated = true
		return &baseResp{c.requestID}, nil
	}
}
