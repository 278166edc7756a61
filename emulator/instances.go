package emulator

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"infrakit.aliyun/emulator/internal/state"
)

// maxUserData is the ECS limit on UserData before base64 encoding: 32 KB,
// as the official API model says for RunInstances and
// ModifyInstanceAttribute (alibabacloud-go/ecs-20140526 v7
// RunInstancesRequest.UserData: "cannot exceed 32 KB in size before Base64
// encoding"). The older user guide page still says 16 KB; the API is what
// clients are checked against.
const maxUserData = 32 * 1024

// commonParams are excluded from the ClientToken parameter hash: a retry
// legitimately changes them (new nonce, timestamp, signature).
var commonParams = map[string]bool{
	"Action": true, "Format": true, "Version": true, "AccessKeyId": true, "SecurityToken": true,
	"Signature": true, "SignatureMethod": true, "SignatureVersion": true, "SignatureNonce": true,
	"SignatureType": true, "Timestamp": true, "ClientToken": true,
}

func paramHash(p params) string {
	keys := make([]string, 0, len(p))
	for k := range p {
		if !commonParams[k] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	h := sha256.New()
	for _, k := range keys {
		fmt.Fprintf(h, "%d:%s=%d:%s;", len(k), k, len(p[k]), p[k])
	}
	return hex.EncodeToString(h.Sum(nil))
}

func checkClientToken(t string) *apiError {
	if len(t) > 64 {
		return errInvalid("ClientToken", "at most 64 ASCII characters")
	}
	for i := 0; i < len(t); i++ {
		if t[i] < 0x20 || t[i] > 0x7e {
			return errInvalid("ClientToken", "at most 64 ASCII characters")
		}
	}
	return nil
}

// createOnce checks the call's ClientToken and runs create under the store
// lock, remembering the IDs it returns under the token: a retry with the
// same token and parameters gets those IDs back without creating anything.
func (s *Server) createOnce(c *call, create func() ([]string, *apiError)) ([]string, *apiError) {
	token := c.p.get("ClientToken")
	if err := checkClientToken(token); err != nil {
		return nil, err
	}
	hash := paramHash(c.p)
	unlock := s.st.Lock(c.now)
	defer unlock()
	if ids, err := found(s.st.Idempotent(c.action, token, hash)); ids != nil || err != nil {
		return ids, err
	}
	ids, err := create()
	if err != nil {
		return nil, err
	}
	s.st.Remember(c.action, token, hash, ids)
	c.mutated = true
	return ids, nil
}

// --- tags validation ---------------------------------------------------------

const maxTags = 20

// validateTag checks one tag; lengths are in characters, as ECS counts
// them (128 "é" is a valid key).
func validateTag(k, v string) *apiError {
	if k == "" || utf8.RuneCountInString(k) > 128 || strings.HasPrefix(k, "aliyun") || strings.HasPrefix(k, "acs:") ||
		strings.Contains(k, "http://") || strings.Contains(k, "https://") {
		return newErr(http.StatusBadRequest, "InvalidTagKey.Malformed",
			"The specified tag key %q is not valid: 1 to 128 characters, not starting with aliyun or acs:, without http:// or https://.", k)
	}
	if utf8.RuneCountInString(v) > 128 || strings.HasPrefix(v, "acs:") || strings.Contains(v, "http://") || strings.Contains(v, "https://") {
		return newErr(http.StatusBadRequest, "InvalidTagValue.Malformed",
			"The specified tag value %q is not valid: at most 128 characters, not starting with acs:, without http:// or https://.", v)
	}
	return nil
}

func errTagCount() *apiError {
	return newErr(http.StatusBadRequest, "InvalidTagCount", "The specified tags are beyond the permitted range (at most %d per resource).", maxTags)
}

// tagElems reads the Tag.N elements of a request. N above 20 is a tag
// count beyond the permitted range (InvalidTagCount, as for 21 tags); N of
// 0 or not a plain number is InvalidParameter naming the parameter.
func tagElems(p params) ([]map[string]string, *apiError) {
	ms, bad, above := p.collect("Tag", maxTags)
	switch {
	case bad != "" && above:
		return nil, newErr(http.StatusBadRequest, "InvalidTagCount",
			"The specified tags are beyond the permitted range: %s (Tag.N takes N from 1 to %d).", bad, maxTags)
	case bad != "":
		return nil, errIndex(bad, "Tag", maxTags)
	}
	return ms, nil
}

// parseTags reads Tag.N.Key/Tag.N.Value (N from 1 to 20) to set on a
// resource. A key given twice is refused as ECS does (Duplicate.TagKey),
// not merged: which value would win is the caller's bug to hear about.
func parseTags(p params) ([]Tag, *apiError) {
	ms, err := tagElems(p)
	if err != nil {
		return nil, err
	}
	var out []Tag
	for _, m := range ms {
		k, v := m["Key"], m["Value"]
		if err := validateTag(k, v); err != nil {
			return nil, err
		}
		if _, dup := state.TagValue(out, k); dup {
			return nil, errDuplicateTagKey(k)
		}
		out = append(out, Tag{Key: k, Value: v})
	}
	return out, nil
}

// errDuplicateTagKey is ECS's answer to one key in two Tag.N.Key; the
// message adds the key to ECS's own words.
func errDuplicateTagKey(k string) *apiError {
	return newErr(http.StatusBadRequest, "Duplicate.TagKey", "The Tag.N.Key contain duplicate key (%q).", k)
}

// parseTagFilter reads Tag.N.Key with an optional Tag.N.Value (absent value:
// any value) for Describe* filters; at most 20, combined with AND.
func parseTagFilter(p params) ([]tagFilter, *apiError) {
	ms, err := tagElems(p)
	if err != nil {
		return nil, err
	}
	var out []tagFilter
	for _, m := range ms {
		k, ok := m["Key"]
		if !ok || k == "" {
			if _, hasV := m["Value"]; hasV {
				return nil, errInvalid("Tag.N.Key", "a tag filter needs a key")
			}
			continue
		}
		f := tagFilter{Key: k}
		if v, ok := m["Value"]; ok {
			f.Value = &v
		}
		out = append(out, f)
	}
	if len(out) > maxTags {
		return nil, errTagCount()
	}
	return out, nil
}

// --- creation -------------------------------------------------------------

type dataDiskSpec = state.DataDiskSpec

type createSpec struct {
	region, zone, itype, image string
	vsw                        *VSwitch
	sgs                        []string
	name, desc, hostName       string
	uniqueSuffix               bool
	privateIP                  string
	userData                   string
	keyPair, ramRole           string
	spot                       string
	spotLimit                  float64
	bandwidthOut               int
	sysCategory                string
	sysSize                    int
	sysName                    string
	dataDisks                  []dataDiskSpec
	tags                       []Tag
	deletionProtection         bool
	dryRun                     bool
	token                      string
}

func (s *Server) validCategory(c string) bool {
	for _, x := range s.cat.DiskCategories {
		if x == c {
			return true
		}
	}
	return false
}

// parseCreate validates everything RunInstances and CreateInstance share
// that does not depend on mutable state, in the order of the steps below
// (the first error found is the one returned).
func (s *Server) parseCreate(c *call) (*createSpec, *apiError) {
	sp := &createSpec{}
	for _, step := range []func(params, *createSpec) *apiError{
		s.parsePlacement,
		s.parseSecurityGroups,
		parseNames,
		s.parsePrivateIP,
		s.parseLogin,
		parseSpot,
		parseBandwidth,
		s.parseSystemDisk,
		s.parseDataDisks,
		parseCreateOptions,
	} {
		if err := step(c.p, sp); err != nil {
			return nil, err
		}
	}
	return sp, nil
}

// parsePlacement reads the region, image and type, and places the instance
// in a vswitch (given, or the zone's default) whose zone offers the type.
func (s *Server) parsePlacement(p params, sp *createSpec) *apiError {
	var err *apiError
	if sp.region, err = p.required("RegionId"); err != nil {
		return err
	}
	if sp.image, err = p.required("ImageId"); err != nil {
		return err
	}
	if sp.itype, err = p.required("InstanceType"); err != nil {
		return err
	}
	if s.cat.types[sp.itype] == nil {
		return errInstanceTypeNotSupported(sp.itype)
	}
	sp.zone = p.get("ZoneId")
	if sp.zone != "" {
		if err := s.cat.checkZone(sp.zone, sp.region); err != nil {
			return err
		}
	}
	if id := p.get("VSwitchId"); id != "" {
		v := s.cat.vswitches[id]
		if v == nil || s.cat.vswitchRegion(v) != sp.region {
			return newErr(http.StatusNotFound, "InvalidVSwitchId.NotFound", "The specified VSwitchId %q does not exist.", id)
		}
		if sp.zone != "" && sp.zone != v.ZoneId {
			return errInvalid("ZoneId", "it does not match the zone of VSwitchId")
		}
		sp.vsw = v
	} else {
		// BUG(emulator): without VSwitchId real ECS needs a default VPC (or
		// classic network); the emulator uses the zone's default vswitch.
		if sp.vsw = s.cat.defaultVSwitch(sp.region, sp.zone); sp.vsw == nil {
			return errMissing("VSwitchId")
		}
	}
	sp.zone = sp.vsw.ZoneId
	if !s.cat.zoneTypes[sp.zone][sp.itype] {
		return newErr(http.StatusForbidden, "InvalidInstanceType.ZoneNotSupported",
			"The specified zone %s does not support the InstanceType %s.", sp.zone, sp.itype)
	}
	return nil
}

// parseSecurityGroups reads SecurityGroupId and SecurityGroupIds (at least
// one, each in the region and the vswitch's VPC), without duplicates.
func (s *Server) parseSecurityGroups(p params, sp *createSpec) *apiError {
	sgs, err := p.idList("SecurityGroupIds", 5)
	if err != nil {
		return err
	}
	if one := p.get("SecurityGroupId"); one != "" {
		sgs = append([]string{one}, sgs...)
	}
	if len(sgs) == 0 {
		return errMissing("SecurityGroupId")
	}
	for _, id := range sgs {
		region, vpc, ok := s.sgs.Lookup(id)
		if !ok || region != sp.region {
			return newErr(http.StatusNotFound, "InvalidSecurityGroupId.NotFound", "The specified SecurityGroupId %q does not exist.", id)
		}
		if vpc != sp.vsw.VpcId {
			return newErr(http.StatusForbidden, "InvalidSecurityGroupId.NotVpc",
				"The security group %s is not in the VPC of vswitch %s.", id, sp.vsw.VSwitchId)
		}
		if !slices.Contains(sp.sgs, id) {
			sp.sgs = append(sp.sgs, id)
		}
	}
	return nil
}

// parseNames reads the instance name, description, host name and
// UniqueSuffix.
func parseNames(p params, sp *createSpec) *apiError {
	sp.name, sp.desc, sp.hostName = p.get("InstanceName"), p.get("Description"), p.get("HostName")
	if utf8.RuneCountInString(sp.name) > 128 {
		return errInvalid("InstanceName", "at most 128 characters")
	}
	if len(sp.hostName) > 64 {
		return errInvalid("HostName", "at most 64 characters")
	}
	var err *apiError
	sp.uniqueSuffix, err = p.boolean("UniqueSuffix", false)
	return err
}

// parsePrivateIP reads an optional IPv4 PrivateIpAddress in the vswitch's
// CIDR block.
func (s *Server) parsePrivateIP(p params, sp *createSpec) *apiError {
	ip := p.get("PrivateIpAddress")
	if ip == "" {
		return nil
	}
	a, perr := netip.ParseAddr(ip)
	if perr != nil || !a.Is4() {
		return newErr(http.StatusBadRequest, "InvalidPrivateIpAddress.Malformed", "The specified PrivateIpAddress %q is malformed.", ip)
	}
	if !s.cat.prefixes[sp.vsw.VSwitchId].Contains(a) {
		return newErr(http.StatusBadRequest, "InvalidPrivateIpAddress.NotInVSwitch",
			"The specified PrivateIpAddress %s is not in the CIDR block %s of vswitch %s.", ip, sp.vsw.CidrBlock, sp.vsw.VSwitchId)
	}
	sp.privateIP = a.String()
	return nil
}

// parseLogin reads UserData, KeyPairName (which must exist in the region)
// and RamRoleName.
func (s *Server) parseLogin(p params, sp *createSpec) *apiError {
	if sp.userData = p.get("UserData"); sp.userData != "" {
		if err := checkUserData(sp.userData); err != nil {
			return err
		}
	}
	if sp.keyPair = p.get("KeyPairName"); sp.keyPair != "" && s.cat.keyPairs[sp.region+"/"+sp.keyPair] == nil {
		return newErr(http.StatusNotFound, "InvalidKeyPairName.NotFound", "The specified KeyPairName %q does not exist.", sp.keyPair)
	}
	// BUG(emulator): RAM roles are not emulated; any RamRoleName is accepted and recorded.
	sp.ramRole = p.get("RamRoleName")
	return nil
}

// parseSpot reads SpotStrategy (default NoSpot) and, for
// SpotWithPriceLimit, a positive SpotPriceLimit.
func parseSpot(p params, sp *createSpec) *apiError {
	var err *apiError
	sp.spot = p.get("SpotStrategy")
	switch sp.spot {
	case "":
		sp.spot = "NoSpot"
	case "NoSpot", "SpotAsPriceGo":
	case "SpotWithPriceLimit":
		if sp.spotLimit, err = p.float("SpotPriceLimit"); err != nil {
			return err
		}
		if sp.spotLimit <= 0 {
			return errMissing("SpotPriceLimit")
		}
	default:
		return errInvalid("SpotStrategy", "NoSpot, SpotWithPriceLimit or SpotAsPriceGo")
	}
	return nil
}

func parseBandwidth(p params, sp *createSpec) *apiError {
	var err *apiError
	sp.bandwidthOut, err = p.intIn("InternetMaxBandwidthOut", 0, 0, 100)
	return err
}

// parseSystemDisk reads the system disk's category (default cloud_essd),
// size and name.
func (s *Server) parseSystemDisk(p params, sp *createSpec) *apiError {
	sp.sysCategory = p.get("SystemDisk.Category")
	if sp.sysCategory == "" {
		sp.sysCategory = "cloud_essd"
	}
	if !s.validCategory(sp.sysCategory) {
		return errInvalid("SystemDisk.Category", "unsupported disk category")
	}
	var err *apiError
	if sp.sysSize, err = p.intIn("SystemDisk.Size", 0, 20, 2048); err != nil {
		return err
	}
	sp.sysName = p.get("SystemDisk.DiskName")
	return nil
}

// parseDataDisks reads DataDisk.N, at most maxDataDisks.
func (s *Server) parseDataDisks(p params, sp *createSpec) *apiError {
	dds, err := p.indexedIn("DataDisk", maxDataDisks)
	if err != nil {
		return err
	}
	for i, m := range dds {
		d, err := s.parseDataDisk("DataDisk."+strconv.Itoa(i+1), m)
		if err != nil {
			return err
		}
		sp.dataDisks = append(sp.dataDisks, d)
	}
	return nil
}

// parseDataDisk reads one data disk, name being its parameter prefix
// (DataDisk.N): category (default cloud_efficiency), a size unless from a
// snapshot, DeleteWithInstance (default true) and Encrypted.
func (s *Server) parseDataDisk(name string, m map[string]string) (dataDiskSpec, *apiError) {
	d := dataDiskSpec{Category: m["Category"], SnapshotID: m["SnapshotId"], Name: m["DiskName"], Description: m["Description"], Device: m["Device"]}
	if d.Category == "" {
		d.Category = "cloud_efficiency"
	}
	if !s.validCategory(d.Category) {
		return d, errInvalid(name+".Category", "unsupported disk category")
	}
	sub := params(m)
	var err *apiError
	if d.Size, err = sub.intIn("Size", 0, 20, 32768); err != nil {
		return d, errInvalid(name+".Size", "must be 20 to 32768 GiB")
	}
	if d.Size == 0 && d.SnapshotID == "" {
		return d, errMissing(name + ".Size")
	}
	if d.DeleteWithInstance, err = sub.boolean("DeleteWithInstance", true); err != nil {
		return d, errInvalid(name+".DeleteWithInstance", "must be true or false")
	}
	if d.Encrypted, err = sub.boolean("Encrypted", false); err != nil {
		return d, errInvalid(name+".Encrypted", "must be true or false")
	}
	return d, nil
}

// parseCreateOptions reads the tags, DeletionProtection, DryRun and
// ClientToken.
func parseCreateOptions(p params, sp *createSpec) *apiError {
	var err *apiError
	if sp.tags, err = parseTags(p); err != nil {
		return err
	}
	if sp.deletionProtection, err = p.boolean("DeletionProtection", false); err != nil {
		return err
	}
	if sp.dryRun, err = p.boolean("DryRun", false); err != nil {
		return err
	}
	sp.token = p.get("ClientToken") // checked by createOnce
	return nil
}

// checkUserData validates UserData as sent: base64 of at most maxUserData
// bytes.
func checkUserData(ud string) *apiError {
	raw, err := base64.StdEncoding.DecodeString(ud)
	if err != nil {
		return newErr(http.StatusBadRequest, "InvalidUserData.Base64FormatInvalid", "The specified UserData is not valid base64.")
	}
	if len(raw) > maxUserData {
		return newErr(http.StatusBadRequest, "InvalidUserData.SizeExceeded",
			"The specified UserData is %d bytes; at most %d bytes before base64 encoding.", len(raw), maxUserData)
	}
	return nil
}

// inFilter reports whether x passes a list filter such as InstanceIds: an
// empty filter lets everything through.
func inFilter(filter []string, x string) bool {
	return len(filter) == 0 || slices.Contains(filter, x)
}

// checkCreateState validates what depends on mutable state (custom images,
// snapshots, the requested private IP). Caller holds the store lock.
func (s *Server) checkCreateState(sp *createSpec, now time.Time) *apiError {
	st := s.st
	minSize := 20
	if im := s.cat.images[sp.image]; im != nil {
		minSize = im.Size
	} else if ci, err := found(st.LiveImage(sp.image, sp.region)); err == nil && ci.Status(now) == "Available" {
		minSize = ci.Size
	} else {
		return errImageNotFound(sp.image)
	}
	if sp.sysSize == 0 {
		sp.sysSize = max(40, minSize)
	} else if sp.sysSize < minSize {
		return errInvalid("SystemDisk.Size", fmt.Sprintf("must not be smaller than the image (%d GiB)", minSize))
	}
	for i, d := range sp.dataDisks {
		if d.SnapshotID == "" {
			continue
		}
		sn, err := found(st.LiveSnapshot(d.SnapshotID, sp.region))
		if err != nil {
			return err
		}
		if d.Size == 0 {
			sp.dataDisks[i].Size = sn.Size
		}
	}
	if sp.privateIP != "" {
		return ecsError(st.CheckPrivateIP(sp.vsw.VSwitchId, sp.privateIP))
	}
	return nil
}

// createInstances creates n instances (caller holds the lock and has
// checked capacity). running selects RunInstances (start at once) over
// CreateInstance (end Stopped).
func (s *Server) createInstances(sp *createSpec, n int, now time.Time, running bool) []string {
	return s.st.CreateInstances(&state.InstanceSpec{
		Region: sp.region, Zone: sp.zone, Type: sp.itype, Image: sp.image, VpcID: sp.vsw.VpcId, VSwitchID: sp.vsw.VSwitchId,
		SecurityGroupIDs: sp.sgs, Name: sp.name, Description: sp.desc, HostName: sp.hostName, UniqueSuffix: sp.uniqueSuffix,
		PrivateIP: sp.privateIP, UserData: sp.userData, KeyPair: sp.keyPair, RamRole: sp.ramRole, Spot: sp.spot,
		SpotLimit: sp.spotLimit, BandwidthOut: sp.bandwidthOut, SysCategory: sp.sysCategory, SysSize: sp.sysSize,
		SysName: sp.sysName, DataDisks: sp.dataDisks, Tags: sp.tags, DeletionProtection: sp.deletionProtection, Token: sp.token,
	}, n, now, running)
}

type runInstancesResp struct {
	baseResp
	TradePrice     float64
	InstanceIdSets struct {
		InstanceIdSet []string
	}
}

type createInstanceResp struct {
	baseResp
	InstanceId string
	TradePrice float64
}

func actRunInstances(s *Server, c *call) (any, *apiError) {
	return s.runOrCreate(c, true)
}

func actCreateInstance(s *Server, c *call) (any, *apiError) {
	return s.runOrCreate(c, false)
}

func (s *Server) runOrCreate(c *call, run bool) (any, *apiError) {
	sp, err := s.parseCreate(c)
	if err != nil {
		return nil, err
	}
	amount, minAmount := 1, 1
	if run {
		// aliyungo sends MaxAmount; Amount is the current name.
		key := "Amount"
		if !c.p.has(key) && c.p.has("MaxAmount") {
			key = "MaxAmount"
		}
		if amount, err = c.p.intIn(key, 1, 1, 100); err != nil {
			return nil, err
		}
		if minAmount, err = c.p.intIn("MinAmount", amount, 1, 100); err != nil {
			return nil, err
		}
		if minAmount > amount {
			return nil, errInvalid("MinAmount", "must not exceed Amount")
		}
		if sp.privateIP != "" && amount > 1 {
			return nil, errInvalid("PrivateIpAddress", "can only be set when Amount is 1")
		}
	}
	ids, err := s.createOnce(c, func() ([]string, *apiError) {
		if err := s.checkCreateState(sp, c.now); err != nil {
			return nil, err
		}
		if s.faults.notOnSale(sp.itype, sp.zone, sp.spot != "NoSpot") {
			return nil, errNotOnSale(sp.itype, sp.zone)
		}
		if s.faults.noStock(sp.itype, sp.zone, sp.spot != "NoSpot") {
			return nil, errNoStock(sp.itype, sp.zone)
		}
		n := amount
		if q := s.faults.maxInstances(); q > 0 && s.st.Live+n > q {
			if s.st.Live+minAmount > q {
				return nil, newErr(http.StatusForbidden, "QuotaExceed.ElasticQuota",
					"The instance quota (%d) is exceeded: %d instances exist.", q, s.st.Live)
			}
			n = q - s.st.Live
		}
		if free := s.st.Pools[sp.vsw.VSwitchId].Free(); free < n {
			if free < minAmount {
				return nil, newErr(http.StatusForbidden, "InvalidVSwitchId.IpNotEnough",
					"The vswitch %s has %d free private IP addresses; %d needed.", sp.vsw.VSwitchId, free, minAmount)
			}
			n = free
		}
		if sp.dryRun {
			return nil, errDryRun()
		}
		return s.createInstances(sp, n, c.now, run), nil
	})
	if err != nil {
		return nil, err
	}
	if run {
		r := &runInstancesResp{baseResp: baseResp{c.requestID}}
		r.InstanceIdSets.InstanceIdSet = append([]string{}, ids...)
		return r, nil
	}
	return &createInstanceResp{baseResp: baseResp{c.requestID}, InstanceId: ids[0]}, nil
}

// --- lifecycle --------------------------------------------------------------

// The lifecycle operations are the state's; the front only maps refusals.
func (s *Server) startOne(in *instance, now time.Time) *apiError {
	return ecsError(s.st.Start(in, now))
}
func (s *Server) stopOne(in *instance, now time.Time) *apiError {
	return ecsError(s.st.Stop(in, now))
}
func (s *Server) rebootOne(in *instance, now time.Time) *apiError {
	return ecsError(s.st.Reboot(in, now))
}

func checkDelete(in *instance, force bool, now time.Time) *apiError {
	return ecsError(state.CheckDelete(in, force, now))
}

type instanceOp func(s *Server, in *instance, now time.Time) *apiError

func single(op instanceOp) actionFunc {
	return func(s *Server, c *call) (any, *apiError) {
		id, err := c.p.required("InstanceId")
		if err != nil {
			return nil, err
		}
		dry, err := c.p.boolean("DryRun", false)
		if err != nil {
			return nil, err
		}
		unlock := s.st.Lock(c.now)
		defer unlock()
		in, err := found(s.st.LiveInstance(id, c.region))
		if err != nil {
			return nil, err
		}
		if dry {
			probe := *in
			if err := op(s, &probe, c.now); err != nil {
				return nil, err
			}
			return nil, errDryRun()
		}
		if err := op(s, in, c.now); err != nil {
			return nil, err
		}
		c.mutated = true
		return &baseResp{c.requestID}, nil
	}
}

type instanceResponse struct {
	Code           string
	Message        string
	InstanceId     string
	CurrentStatus  string
	PreviousStatus string
}

type batchResp struct {
	baseResp
	InstanceResponses struct {
		InstanceResponse []instanceResponse
	}
}

// batch implements StartInstances/StopInstances: BatchOptimization
// AllTogether (default) fails the whole call on the first bad instance,
// SuccessFirst reports per instance.
func batch(op instanceOp) actionFunc {
	return func(s *Server, c *call) (any, *apiError) {
		ids, err := instanceIDs(c.p)
		if err != nil {
			return nil, err
		}
		mode := c.p.get("BatchOptimization")
		if mode == "" {
			mode = "AllTogether"
		}
		if mode != "AllTogether" && mode != "SuccessFirst" {
			return nil, errInvalid("BatchOptimization", "AllTogether or SuccessFirst")
		}
		dry, err := c.p.boolean("DryRun", false)
		if err != nil {
			return nil, err
		}
		unlock := s.st.Lock(c.now)
		defer unlock()
		r := &batchResp{baseResp: baseResp{c.requestID}}
		r.InstanceResponses.InstanceResponse = []instanceResponse{}
		if mode == "AllTogether" || dry {
			for _, id := range ids {
				in, err := found(s.st.LiveInstance(id, c.region))
				if err != nil {
					return nil, err
				}
				probe := *in
				if err := op(s, &probe, c.now); err != nil {
					return nil, err
				}
			}
			if dry {
				return nil, errDryRun()
			}
		}
		for _, id := range ids {
			in, err := found(s.st.LiveInstance(id, c.region))
			if err != nil {
				r.InstanceResponses.InstanceResponse = append(r.InstanceResponses.InstanceResponse,
					instanceResponse{Code: err.Code, Message: err.Message, InstanceId: id})
				continue
			}
			prev := in.Status(c.now)
			if err := op(s, in, c.now); err != nil {
				r.InstanceResponses.InstanceResponse = append(r.InstanceResponses.InstanceResponse,
					instanceResponse{Code: err.Code, Message: err.Message, InstanceId: id, CurrentStatus: prev, PreviousStatus: prev})
				continue
			}
			c.mutated = true
			r.InstanceResponses.InstanceResponse = append(r.InstanceResponses.InstanceResponse,
				instanceResponse{Code: "200", Message: "success", InstanceId: id, CurrentStatus: in.Status(c.now), PreviousStatus: prev})
		}
		return r, nil
	}
}

func actDeleteInstance(s *Server, c *call) (any, *apiError) {
	id, err := c.p.required("InstanceId")
	if err != nil {
		return nil, err
	}
	return s.deleteInstances(c, []string{id})
}

// instanceIDs reads the RegionId and the 1 to 100 InstanceId.N of a batch call.
func instanceIDs(p params) ([]string, *apiError) {
	if _, err := p.required("RegionId"); err != nil {
		return nil, err
	}
	ids, err := p.idList("InstanceId", 100)
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, errMissing("InstanceId.1")
	}
	return ids, nil
}

func actDeleteInstances(s *Server, c *call) (any, *apiError) {
	ids, err := instanceIDs(c.p)
	if err != nil {
		return nil, err
	}
	if err := checkClientToken(c.p.get("ClientToken")); err != nil {
		return nil, err
	}
	return s.deleteInstances(c, ids)
}

// deleteInstances releases every instance of ids or none (DeleteInstance is
// the one-instance case): all are checked first, and DryRun stops there.
// It is not a single/batch instanceOp, whose DryRun probes run the op on a
// copy of the instance: releasing touches the store (IP pool, disks, counts).
func (s *Server) deleteInstances(c *call, ids []string) (any, *apiError) {
	force, err := c.p.boolean("Force", false)
	if err != nil {
		return nil, err
	}
	dry, err := c.p.boolean("DryRun", false)
	if err != nil {
		return nil, err
	}
	unlock := s.st.Lock(c.now)
	defer unlock()
	ins := make([]*instance, 0, len(ids))
	for _, id := range ids {
		in, err := found(s.st.LiveInstance(id, c.region))
		if err != nil {
			return nil, err
		}
		if err := checkDelete(in, force, c.now); err != nil {
			return nil, err
		}
		ins = append(ins, in)
	}
	if dry {
		return nil, errDryRun()
	}
	for _, in := range ins {
		s.st.Release(in, c.now, ReleaseDeleted)
	}
	c.mutated = true
	return &baseResp{c.requestID}, nil
}

// --- describe ----------------------------------------------------------------

type describeInstancesResp struct {
	baseResp
	tokenPage
	Instances struct {
		Instance []wireInstance
	}
}

func actDescribeInstances(s *Server, c *call) (any, *apiError) {
	p := c.p
	region, err := p.required("RegionId")
	if err != nil {
		return nil, err
	}
	ids, err := p.jsonList("InstanceIds", 100)
	if err != nil {
		return nil, err
	}
	ips, err := p.jsonList("PrivateIpAddresses", 100)
	if err != nil {
		return nil, err
	}
	tags, err := parseTagFilter(p)
	if err != nil {
		return nil, err
	}
	status := p.get("Status")
	switch status {
	case "", StatusPending, StatusStarting, StatusRunning, StatusStopping, StatusStopped:
	default:
		return nil, errInvalid("Status", "")
	}
	pg, err := tokenPageArgs(p, 100, 100)
	if err != nil {
		return nil, err
	}
	from := pg.from
	zone, vsw, vpc, itype := p.get("ZoneId"), p.get("VSwitchId"), p.get("VpcId"), p.get("InstanceType")
	name, image, sg, spot, lock := p.get("InstanceName"), p.get("ImageId"), p.get("SecurityGroupId"), p.get("SpotStrategy"), p.get("LockReason")
	family := p.get("InstanceTypeFamily")
	now := c.now
	match := func(in *instance) bool {
		if in.Released() || in.RegionID != region || in.Seq < from {
			return false
		}
		switch {
		case zone != "" && in.ZoneID != zone, vsw != "" && in.VSwitchID != vsw, vpc != "" && in.VpcID != vpc,
			itype != "" && in.Type != itype, image != "" && in.ImageID != image, spot != "" && in.SpotStrategy != spot,
			sg != "" && !slices.Contains(in.SecurityGroupIDs, sg), !inFilter(ips, in.PrivateIP),
			lock != "" && !slices.Contains(in.Locks, lock):
			return false
		case family != "" && (s.cat.types[in.Type] == nil || s.cat.types[in.Type].InstanceTypeFamily != family):
			return false
		case name != "" && !matchName(name, in.Name):
			return false
		case status != "" && in.Status(now) != status:
			return false
		}
		return state.MatchTags(in.Tags, tags)
	}
	unlock := s.st.Lock(now)
	defer unlock()
	source := s.st.Order
	if len(ids) > 0 {
		source = state.Pick(s.st.Instances, ids)
	} else if cand, ok := s.st.Candidates(tags); ok {
		source = cand
	} else if from > 0 {
		// order is sorted by Seq: jump straight to the token.
		source = source[sort.Search(len(source), func(i int) bool { return source[i].Seq >= from }):]
	}
	r := &describeInstancesResp{baseResp: baseResp{c.requestID}, tokenPage: pg}
	r.Instances.Instance = []wireInstance{}
	for _, in := range source {
		if match(in) && r.take(in.Seq) {
			r.Instances.Instance = append(r.Instances.Instance, s.toWireInstance(in, now))
		}
	}
	if r.tokens {
		// BUG(emulator): with NextToken/MaxResults, TotalCount counts the
		// matches from the token on; real ECS says it is not meaningful.
		r.PageNumber = 1
	}
	return r, nil
}

// matchName supports the trailing-* wildcard of InstanceName filters.
func matchName(pattern, name string) bool {
	if strings.HasSuffix(pattern, "*") {
		return strings.HasPrefix(name, strings.TrimSuffix(pattern, "*"))
	}
	return pattern == name
}

type describeInstanceAttributeResp struct {
	baseResp
	wireInstance
}

func actDescribeInstanceAttribute(s *Server, c *call) (any, *apiError) {
	id, err := c.p.required("InstanceId")
	if err != nil {
		return nil, err
	}
	unlock := s.st.Lock(c.now)
	defer unlock()
	in, err := found(s.st.LiveInstance(id, c.region))
	if err != nil {
		return nil, err
	}
	return &describeInstanceAttributeResp{baseResp{c.requestID}, s.toWireInstance(in, c.now)}, nil
}

type instanceStatusResp struct {
	baseResp
	page
	InstanceStatuses struct {
		InstanceStatus []struct{ InstanceId, Status string }
	}
}

func actDescribeInstanceStatus(s *Server, c *call) (any, *apiError) {
	region, pg, err := regionPageArgs(c.p, 50)
	if err != nil {
		return nil, err
	}
	ids, err := c.p.idList("InstanceId", 100)
	if err != nil {
		return nil, err
	}
	zone := c.p.get("ZoneId")
	unlock := s.st.Lock(c.now)
	defer unlock()
	source := s.st.Order
	if len(ids) > 0 {
		source = state.Pick(s.st.Instances, ids)
	}
	r := &instanceStatusResp{baseResp: baseResp{c.requestID}, page: pg}
	r.InstanceStatuses.InstanceStatus = []struct{ InstanceId, Status string }{}
	for _, in := range source {
		if in.Released() || in.RegionID != region || (zone != "" && in.ZoneID != zone) {
			continue
		}
		if r.take() {
			r.InstanceStatuses.InstanceStatus = append(r.InstanceStatuses.InstanceStatus, struct{ InstanceId, Status string }{in.ID, in.Status(c.now)})
		}
	}
	return r, nil
}

func actModifyInstanceAttribute(s *Server, c *call) (any, *apiError) {
	p := c.p
	id, err := p.required("InstanceId")
	if err != nil {
		return nil, err
	}
	if n := p.get("InstanceName"); p.has("InstanceName") && (len(n) < 2 || len(n) > 128) {
		return nil, errInvalid("InstanceName", "2 to 128 characters")
	}
	if h := p.get("HostName"); p.has("HostName") && (len(h) < 2 || len(h) > 64) {
		return nil, errInvalid("HostName", "2 to 64 characters")
	}
	if p.has("UserData") {
		if err := checkUserData(p.get("UserData")); err != nil {
			return nil, err
		}
	}
	dp, err := p.boolean("DeletionProtection", false)
	if err != nil {
		return nil, err
	}
	var ch state.InstanceChange
	opt := func(name string) *string {
		if !p.has(name) {
			return nil
		}
		v := p.get(name)
		return &v
	}
	ch.Name, ch.Description, ch.HostName, ch.UserData = opt("InstanceName"), opt("Description"), opt("HostName"), opt("UserData")
	if p.has("DeletionProtection") {
		ch.DeletionProtection = &dp
	}
	unlock := s.st.Lock(c.now)
	defer unlock()
	if err := ecsError(s.st.ModifyInstance(id, c.region, ch, c.now)); err != nil {
		return nil, err
	}
	c.mutated = true
	return &baseResp{c.requestID}, nil
}
