package cloud

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"
)

// cliConfig is the part of the aliyun CLI's ~/.aliyun/config.json read here.
type cliConfig struct {
	Current  string       `json:"current"`
	Profiles []cliProfile `json:"profiles"`
}

type cliProfile struct {
	Name            string `json:"name"`
	Mode            string `json:"mode"`
	AccessKeyID     string `json:"access_key_id"`
	AccessKeySecret string `json:"access_key_secret"`
	StsToken        string `json:"sts_token"`
	StsRegion       string `json:"sts_region"`
	RAMRoleName     string `json:"ram_role_name"`
	RAMRoleARN      string `json:"ram_role_arn"`
	RAMSessionName  string `json:"ram_session_name"`
	SourceProfile   string `json:"source_profile"`
	ExpiredSeconds  int    `json:"expired_seconds"`
	RegionID        string `json:"region_id"`
}

// ProfileProvider supplies a named profile: from the aliyun CLI's
// config.json first, else a section of ~/.alibabacloud/credentials.
//
// The profile is --profile, else ALIBABA_CLOUD_PROFILE, else config.json's
// "current" (for the INI file: [default]). A profile that was named but
// exists in neither file is an error; an unnamed one that is missing or has
// no keys (a fresh `aliyun configure` skeleton) is simply "nothing here".
type ProfileProvider struct {
	env       Env
	name      string // "" = not named
	flagNamed bool
	stsFlag   string

	loaded     bool
	loadErr    error
	cliPath    string
	cli        *cliConfig
	iniPath    string
	ini        map[string]map[string]string
	regionFrom string
}

func newProfileProvider(flags Flags, env Env) *ProfileProvider {
	p := &ProfileProvider{env: env, name: flags.Profile, flagNamed: flags.Profile != "", stsFlag: flags.STSEndpoint}
	if p.name == "" {
		p.name = env.get(EnvProfile)
	}
	return p
}

// Name implements Provider.
func (p *ProfileProvider) Name() string {
	if p.flagNamed {
		return "profile " + quote(p.name) + " (--profile)"
	}
	return "profile"
}

// RegionSource implements RegionSourcer.
func (p *ProfileProvider) RegionSource() string { return p.regionFrom }

func quote(s string) string { return fmt.Sprintf("%q", s) }

// load reads both files once. A missing default file is fine; a missing
// file named by its environment variable, or a malformed one, is an error.
func (p *ProfileProvider) load() error {
	if p.loaded {
		return p.loadErr
	}
	p.loaded = true
	read := func(envVar string, def ...string) (string, []byte, error) {
		path, explicit := p.env.get(envVar), true
		if path == "" {
			path, explicit = p.env.inHome(def...), false
		}
		if path == "" {
			return "", nil, nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && !explicit {
				return path, nil, nil
			}
			return path, nil, fmt.Errorf("reading %s: %w", path, err)
		}
		return path, b, nil
	}
	var errs []error
	path, b, err := read(EnvConfigFile, ".aliyun", "config.json")
	p.cliPath = path
	if err != nil {
		errs = append(errs, err)
	} else if b != nil {
		var c cliConfig
		if err := json.Unmarshal(b, &c); err != nil {
			errs = append(errs, fmt.Errorf("%s is not valid JSON: %v", path, jsonErrPos(err)))
		} else {
			p.cli = &c
		}
	}
	path, b, err = read(EnvCredentialsFile, ".alibabacloud", "credentials")
	p.iniPath = path
	if err != nil {
		errs = append(errs, err)
	} else if b != nil {
		ini, err := parseINI(b)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %v", path, err))
		} else {
			p.ini = ini
		}
	}
	p.loadErr = errors.Join(errs...)
	return p.loadErr
}

// jsonErrPos reports a JSON error without quoting the file's content.
func jsonErrPos(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("field %s has the wrong type", te.Field)
	}
	return "cannot decode"
}

func (p *ProfileProvider) cliProfile(name string) (cliProfile, bool) {
	if p.cli == nil {
		return cliProfile{}, false
	}
	for _, pr := range p.cli.Profiles {
		if pr.Name == name {
			return pr, true
		}
	}
	return cliProfile{}, false
}

// selected is the CLI profile name in use ("" when config.json is absent).
func (p *ProfileProvider) selected() string {
	if p.name != "" {
		return p.name
	}
	if p.cli != nil && p.cli.Current != "" {
		return p.cli.Current
	}
	return "default"
}

func (p *ProfileProvider) iniSection() (map[string]string, string, bool) {
	name := p.name
	if name == "" {
		name = "default"
	}
	sec, ok := p.ini[name]
	if ok && strings.EqualFold(sec["enable"], "false") {
		return nil, name, false
	}
	return sec, name, ok
}

// Credentials implements Provider.
func (p *ProfileProvider) Credentials() (Credentials, bool, error) {
	if err := p.load(); err != nil {
		return Credentials{}, false, err
	}
	if pr, ok := p.cliProfile(p.selected()); ok {
		if p.name == "" && pr.Mode == "AK" && pr.AccessKeyID == "" && pr.AccessKeySecret == "" {
			// the skeleton `aliyun configure` leaves behind: not configured
		} else {
			c, err := p.fromCLI(pr, 0)
			return c, err == nil, err
		}
	}
	if sec, name, ok := p.iniSection(); ok {
		c, err := p.fromINI(name, sec)
		return c, err == nil, err
	}
	if p.name != "" {
		return Credentials{}, false, fmt.Errorf("profile %q not found in %s", p.name, p.places())
	}
	return Credentials{}, false, nil
}

func (p *ProfileProvider) places() string {
	var s []string
	for _, f := range []string{p.cliPath, p.iniPath} {
		if f != "" {
			s = append(s, f)
		}
	}
	if len(s) == 0 {
		return "the profile files (HOME is not set)"
	}
	return strings.Join(s, " or ")
}

// Region implements Provider: the selected profile's region_id.
func (p *ProfileProvider) Region() (string, bool, error) {
	if err := p.load(); err != nil {
		return "", false, nil // reported by Credentials when it matters
	}
	if pr, ok := p.cliProfile(p.selected()); ok && pr.RegionID != "" {
		p.regionFrom = "aliyun CLI profile " + quote(pr.Name) + " (" + p.cliPath + ")"
		return pr.RegionID, true, nil
	}
	if sec, name, ok := p.iniSection(); ok && sec["region_id"] != "" {
		p.regionFrom = "credentials file profile " + quote(name) + " (" + p.iniPath + ")"
		return sec["region_id"], true, nil
	}
	return "", false, nil
}

const maxProfileChain = 4

// fromCLI turns an aliyun CLI profile into credentials.
func (p *ProfileProvider) fromCLI(pr cliProfile, depth int) (Credentials, error) {
	label := "aliyun CLI profile " + quote(pr.Name) + " (" + p.cliPath + ", mode " + pr.Mode + ")"
	need := func(fields ...string) error {
		var missing []string
		for i := 0; i+1 < len(fields); i += 2 {
			if fields[i+1] == "" {
				missing = append(missing, fields[i])
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("%s: %s not set", label, strings.Join(missing, ", "))
		}
		return nil
	}
	switch pr.Mode {
	case "AK", "":
		if err := need("access_key_id", pr.AccessKeyID, "access_key_secret", pr.AccessKeySecret); err != nil {
			return Credentials{}, err
		}
		return Credentials{AccessKeyID: pr.AccessKeyID, AccessKeySecret: pr.AccessKeySecret, Source: label}, nil
	case "StsToken":
		if err := need("access_key_id", pr.AccessKeyID, "access_key_secret", pr.AccessKeySecret, "sts_token", pr.StsToken); err != nil {
			return Credentials{}, err
		}
		return Credentials{AccessKeyID: pr.AccessKeyID, AccessKeySecret: pr.AccessKeySecret, SecurityToken: pr.StsToken, Source: label}, nil
	case "RamRoleArn", "ChainableRamRoleArn":
		var source func() (Credentials, error)
		if pr.Mode == "RamRoleArn" {
			if err := need("access_key_id", pr.AccessKeyID, "access_key_secret", pr.AccessKeySecret, "ram_role_arn", pr.RAMRoleARN); err != nil {
				return Credentials{}, err
			}
			src := Credentials{AccessKeyID: pr.AccessKeyID, AccessKeySecret: pr.AccessKeySecret, SecurityToken: pr.StsToken}
			source = func() (Credentials, error) { return src, nil }
		} else {
			if err := need("source_profile", pr.SourceProfile, "ram_role_arn", pr.RAMRoleARN); err != nil {
				return Credentials{}, err
			}
			if depth >= maxProfileChain {
				return Credentials{}, fmt.Errorf("%s: source_profile chain longer than %d", label, maxProfileChain)
			}
			sp, ok := p.cliProfile(pr.SourceProfile)
			if !ok {
				return Credentials{}, fmt.Errorf("%s: source_profile %q not found", label, pr.SourceProfile)
			}
			// Resolved afresh on every AssumeRole, so a temporary source
			// (itself a role) is never used past its expiry.
			source = func() (Credentials, error) { return p.fromCLI(sp, depth+1) }
		}
		session := pr.RAMSessionName
		if session == "" {
			session = defaultSessionName
		}
		return assumeRole{
			source: source, roleARN: pr.RAMRoleARN, sessionName: session,
			duration: time.Duration(pr.ExpiredSeconds) * time.Second,
			endpoint: stsEndpoint(p.stsFlag, p.env, pr.StsRegion), env: p.env, label: label,
		}.credentials()
	case "EcsRamRole":
		if err := need("ram_role_name", pr.RAMRoleName); err != nil {
			return Credentials{}, err
		}
		return p.fromMetadata(label, pr.RAMRoleName)
	default:
		return Credentials{}, fmt.Errorf("%s: mode %s is not supported; use AK, StsToken, RamRoleArn, ChainableRamRoleArn or EcsRamRole", label, pr.Mode)
	}
}

func (p *ProfileProvider) fromMetadata(label, role string) (Credentials, error) {
	base := p.env.metadataBase()
	if base == "" {
		return Credentials{}, fmt.Errorf("%s: needs the metadata service, which is disabled or not configured (%s)", label, EnvMetadataEndpoint)
	}
	m := &metadataClient{base: base, http: p.env.httpClient()}
	c, ok, err := m.ramRoleCredentials(role)
	if err == nil && !ok {
		err = fmt.Errorf("RAM role %q not found", role)
	}
	if err != nil {
		return Credentials{}, fmt.Errorf("%s: %w", label, err)
	}
	return relabel(c, label), nil
}

// relabel sets Source on c and on every set its refresh returns.
func relabel(c Credentials, label string) Credentials {
	c.Source = label
	if r := c.refresh; r != nil {
		c.refresh = func() (Credentials, error) {
			n, err := r()
			if err != nil {
				return n, err
			}
			return relabel(n, label), nil
		}
	}
	return c
}

// fromINI turns a credentials-file section into credentials.
func (p *ProfileProvider) fromINI(name string, sec map[string]string) (Credentials, error) {
	typ := sec["type"]
	label := "credentials file profile " + quote(name) + " (" + p.iniPath + ", type " + typ + ")"
	need := func(keys ...string) error {
		var missing []string
		for _, k := range keys {
			if sec[k] == "" {
				missing = append(missing, k)
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("%s: %s not set", label, strings.Join(missing, ", "))
		}
		return nil
	}
	switch typ {
	case "access_key":
		if err := need("access_key_id", "access_key_secret"); err != nil {
			return Credentials{}, err
		}
		return Credentials{AccessKeyID: sec["access_key_id"], AccessKeySecret: sec["access_key_secret"], Source: label}, nil
	case "sts":
		if err := need("access_key_id", "access_key_secret", "security_token"); err != nil {
			return Credentials{}, err
		}
		return Credentials{AccessKeyID: sec["access_key_id"], AccessKeySecret: sec["access_key_secret"],
			SecurityToken: sec["security_token"], Source: label}, nil
	case "ram_role_arn":
		if err := need("access_key_id", "access_key_secret", "role_arn"); err != nil {
			return Credentials{}, err
		}
		src := Credentials{AccessKeyID: sec["access_key_id"], AccessKeySecret: sec["access_key_secret"]}
		session := sec["role_session_name"]
		if session == "" {
			session = defaultSessionName
		}
		var dur time.Duration
		if s := sec["role_session_expiration"]; s != "" {
			var n int
			if _, err := fmt.Sscan(s, &n); err != nil || n <= 0 {
				return Credentials{}, fmt.Errorf("%s: role_session_expiration %q is not a number of seconds", label, s)
			}
			dur = time.Duration(n) * time.Second
		}
		return assumeRole{
			source: func() (Credentials, error) { return src, nil }, roleARN: sec["role_arn"], sessionName: session,
			duration: dur, endpoint: stsEndpoint(p.stsFlag, p.env, sec["sts_region"]), env: p.env, label: label,
		}.credentials()
	case "ecs_ram_role":
		if err := need("role_name"); err != nil {
			return Credentials{}, err
		}
		return p.fromMetadata(label, sec["role_name"])
	case "":
		return Credentials{}, fmt.Errorf("%s: type not set (want access_key, sts, ram_role_arn or ecs_ram_role)", label)
	default:
		return Credentials{}, fmt.Errorf("%s: type %s is not supported; use access_key, sts, ram_role_arn or ecs_ram_role", label, typ)
	}
}

// parseINI reads the simple INI dialect of ~/.alibabacloud/credentials:
// [section] headers, key = value lines, # and ; comments. Values may be
// quoted. Errors give the line number, never the line.
func parseINI(b []byte) (map[string]map[string]string, error) {
	out := map[string]map[string]string{}
	var cur map[string]string
	sc := bufio.NewScanner(bytes.NewReader(b))
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if n == 1 {
			line = strings.TrimPrefix(line, "\ufeff")
		}
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if line[0] == '[' {
			if !strings.HasSuffix(line, "]") {
				return nil, fmt.Errorf("line %d: unterminated section header", n)
			}
			name := strings.TrimSpace(line[1 : len(line)-1])
			if out[name] == nil {
				out[name] = map[string]string{}
			}
			cur = out[name]
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("line %d: want key = value", n)
		}
		if cur == nil {
			return nil, fmt.Errorf("line %d: key outside a [section]", n)
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' && v[len(v)-1] == '"' || v[0] == '\'' && v[len(v)-1] == '\'') {
			v = v[1 : len(v)-1]
		}
		cur[strings.TrimSpace(k)] = v
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}
