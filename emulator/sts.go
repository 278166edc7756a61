package emulator

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// STS (Security Token Service) as far as the plugin's credential chain
// needs it: AssumeRole, API version 2015-04-01, on the same listener and
// with the same signature scheme as ECS. A request whose Version is
// STSAPIVersion is routed here; the temporary keys it returns are accepted
// by the ECS API (with their SecurityToken) until they expire on the real
// clock (Options.Now).
//
// Any role ARN of the form acs:ram::<account>:role/<name> can be assumed by
// any valid caller: the emulator has no RAM policies.

// STS constants.
const (
	// STSAPIVersion is the STS API version served.
	STSAPIVersion = "2015-04-01"
	// DefaultAssumeRoleDuration is AssumeRole's DurationSeconds default.
	DefaultAssumeRoleDuration = time.Hour
	// MinAssumeRoleDuration and MaxAssumeRoleDuration bound DurationSeconds.
	MinAssumeRoleDuration = 15 * time.Minute
	MaxAssumeRoleDuration = 12 * time.Hour
)

func (s *Server) stsNow() time.Time {
	if s.opts.STSNow != nil {
		return s.opts.STSNow()
	}
	return s.realNow()
}

func randomText(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// IssueSTSCredential mints a temporary credential valid for ttl from now
// (real clock, second precision) that the ECS API accepts together with its
// SecurityToken. The metadata fake uses it for the instance RAM role; tests
// can use it directly. With a state file the credential is saved before it
// is returned (a failed save is logged: the credential still works until
// the emulator restarts).
func (s *Server) IssueSTSCredential(ttl time.Duration) (accessKeyID string, c STSCredential) {
	accessKeyID, c, err := s.issueSTS(ttl)
	if err != nil {
		s.log.Error("saving an issued STS credential", "access_key_id", accessKeyID, "err", err)
	}
	return accessKeyID, c
}

// issueSTS is IssueSTSCredential reporting a failed save, so AssumeRole
// never hands out a credential the state file does not hold.
func (s *Server) issueSTS(ttl time.Duration) (accessKeyID string, c STSCredential, err error) {
	if ttl <= 0 {
		ttl = DefaultAssumeRoleDuration
	}
	now := s.stsNow().UTC().Truncate(time.Second)
	accessKeyID = "STS.emu" + randomText(8)
	c = STSCredential{
		AccessKeySecret: randomText(16),
		SecurityToken:   "CAIS" + base64.RawURLEncoding.EncodeToString([]byte(randomText(24))),
		Expiration:      now.Add(ttl),
	}
	s.issued.Put(accessKeyID, c, now)
	return accessKeyID, c, s.commit()
}

var (
	roleARN     = regexp.MustCompile(`^acs:ram::[0-9]{1,32}:role/[A-Za-z0-9._-]{1,64}$`)
	sessionName = regexp.MustCompile(`^[A-Za-z0-9._@-]{2,64}$`)
)

type assumeRoleResp struct {
	RequestId       string
	AssumedRoleUser struct{ Arn, AssumedRoleId string }
	Credentials     struct{ AccessKeyId, AccessKeySecret, SecurityToken, Expiration string }
}

// stsParam reads a required STS parameter that must match re.
func stsParam(p params, name string, re *regexp.Regexp) (string, *apiError) {
	v, err := p.required(name)
	if err != nil {
		return "", err
	}
	if !re.MatchString(v) {
		return "", newErr(http.StatusBadRequest, "InvalidParameter."+name, "The parameter %s is wrongly formed.", name)
	}
	return v, nil
}

// serveSTS answers one STS request (already decoded, Version=STSAPIVersion).
func (s *Server) serveSTS(w http.ResponseWriter, method string, p params, reqID string) {
	if aerr := s.authenticateVersion(method, p, STSAPIVersion); aerr != nil {
		s.writeError(w, reqID, aerr)
		return
	}
	if a := p["Action"]; a != "AssumeRole" {
		s.writeError(w, reqID, newErr(http.StatusNotFound, "InvalidAction.NotFound",
			"Specified api %q is not found, the emulator's STS serves AssumeRole only.", a))
		return
	}
	arn, aerr := stsParam(p, "RoleArn", roleARN)
	if aerr != nil {
		s.writeError(w, reqID, aerr)
		return
	}
	session, aerr := stsParam(p, "RoleSessionName", sessionName)
	if aerr != nil {
		s.writeError(w, reqID, aerr)
		return
	}
	ttl := DefaultAssumeRoleDuration
	if d := p["DurationSeconds"]; d != "" {
		n, err := strconv.Atoi(d)
		ttl = time.Duration(n) * time.Second
		if err != nil || ttl < MinAssumeRoleDuration || ttl > MaxAssumeRoleDuration {
			s.writeError(w, reqID, newErr(http.StatusBadRequest, "InvalidParameter.DurationSeconds",
				"The DurationSeconds must be between %d and %d seconds.", int(MinAssumeRoleDuration.Seconds()), int(MaxAssumeRoleDuration.Seconds())))
			return
		}
	}
	id, c, err := s.issueSTS(ttl)
	if err != nil {
		s.writeError(w, reqID, errInternal())
		return
	}
	var resp assumeRoleResp
	resp.RequestId = reqID
	account := strings.TrimPrefix(strings.SplitN(arn, ":role/", 2)[0], "acs:ram::")
	resp.AssumedRoleUser.Arn = arn + "/" + session
	resp.AssumedRoleUser.AssumedRoleId = account + ":" + session
	resp.Credentials.AccessKeyId = id
	resp.Credentials.AccessKeySecret = c.AccessKeySecret
	resp.Credentials.SecurityToken = c.SecurityToken
	resp.Credentials.Expiration = c.Expiration.Format("2006-01-02T15:04:05Z")
	s.writeResult(w, "AssumeRole", resp)
}
