// Package redact is the one place secrets are scrubbed from text before it
// leaves the process: daemon logs, errors sent back over JSON-RPC, errors
// of the cloud configuration and of the ECS adapter. It removes registered
// secret values, URL query strings (signed requests carry Signature,
// AccessKeyId and SecurityToken there) and user information, credential
// parameters (Signature=, SecurityToken=, "Password":...), and the string
// to sign ECS quotes in SignatureDoesNotMatch; validation messages about a
// password field are left whole.
package redact

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Marker replaces whatever is removed.
const Marker = "REDACTED"

// MinSecretLen is the shortest registered value replaced: shorter ones
// ("", "ab") are not real secrets and would mangle every message.
const MinSecretLen = 4

var (
	// A URL's query string: aliyungo errors embed the whole signed request.
	urlQuery = regexp.MustCompile(`(?i)\b((?:https?|wss?)://[^\s"'<>?#]+)\?[^\s"'<>]*`)
	// name=value / "name":"value" pairs whose value is a credential.
	sensitiveParam = regexp.MustCompile(`(?i)\b(signature|security[-_]?token|accesskeysecret|access_key_secret|secretkey|secret_key|password|passwd)(["']?\s*[=:]\s*["']?)([^\s"'&,;}]+)`)
	// An Authorization header's value (ACS3's carries the key ID and the
	// signature; the older "acs ID:signature" form too), up to the line's
	// end: it holds spaces, so sensitiveParam's value would stop early.
	authorizationHeader = regexp.MustCompile(`(?i)\b(authorization)(["']?\s*[=:]\s*["']?)([^\r\n"']+)`)
	// Field names whose values are never logged.
	sensitiveKey = regexp.MustCompile(`(?i)(secret|password|passwd|signature|token|credential$|authorization)`)
	// ECS's SignatureDoesNotMatch message quotes the server's string to
	// sign: every request parameter, SecurityToken included, percent-encoded
	// twice, so neither the secret values nor sensitiveParam match it.
	stringToSign = regexp.MustCompile(`(?i)\s*\b(?:server\s+)?string to sign(?:\s+is)?\s*:\s*[^\s"'<>]*`)
	// validationRule matches the start of the rule in a validation message
	// about a password field ("RunInstances.Password: 5 characters, must be
	// 8 to 30"): those messages never hold the password, and redacting them
	// left "REDACTED characters".
	validationRule = regexp.MustCompile(`^(?:\d+ characters, must|must |want |required|contains a character|only allowed|not allowed)`)
)

// Secrets returns the values worth replacing: at least MinSecretLen long,
// longest first so a secret that contains another is replaced whole.
func Secrets(values ...string) []string {
	var s []string
	for _, v := range values {
		if len(v) >= MinSecretLen {
			s = append(s, v)
		}
	}
	sort.SliceStable(s, func(i, j int) bool { return len(s[i]) > len(s[j]) })
	return s
}

// Text returns s without the given secret values, URL query strings,
// credential parameters and ECS's quoted string to sign.
func Text(s string, secrets ...string) string {
	for _, v := range secrets {
		if len(v) >= MinSecretLen && strings.Contains(s, v) {
			s = strings.ReplaceAll(s, v, Marker)
		}
	}
	s = stringToSign.ReplaceAllString(s, "")
	s = urlQuery.ReplaceAllString(s, "${1}?"+Marker)
	s = authorizationHeader.ReplaceAllString(s, "${1}${2}"+Marker)
	return replaceSensitiveParams(s)
}

func replaceSensitiveParams(s string) string {
	locs := sensitiveParam.FindAllStringSubmatchIndex(s, -1)
	if len(locs) == 0 {
		return s
	}
	var b strings.Builder
	last := 0
	for _, m := range locs {
		valueStart, valueEnd := m[6], m[7]
		if validationRule.MatchString(s[valueStart:]) {
			continue
		}
		b.WriteString(s[last:valueStart])
		b.WriteString(Marker)
		last = valueEnd
	}
	b.WriteString(s[last:])
	return b.String()
}

// URL returns the URL s with any user information and query string
// replaced by Marker and no fragment, so it is safe to log. Unparseable
// input is replaced entirely.
func URL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "<unparseable URL>"
	}
	if u.User != nil {
		u.User = url.User(Marker)
	}
	if u.RawQuery != "" {
		u.RawQuery = Marker
	}
	u.Fragment = ""
	return u.String()
}

// SensitiveKey reports whether a log field of that name holds a secret
// whatever its value (a token, a password, a signature).
func SensitiveKey(key string) bool { return sensitiveKey.MatchString(key) }

// Value returns a log field's value scrubbed: Marker for a sensitive key,
// else the value's text through Text when that removes anything, else v
// unchanged (numbers, times and clean values keep their type).
func Value(key string, v interface{}, secrets []string) interface{} {
	switch x := v.(type) {
	case nil, bool, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64,
		float32, float64, time.Duration, time.Time:
		return v
	case string:
		if SensitiveKey(key) && x != "" {
			return Marker
		}
		return Text(x, secrets...)
	case error:
		if SensitiveKey(key) {
			return Marker
		}
		s := x.Error()
		if r := Text(s, secrets...); r != s {
			return r
		}
		return v
	}
	if SensitiveKey(key) {
		return Marker
	}
	s := fmt.Sprintf("%+v", v)
	r := Text(s, secrets...)
	if r != s {
		return r
	}
	// The JSON formatter marshals values, which can show what %+v did not.
	if b, err := json.Marshal(v); err == nil {
		if js := string(b); Text(js, secrets...) != js {
			return r
		}
	}
	return v
}

// Error returns err with a scrubbed message, or err itself when nothing
// needed removing. The result deliberately does not unwrap: it crosses a
// trust boundary (an RPC answer), where the original must not be reachable.
func Error(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if clean := Text(msg, secrets...); clean != msg {
		return &scrubbedError{msg: clean}
	}
	return err
}

type scrubbedError struct{ msg string }

func (e *scrubbedError) Error() string { return e.msg }

// Wrap is Error for errors that stay in the process (printed by the
// command): the scrubbed message, but errors.Is and errors.As still see
// the original.
func Wrap(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if clean := Text(msg, secrets...); clean != msg {
		return &wrappedError{msg: clean, err: err}
	}
	return err
}

type wrappedError struct {
	msg string
	err error
}

func (e *wrappedError) Error() string { return e.msg }
func (e *wrappedError) Unwrap() error { return e.err }
