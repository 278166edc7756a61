// Package groupspec is the group spec's Instance.Properties: parsing, defaulting
// and validation (RunInstances parameters, tags, the capacity keys and the
// Preemption key), with no ECS calls and no plugin state. Both the plugin's
// Validate and Provision, and the operator's `validate`, call
// ParseProperties; docs/properties.md is generated from these types.
package groupspec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/docker/infrakit/pkg/types"
)

// Limits enforced before anything is sent to ECS.
const (
	// MaxTags is the number of tags ECS allows on one instance. The plugin's
	// own tags (namespace tags, infrakit.logical_id) count against it.
	MaxTags = 20
	// MaxUserDataBytes is the RunInstances limit on UserData before base64
	// encoding: 32 KB.
	MaxUserDataBytes = 32 << 10
	// MaxDataDisks is the number of data disks RunInstances accepts.
	MaxDataDisks = 16
	// MaxBandwidthOut is RunInstances' InternetMaxBandwidthOut limit, Mbit/s.
	MaxBandwidthOut = 100
	// MinDataDiskSize and MaxDataDiskSize bound DataDisk.N.Size in GiB
	// (RunInstances: 20 to 32768 for the cloud disk categories).
	MinDataDiskSize = 20
	MaxDataDiskSize = 32768

	// MaxTagKeyChars and MaxTagValueChars are ECS's tag limits, in
	// characters (not bytes).
	MaxTagKeyChars   = 128
	MaxTagValueChars = 128
)

// KeyTags is the top-level key of the tags put on every instance.
const KeyTags = "Tags"

// Property form keys accepted at the top level of Instance.Properties.
const (
	keyRunInstances       = "RunInstances"
	keyCreateInstanceArgs = "CreateInstanceArgs"
	keyTags               = KeyTags
	keyPreemption         = "Preemption" // read by plugin/instance/spot
)

// Properties is the parsed, defaulted and validated form of a group's
// Instance.Properties. Build it with ParseProperties.
type Properties struct {
	// RunInstances holds the ECS RunInstances parameters. It is filled from
	// either the "RunInstances" or the legacy "CreateInstanceArgs" key.
	RunInstances RunInstancesArgs
	// Tags are applied to every instance, below the group's and the plugin's tags.
	Tags map[string]string
	// Form is the top-level key the parameters came from: "RunInstances"
	// or "CreateInstanceArgs".
	Form string

	// InstanceTypes are instance types tried in order when the one before is
	// out of stock (after RunInstances.InstanceType, if set, which may then be
	// omitted). At most 10 choices in all.
	InstanceTypes []string
	// VSwitchIds are vswitches (so zones) that new instances spread over,
	// fewest group members first; one out of stock moves Provision to the
	// next (after RunInstances.VSwitchId, if set). Not with RunInstances.ZoneId.
	VSwitchIds []string
	// SameMemoryFallback, when every listed type is out of stock, picks an
	// available type with the same memory (and GPUs) as the first and the
	// fewest vCPUs at or above its count.
	SameMemoryFallback bool
	// SpotFallbackOnDemand launches on-demand (NoSpot) when no listed
	// choice has spot capacity. Needs a spot RunInstances.SpotStrategy.
	SpotFallbackOnDemand bool

	// Preemption says what to keep when a spot instance is reclaimed; nil
	// when the key is absent (plugin/instance/spot acts on it).
	Preemption *Preemption
}

// RunInstancesArgs are the ECS RunInstances parameters a spec may set. Field
// names are the ECS parameter names. Parameters the plugin owns (Amount,
// MinAmount, ClientToken, Tag, DryRun, ...) are not accepted.
//
// Fields tagged ecs:"-" are not sent as-is: RegionId must match the plugin's
// region and UserData is combined with the spec's Init and base64-encoded.
type RunInstancesArgs struct {
	RegionId                    string          `json:",omitempty" ecs:"-"`
	ImageId                     string          `json:",omitempty"`
	InstanceType                string          `json:",omitempty"`
	ZoneId                      string          `json:",omitempty"`
	VSwitchId                   string          `json:",omitempty"`
	PrivateIpAddress            string          `json:",omitempty"`
	SecurityGroupId             string          `json:",omitempty"`
	SecurityGroupIds            []string        `json:",omitempty"`
	InstanceName                string          `json:",omitempty"`
	HostName                    string          `json:",omitempty"`
	Description                 string          `json:",omitempty"`
	KeyPairName                 string          `json:",omitempty"`
	Password                    string          `json:",omitempty"`
	PasswordInherit             *bool           `json:",omitempty"`
	RamRoleName                 string          `json:",omitempty"`
	ResourceGroupId             string          `json:",omitempty"`
	DeploymentSetId             string          `json:",omitempty"`
	HpcClusterId                string          `json:",omitempty"`
	SecurityEnhancementStrategy string          `json:",omitempty"`
	IoOptimized                 string          `json:",omitempty"`
	InternetChargeType          string          `json:",omitempty"`
	InternetMaxBandwidthIn      *int            `json:",omitempty"`
	InternetMaxBandwidthOut     *int            `json:",omitempty"`
	InstanceChargeType          string          `json:",omitempty"`
	Period                      *int            `json:",omitempty"`
	PeriodUnit                  string          `json:",omitempty"`
	AutoRenew                   *bool           `json:",omitempty"`
	AutoRenewPeriod             *int            `json:",omitempty"`
	SpotStrategy                string          `json:",omitempty"`
	SpotPriceLimit              *float64        `json:",omitempty"`
	SpotDuration                *int            `json:",omitempty"`
	SpotInterruptionBehavior    string          `json:",omitempty"`
	SystemDisk                  *SystemDiskArgs `json:",omitempty"`
	DataDisk                    []DataDiskArgs  `json:",omitempty"`
	UserData                    string          `json:",omitempty" ecs:"-"`
}

// SystemDiskArgs are the SystemDisk.* parameters.
type SystemDiskArgs struct {
	Category             string `json:",omitempty"`
	Size                 *int   `json:",omitempty"`
	DiskName             string `json:",omitempty"`
	Description          string `json:",omitempty"`
	PerformanceLevel     string `json:",omitempty"`
	AutoSnapshotPolicyId string `json:",omitempty"`
}

// DataDiskArgs are the DataDisk.N.* parameters.
type DataDiskArgs struct {
	Size               *int   `json:",omitempty"`
	Category           string `json:",omitempty"`
	SnapshotId         string `json:",omitempty"`
	DiskName           string `json:",omitempty"`
	Description        string `json:",omitempty"`
	Device             string `json:",omitempty"`
	PerformanceLevel   string `json:",omitempty"`
	DeleteWithInstance *bool  `json:",omitempty"`
	Encrypted          *bool  `json:",omitempty"`
	KMSKeyId           string `json:",omitempty"`
}

// pluginOwned are RunInstances parameters users may know from the ECS API
// but the plugin sets itself; they get a specific error instead of
// "unknown field".
var pluginOwned = map[string]string{
	"Amount":             "the plugin creates one instance per Provision",
	"MinAmount":          "the plugin creates one instance per Provision",
	"MaxAmount":          "the plugin creates one instance per Provision",
	"ClientToken":        "the plugin generates an idempotency token per Provision",
	"Tag":                `put tags under the top-level "Tags" key`,
	"Tags":               `put tags under the top-level "Tags" key`,
	"DryRun":             "use Validate instead",
	"DeletionProtection": "it would stop the plugin from destroying instances",
	"UniqueSuffix":       "the plugin creates one instance per Provision",
	"HostNames":          "use HostName",
}

// Enumerations of string parameters.
var (
	enumSpotStrategy     = []string{"NoSpot", "SpotWithPriceLimit", "SpotAsPriceGo"}
	enumInternetCharge   = []string{"PayByBandwidth", "PayByTraffic"}
	enumInstanceCharge   = []string{"PrePaid", "PostPaid"}
	enumPeriodUnit       = []string{"Week", "Month"}
	enumIoOptimized      = []string{"none", "optimized"}
	enumSecurityEnhance  = []string{"Active", "Deactive"}
	enumSpotInterruption = []string{"Terminate", "Stop"}
	enumPerformanceLevel = []string{"PL0", "PL1", "PL2", "PL3"}
	// Disk categories RunInstances takes (its API reference): local
	// ephemeral_ssd disks come with the instance type and are not created
	// by RunInstances; elastic ephemeral disks are data disks only.
	enumSystemDiskCategory = []string{"cloud", "cloud_efficiency", "cloud_ssd", "cloud_essd", "cloud_auto", "cloud_essd_entry"}
	enumDataDiskCategory   = append(append([]string(nil), enumSystemDiskCategory...), "elastic_ephemeral_disk_standard", "elastic_ephemeral_disk_premium")
)

// PropertiesError lists every problem found in a properties document. Each
// problem names the field path and the rule, e.g. "RunInstances.ImageId: required".
type PropertiesError struct {
	Problems []string
}

func (e *PropertiesError) Error() string {
	return strings.Join(e.Problems, "; ")
}

type Problems []string

func (p *Problems) Add(path, format string, args ...interface{}) {
	*p = append(*p, path+": "+fmt.Sprintf(format, args...))
}

func (p Problems) Err() error {
	if len(p) == 0 {
		return nil
	}
	return &PropertiesError{Problems: append([]string(nil), p...)}
}

// ParseProperties parses, defaults and validates Instance.Properties. It is
// strict: unknown fields (matched case-sensitively), values of the wrong JSON
// type, and values breaking an ECS rule are all reported, each with its field
// path. Both {"RunInstances": {...}} and the legacy {"CreateInstanceArgs": {...}}
// forms are accepted. Validate and Provision both call it.
func ParseProperties(any *types.Any) (Properties, error) {
	var out Properties
	if any == nil || len(bytes.TrimSpace(any.Bytes())) == 0 {
		return out, &PropertiesError{Problems: []string{keyRunInstances + ": required"}}
	}
	dec := json.NewDecoder(bytes.NewReader(any.Bytes()))
	dec.UseNumber()
	var doc interface{}
	if err := dec.Decode(&doc); err != nil {
		return out, &PropertiesError{Problems: []string{"properties: not valid JSON: " + err.Error()}}
	}
	if dec.More() {
		return out, &PropertiesError{Problems: []string{"properties: trailing data after the JSON object"}}
	}
	top, ok := doc.(map[string]interface{})
	if !ok {
		return out, &PropertiesError{Problems: []string{"properties: want a JSON object, got " + jsonKind(doc)}}
	}

	var probs Problems
	out.Form = topLevelForm(&probs, top)
	if len(probs) > 0 {
		return Properties{}, probs.Err()
	}

	raw := top[out.Form]
	checkShape(&probs, out.Form, raw, reflect.TypeOf(RunInstancesArgs{}))
	if t, ok := top[keyTags]; ok {
		checkShape(&probs, keyTags, t, reflect.TypeOf(map[string]string{}))
	}
	if v, ok := top[keyPreemption]; ok {
		checkShape(&probs, keyPreemption, v, reflect.TypeOf(Preemption{}))
	}
	checkCapacityShape(&probs, top)
	if len(probs) > 0 {
		return Properties{}, probs.Err()
	}

	// The shape is right, so plain decoding cannot fail on types or names.
	if raw != nil {
		b, _ := json.Marshal(raw)
		if err := json.Unmarshal(b, &out.RunInstances); err != nil {
			return Properties{}, &PropertiesError{Problems: []string{out.Form + ": " + err.Error()}}
		}
	}
	if t := top[keyTags]; t != nil {
		b, _ := json.Marshal(t)
		if err := json.Unmarshal(b, &out.Tags); err != nil {
			return Properties{}, &PropertiesError{Problems: []string{keyTags + ": " + err.Error()}}
		}
	}

	decodeCapacity(top, &out)
	out.Preemption = decodePreemption(top[keyPreemption])
	out.RunInstances.setDefaults()
	out.validateRunInstances(&probs)
	validatePreemption(&probs, out)
	ValidateTags(&probs, keyTags, out.Tags, true)
	if n := len(out.Tags); n > MaxTags {
		probs.Add(keyTags, "%d tags, at most %d per instance including the plugin's own", n, MaxTags)
	}
	if len(probs) > 0 {
		return Properties{}, probs.Err()
	}
	return out, nil
}

// topLevelForm checks the top-level keys and returns the one the
// RunInstances parameters are under ("RunInstances" or the legacy
// "CreateInstanceArgs").
func topLevelForm(probs *Problems, top map[string]interface{}) string {
	for _, k := range sortedKeys(top) {
		switch k {
		case keyRunInstances, keyCreateInstanceArgs, keyTags, keyPreemption:
		default:
			if isCapacityKey(k) {
				continue
			}
			probs.Add(k, "%s", unknownFieldHint(k, append([]string{keyRunInstances, keyCreateInstanceArgs, keyTags, keyPreemption}, capacityKeys...)))
		}
	}
	_, hasRun := top[keyRunInstances]
	_, hasCreate := top[keyCreateInstanceArgs]
	switch {
	case hasRun && hasCreate:
		probs.Add(keyRunInstances, "set either RunInstances or CreateInstanceArgs, not both")
	case hasRun:
		return keyRunInstances
	case hasCreate:
		return keyCreateInstanceArgs
	default:
		probs.Add(keyRunInstances, "required")
	}
	return ""
}

func (a *RunInstancesArgs) setDefaults() {
	if a.InstanceChargeType == "" {
		a.InstanceChargeType = "PostPaid"
	}
	if a.InstanceChargeType == "PrePaid" && a.PeriodUnit == "" {
		a.PeriodUnit = "Month"
	}
	if a.SpotStrategy == "" {
		a.SpotStrategy = "NoSpot"
	}
	if a.InternetChargeType == "" {
		a.InternetChargeType = "PayByTraffic"
	}
}

func (a *RunInstancesArgs) validate(p *Problems, form string) {
	f := func(name string) string { return form + "." + name }
	// In this order, so problems are reported in a stable order.
	a.validateIdentity(p, f)
	a.validateEnums(p, f)
	a.validateSpot(p, f)
	a.validateCharge(p, f)
	a.validateDisks(p, f)
	if n := len(a.UserData); n > MaxUserDataBytes {
		p.Add(form+".UserData", "%d bytes, at most %d before base64", n, MaxUserDataBytes)
	}
}

// validateIdentity checks the image, type, network and naming parameters.
func (a *RunInstancesArgs) validateIdentity(p *Problems, f func(string) string) {
	required(p, f("ImageId"), a.ImageId)
	required(p, f("InstanceType"), a.InstanceType)
	noSpace(p, f("ImageId"), a.ImageId)
	noSpace(p, f("InstanceType"), a.InstanceType)
	noSpace(p, f("ZoneId"), a.ZoneId)
	noSpace(p, f("VSwitchId"), a.VSwitchId)
	noSpace(p, f("SecurityGroupId"), a.SecurityGroupId)

	if a.SecurityGroupId != "" && len(a.SecurityGroupIds) > 0 {
		p.Add(f("SecurityGroupIds"), "set either SecurityGroupId or SecurityGroupIds, not both")
	}
	seen := map[string]bool{}
	for i, id := range a.SecurityGroupIds {
		path := fmt.Sprintf("%s[%d]", f("SecurityGroupIds"), i)
		if strings.TrimSpace(id) == "" {
			p.Add(path, "must not be empty")
		} else if seen[id] {
			p.Add(path, "duplicate %q", id)
		}
		seen[id] = true
	}
	if a.PrivateIpAddress != "" {
		if ip := net.ParseIP(a.PrivateIpAddress); ip == nil || ip.To4() == nil {
			p.Add(f("PrivateIpAddress"), "%q is not an IPv4 address", a.PrivateIpAddress)
		} else if a.VSwitchId == "" {
			p.Add(f("PrivateIpAddress"), "needs VSwitchId")
		}
	}
	if a.InstanceName != "" {
		lengthBetween(p, f("InstanceName"), a.InstanceName, 2, 128)
	}
	if a.HostName != "" {
		lengthBetween(p, f("HostName"), a.HostName, 2, 64)
		if strings.HasPrefix(a.HostName, ".") || strings.HasPrefix(a.HostName, "-") ||
			strings.HasSuffix(a.HostName, ".") || strings.HasSuffix(a.HostName, "-") {
			p.Add(f("HostName"), "must not start or end with '.' or '-'")
		}
	}
	if a.Description != "" {
		lengthBetween(p, f("Description"), a.Description, 2, 256)
	}
	if a.Password != "" {
		validatePassword(p, f("Password"), a.Password)
	}
	if a.RegionId != "" {
		noSpace(p, f("RegionId"), a.RegionId)
	}
}

// validateEnums checks the parameters with a fixed set of values.
func (a *RunInstancesArgs) validateEnums(p *Problems, f func(string) string) {
	oneOf(p, f("SpotStrategy"), a.SpotStrategy, enumSpotStrategy)
	oneOf(p, f("InternetChargeType"), a.InternetChargeType, enumInternetCharge)
	oneOf(p, f("InstanceChargeType"), a.InstanceChargeType, enumInstanceCharge)
	oneOf(p, f("IoOptimized"), a.IoOptimized, enumIoOptimized)
	oneOf(p, f("SecurityEnhancementStrategy"), a.SecurityEnhancementStrategy, enumSecurityEnhance)
	oneOf(p, f("SpotInterruptionBehavior"), a.SpotInterruptionBehavior, enumSpotInterruption)
	oneOf(p, f("PeriodUnit"), a.PeriodUnit, enumPeriodUnit)
}

// validateSpot checks the spot parameters against SpotStrategy and the charge type.
func (a *RunInstancesArgs) validateSpot(p *Problems, f func(string) string) {
	if a.SpotStrategy == "SpotWithPriceLimit" {
		if a.SpotPriceLimit == nil {
			p.Add(f("SpotPriceLimit"), "required when SpotStrategy is SpotWithPriceLimit")
		}
	} else if a.SpotPriceLimit != nil {
		p.Add(f("SpotPriceLimit"), "only allowed when SpotStrategy is SpotWithPriceLimit")
	}
	if a.SpotPriceLimit != nil && !(*a.SpotPriceLimit > 0) {
		p.Add(f("SpotPriceLimit"), "%v, must be greater than 0", *a.SpotPriceLimit)
	}
	if a.SpotStrategy != "NoSpot" && a.InstanceChargeType != "PostPaid" {
		p.Add(f("SpotStrategy"), "%s needs InstanceChargeType PostPaid", a.SpotStrategy)
	}
	if a.SpotDuration != nil {
		if a.SpotStrategy == "NoSpot" {
			p.Add(f("SpotDuration"), "only allowed for spot instances")
		}
		intBetween(p, f("SpotDuration"), *a.SpotDuration, 0, 6)
	}
	if a.SpotInterruptionBehavior != "" && a.SpotStrategy == "NoSpot" {
		p.Add(f("SpotInterruptionBehavior"), "only allowed for spot instances")
	}
}

// validateCharge checks the subscription and bandwidth parameters.
func (a *RunInstancesArgs) validateCharge(p *Problems, f func(string) string) {
	if a.InstanceChargeType == "PrePaid" {
		if a.Period == nil {
			p.Add(f("Period"), "required when InstanceChargeType is PrePaid")
		}
	} else {
		// In field order: a map here would report them in random order.
		for _, field := range []struct {
			name string
			set  bool
		}{{"Period", a.Period != nil}, {"AutoRenew", a.AutoRenew != nil}, {"AutoRenewPeriod", a.AutoRenewPeriod != nil}} {
			if field.set {
				p.Add(f(field.name), "only allowed when InstanceChargeType is PrePaid")
			}
		}
	}
	if a.Period != nil {
		intBetween(p, f("Period"), *a.Period, 1, 60)
	}
	if a.AutoRenewPeriod != nil {
		intBetween(p, f("AutoRenewPeriod"), *a.AutoRenewPeriod, 1, 60)
	}
	if a.InternetMaxBandwidthOut != nil {
		intBetween(p, f("InternetMaxBandwidthOut"), *a.InternetMaxBandwidthOut, 0, MaxBandwidthOut)
	}
	if a.InternetMaxBandwidthIn != nil {
		intBetween(p, f("InternetMaxBandwidthIn"), *a.InternetMaxBandwidthIn, 1, 10240)
	}
}

// validateDisks checks the system and data disks.
func (a *RunInstancesArgs) validateDisks(p *Problems, f func(string) string) {
	if d := a.SystemDisk; d != nil {
		oneOf(p, f("SystemDisk.Category"), d.Category, enumSystemDiskCategory)
		oneOf(p, f("SystemDisk.PerformanceLevel"), d.PerformanceLevel, enumPerformanceLevel)
		if d.Size != nil {
			intBetween(p, f("SystemDisk.Size"), *d.Size, 20, 2048)
		}
		if d.PerformanceLevel != "" && d.Category != "cloud_essd" {
			p.Add(f("SystemDisk.PerformanceLevel"), "only allowed with Category cloud_essd")
		}
	}
	if n := len(a.DataDisk); n > MaxDataDisks {
		p.Add(f("DataDisk"), "%d disks, at most %d", n, MaxDataDisks)
	}
	for i, d := range a.DataDisk {
		path := fmt.Sprintf("%s[%d]", f("DataDisk"), i)
		oneOf(p, path+".Category", d.Category, enumDataDiskCategory)
		oneOf(p, path+".PerformanceLevel", d.PerformanceLevel, enumPerformanceLevel)
		if d.Size == nil && d.SnapshotId == "" {
			p.Add(path+".Size", "required unless SnapshotId is set")
		}
		if d.Size != nil {
			intBetween(p, path+".Size", *d.Size, MinDataDiskSize, MaxDataDiskSize)
		}
		if d.PerformanceLevel != "" && d.Category != "cloud_essd" {
			p.Add(path+".PerformanceLevel", "only allowed with Category cloud_essd")
		}
		if d.Device != "" && !strings.HasPrefix(d.Device, "/dev/xvd") {
			p.Add(path+".Device", "%q, must look like /dev/xvd[b-z]", d.Device)
		}
	}
}

// ValidateTags checks tag keys and values against the ECS rules (CheckTag).
// When fromSpec is true, the "infrakit." and "infrakit-aliyun." prefixes
// are reserved too: those tags are set by the group plugin and by this plugin.
func ValidateTags(p *Problems, path string, tags map[string]string, fromSpec bool) {
	for _, k := range sortedKeys(tags) {
		kp := fmt.Sprintf("%s[%q]", path, k)
		for _, rule := range CheckTag(k, tags[k]) {
			p.Add(kp, "%s", rule)
		}
		if fromSpec && strings.HasPrefix(k, "infrakit.") {
			p.Add(kp, `key prefix "infrakit." is reserved for InfraKit and this plugin`)
		}
		if fromSpec && strings.HasPrefix(k, "infrakit-aliyun.") {
			// The plugin's own tags (spot moves, shards, destroying):
			// one set here would be taken for the plugin's record.
			p.Add(kp, `key prefix "infrakit-aliyun." is reserved for this plugin`)
		}
	}
}

// CheckTag checks one tag against the ECS tag rules and returns every rule
// it breaks (nil when it is valid): a key of 1 to 128 characters, not
// starting with "aliyun" or "acs:", without "http://" or "https://"; a
// value of at most 128 characters, not starting with "acs:". Lengths are
// counted in characters (runes), as ECS counts them, not bytes. The daemon's
// --namespace-tags and the plugin use this one check.
func CheckTag(key, value string) []string {
	var out []string
	lk := strings.ToLower(key)
	switch n := utf8.RuneCountInString(key); {
	case key == "":
		out = append(out, "key must not be empty")
	case n > MaxTagKeyChars:
		out = append(out, fmt.Sprintf("key is %d characters, at most %d", n, MaxTagKeyChars))
	}
	if !utf8.ValidString(key) {
		out = append(out, "key must be valid UTF-8")
	}
	if strings.HasPrefix(lk, "aliyun") || strings.HasPrefix(lk, "acs:") {
		out = append(out, `key must not start with "aliyun" or "acs:"`)
	}
	if strings.Contains(lk, "http://") || strings.Contains(lk, "https://") {
		out = append(out, `key must not contain "http://" or "https://"`)
	}
	if n := utf8.RuneCountInString(value); n > MaxTagValueChars {
		out = append(out, fmt.Sprintf("value is %d characters, at most %d", n, MaxTagValueChars))
	}
	if !utf8.ValidString(value) {
		out = append(out, "value must be valid UTF-8")
	}
	if strings.HasPrefix(strings.ToLower(value), "acs:") {
		out = append(out, `value must not start with "acs:"`)
	}
	return out
}

func validatePassword(p *Problems, path, pw string) {
	// Never echo the password in a message.
	if n := len(pw); n < 8 || n > 30 {
		p.Add(path, "%d characters, must be 8 to 30", n)
	}
	var upper, lower, digit, special bool
	for _, r := range pw {
		switch {
		case r > unicode.MaxASCII:
			p.Add(path, "must be ASCII")
			return
		case unicode.IsUpper(r):
			upper = true
		case unicode.IsLower(r):
			lower = true
		case unicode.IsDigit(r):
			digit = true
		case strings.ContainsRune("()`~!@#$%^&*-_+=|{}[]:;'<>,.?/", r):
			special = true
		default:
			p.Add(path, "contains a character ECS does not allow")
			return
		}
	}
	classes := 0
	for _, b := range []bool{upper, lower, digit, special} {
		if b {
			classes++
		}
	}
	if classes < 3 {
		p.Add(path, "must contain three of: upper case, lower case, digits, special characters")
	}
}

func required(p *Problems, path, v string) {
	if strings.TrimSpace(v) == "" {
		p.Add(path, "required")
	}
}

func noSpace(p *Problems, path, v string) {
	if v != "" && strings.ContainsAny(v, " \t\r\n") {
		p.Add(path, "%q must not contain white space", v)
	}
}

func lengthBetween(p *Problems, path, v string, lo, hi int) {
	if n := len([]rune(v)); n < lo || n > hi {
		p.Add(path, "%d characters, must be %d to %d", n, lo, hi)
	}
}

func intBetween(p *Problems, path string, v, lo, hi int) {
	if v < lo || v > hi {
		p.Add(path, "%d, must be %d to %d", v, lo, hi)
	}
}

func oneOf(p *Problems, path, v string, allowed []string) {
	if v == "" || slices.Contains(allowed, v) {
		return
	}
	p.Add(path, "%q, must be one of %s", v, strings.Join(allowed, ", "))
}

// checkShape walks a decoded JSON value against a Go type and reports
// unknown fields (exact, case-sensitive names) and wrong JSON types, with
// the field path. JSON null counts as "not set".
func checkShape(p *Problems, path string, v interface{}, t reflect.Type) {
	if v == nil {
		return
	}
	if t.Kind() == reflect.Ptr {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		if _, ok := v.(string); !ok {
			if strings.HasSuffix(path, ".Password") {
				p.Add(path, "want a string") // never echo a secret
				return
			}
			p.Add(path, "want a string, got %s", jsonKind(v))
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			p.Add(path, "want true or false, got %s", jsonKind(v))
		}
	case reflect.Int, reflect.Int64, reflect.Int32:
		n, ok := v.(json.Number)
		if !ok {
			p.Add(path, "want an integer, got %s", jsonKind(v))
			return
		}
		if _, err := strconv.ParseInt(n.String(), 10, 32); err != nil {
			p.Add(path, "want an integer, got %s", n.String())
		}
	case reflect.Float64, reflect.Float32:
		n, ok := v.(json.Number)
		if !ok {
			p.Add(path, "want a number, got %s", jsonKind(v))
			return
		}
		if _, err := n.Float64(); err != nil {
			p.Add(path, "want a number, got %s", n.String())
		}
	case reflect.Slice:
		arr, ok := v.([]interface{})
		if !ok {
			p.Add(path, "want a list, got %s", jsonKind(v))
			return
		}
		for i, e := range arr {
			checkShape(p, fmt.Sprintf("%s[%d]", path, i), e, t.Elem())
		}
	case reflect.Map:
		obj, ok := v.(map[string]interface{})
		if !ok {
			p.Add(path, "want an object, got %s", jsonKind(v))
			return
		}
		for _, k := range sortedKeys(obj) {
			if obj[k] == nil {
				p.Add(fmt.Sprintf("%s[%q]", path, k), "want a string, got null")
				continue
			}
			checkShape(p, fmt.Sprintf("%s[%q]", path, k), obj[k], t.Elem())
		}
	case reflect.Struct:
		checkStructShape(p, path, v, t)
	}
}

// checkStructShape is checkShape for a struct type: a JSON object whose keys
// are the struct's exported field names, plugin-owned RunInstances keys
// refused with their reason.
func checkStructShape(p *Problems, path string, v interface{}, t reflect.Type) {
	obj, ok := v.(map[string]interface{})
	if !ok {
		p.Add(path, "want an object, got %s", jsonKind(v))
		return
	}
	fields := map[string]reflect.StructField{}
	var names []string
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		fields[sf.Name] = sf
		names = append(names, sf.Name)
	}
	for _, k := range sortedKeys(obj) {
		sf, ok := fields[k]
		if !ok {
			if why, owned := pluginOwned[k]; owned && t == reflect.TypeOf(RunInstancesArgs{}) {
				p.Add(path+"."+k, "not allowed, %s", why)
			} else {
				p.Add(path+"."+k, "%s", unknownFieldHint(k, names))
			}
			continue
		}
		checkShape(p, path+"."+k, obj[k], sf.Type)
	}
}

func unknownFieldHint(k string, known []string) string {
	for _, n := range known {
		if strings.EqualFold(n, k) {
			return fmt.Sprintf("unknown field (did you mean %q?)", n)
		}
	}
	return "unknown field"
}

func jsonKind(v interface{}) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return fmt.Sprintf("string %q", truncate(x, 40))
	case bool:
		return "a boolean"
	case json.Number, float64:
		return fmt.Sprintf("number %v", x)
	case []interface{}:
		return "a list"
	case map[string]interface{}:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// --- capacity keys (the plugin's capacity fallbacks read them) ---------------

// Top-level property keys for capacity.
const (
	keyInstanceTypes        = "InstanceTypes"
	keyVSwitchIds           = "VSwitchIds"
	keySameMemoryFallback   = "SameMemoryFallback"
	keySpotFallbackOnDemand = "SpotFallbackOnDemand"
)

// MaxCapacityChoices is the number of entries InstanceTypes and VSwitchIds
// may each hold (with RunInstances.InstanceType/VSwitchId).
const MaxCapacityChoices = 10

var capacityKeys = []string{keyInstanceTypes, keyVSwitchIds, keySameMemoryFallback, keySpotFallbackOnDemand}

func isCapacityKey(k string) bool { return slices.Contains(capacityKeys, k) }

// --- properties --------------------------------------------------------------

// checkCapacityShape reports capacity keys of the wrong JSON type. JSON
// null counts as "not set", like everywhere else in the properties.
func checkCapacityShape(p *Problems, top map[string]interface{}) {
	for _, k := range []string{keyInstanceTypes, keyVSwitchIds} {
		if v, ok := top[k]; ok {
			checkShape(p, k, v, reflect.TypeOf([]string{}))
		}
	}
	for _, k := range []string{keySameMemoryFallback, keySpotFallbackOnDemand} {
		if v, ok := top[k]; ok {
			checkShape(p, k, v, reflect.TypeOf(false))
		}
	}
}

// decodeCapacity fills the capacity fields; the shape is already checked.
// A present but empty list decodes to a non-nil empty slice so validation
// can reject it.
func decodeCapacity(top map[string]interface{}, out *Properties) {
	dec := func(k string, dst interface{}) {
		if v := top[k]; v != nil {
			b, _ := json.Marshal(v)
			_ = json.Unmarshal(b, dst)
		}
	}
	dec(keyInstanceTypes, &out.InstanceTypes)
	dec(keyVSwitchIds, &out.VSwitchIds)
	dec(keySameMemoryFallback, &out.SameMemoryFallback)
	dec(keySpotFallbackOnDemand, &out.SpotFallbackOnDemand)
}

// validateRunInstances validates RunInstances with the capacity lists
// standing in for InstanceType and VSwitchId (each may be given by its list
// alone), then the capacity keys themselves.
func (pr *Properties) validateRunInstances(p *Problems) {
	a := pr.RunInstances
	if a.InstanceType == "" && len(pr.InstanceTypes) > 0 {
		a.InstanceType = "listed" // the list entries are checked below
	}
	if a.VSwitchId == "" && len(pr.VSwitchIds) > 0 {
		a.VSwitchId = "listed"
	}
	a.validate(p, pr.Form)
	pr.validateCapacity(p)
}

func (pr *Properties) validateCapacity(p *Problems) {
	f := func(name string) string { return pr.Form + "." + name }
	a := &pr.RunInstances
	checkChoiceList(p, keyInstanceTypes, pr.InstanceTypes, a.InstanceType, f("InstanceType"))
	checkChoiceList(p, keyVSwitchIds, pr.VSwitchIds, a.VSwitchId, f("VSwitchId"))
	if len(pr.VSwitchIds) > 0 && a.ZoneId != "" {
		p.Add(f("ZoneId"), "must not be set with %s: each vswitch implies its zone", keyVSwitchIds)
	}
	if n := len(pr.VSwitchChoices()); n > 1 && a.PrivateIpAddress != "" {
		p.Add(f("PrivateIpAddress"), "fits one vswitch only, %s and %s give %d", f("VSwitchId"), keyVSwitchIds, n)
	}
	if pr.SameMemoryFallback && len(pr.InstanceTypeChoices()) == 0 {
		p.Add(keySameMemoryFallback, "needs %s or %s", f("InstanceType"), keyInstanceTypes)
	}
	if pr.SpotFallbackOnDemand && a.SpotStrategy == "NoSpot" {
		p.Add(keySpotFallbackOnDemand, "only allowed when %s is SpotWithPriceLimit or SpotAsPriceGo", f("SpotStrategy"))
	}
}

// checkChoiceList checks an ordered fallback list. single is the matching
// RunInstances field, tried before the list.
func checkChoiceList(p *Problems, key string, list []string, single, singlePath string) {
	if list == nil {
		return
	}
	if len(list) == 0 {
		p.Add(key, "must not be empty (omit the key to use %s alone)", singlePath)
		return
	}
	total := len(list)
	if single != "" {
		total++
	}
	if total > MaxCapacityChoices {
		p.Add(key, "%d choices with %s, at most %d", total, singlePath, MaxCapacityChoices)
	}
	seen := map[string]bool{}
	for i, v := range list {
		path := fmt.Sprintf("%s[%d]", key, i)
		switch {
		case strings.TrimSpace(v) == "":
			p.Add(path, "must not be empty")
		case strings.ContainsAny(v, " \t\r\n"):
			p.Add(path, "%q must not contain white space", v)
		case v == single:
			p.Add(path, "%q is already %s, which is tried first; list only the fallbacks", v, singlePath)
		case seen[v]:
			p.Add(path, "duplicate %q", v)
		}
		seen[v] = true
	}
}

// UsesCapacity tells whether any capacity key is set.
func (pr *Properties) UsesCapacity() bool {
	return len(pr.InstanceTypes) > 0 || len(pr.VSwitchIds) > 0 || pr.SameMemoryFallback || pr.SpotFallbackOnDemand
}

// InstanceTypeChoices is the ordered list of types to try: RunInstances.InstanceType
// first (when set), then InstanceTypes.
func (pr *Properties) InstanceTypeChoices() []string {
	var out []string
	if t := pr.RunInstances.InstanceType; t != "" {
		out = append(out, t)
	}
	return append(out, pr.InstanceTypes...)
}

// VSwitchChoices is the ordered list of VSwitchChoices: RunInstances.VSwitchId first
// (when set), then VSwitchIds. Empty when the spec names no vswitch.
func (pr *Properties) VSwitchChoices() []string {
	var out []string
	if v := pr.RunInstances.VSwitchId; v != "" {
		out = append(out, v)
	}
	return append(out, pr.VSwitchIds...)
}

// --- the Preemption key (the plugin's spot handling reads it) ----------------

const (
	// KeepDataImage keeps the system disk as a custom image.
	KeepDataImage = "image"
	// KeepDataDisks keeps the data disks and moves them to the replacement.
	KeepDataDisks = "disks"
)

var enumKeepData = []string{KeepDataImage, KeepDataDisks}

// Preemption is the top-level "Preemption" key of the properties.
type Preemption struct {
	// KeepData is "image" (make an image of the system disk at the notice
	// and boot the replacement from it) or "disks" (detach the data disks
	// at the notice and attach them to the replacement).
	KeepData string `json:",omitempty"`
}

func decodePreemption(v interface{}) *Preemption {
	m, ok := v.(map[string]interface{})
	if !ok {
		return nil
	}
	out := &Preemption{}
	out.KeepData, _ = m["KeepData"].(string)
	return out
}

func validatePreemption(p *Problems, props Properties) {
	pr := props.Preemption
	if pr == nil {
		return
	}
	if pr.KeepData == "" {
		p.Add(keyPreemption+".KeepData", "required, one of %s", strings.Join(enumKeepData, ", "))
	} else {
		oneOf(p, keyPreemption+".KeepData", pr.KeepData, enumKeepData)
	}
	if s := props.RunInstances.SpotStrategy; s == "" || s == "NoSpot" {
		p.Add(keyPreemption, "only for spot instances: set %s.SpotStrategy to SpotAsPriceGo or SpotWithPriceLimit", props.Form)
	}
	if pr.KeepData == KeepDataDisks && len(props.RunInstances.DataDisk) == 0 {
		p.Add(keyPreemption+".KeepData", `"disks" needs %s.DataDisk: the instances have no data disks to keep`, props.Form)
	}
}
