package daemon

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	stdlog "log"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/Sirupsen/logrus"
	logutil "github.com/docker/infrakit/pkg/log"
	"gopkg.in/inconshreveable/log15.v2"
)

// Log levels follow InfraKit's --log convention: an index into
// logrus.AllLevels, 0 panic, 1 fatal, 2 error, 3 warn, 4 info, 5 debug.
const (
	MinLogLevel     = 0
	MaxLogLevel     = 5
	DefaultLogLevel = 4
)

// Log formats accepted by --log-format.
const (
	LogFormatText = "text"
	LogFormatJSON = "json"
)

// NewLogger returns a logrus logger writing to w at the InfraKit-style level
// (0-5) in the given format. Every line passes through a redaction hook that
// removes the given secret values, URL query strings (signed URLs) and
// credential-like parameters from the message and the fields.
func NewLogger(w io.Writer, level int, format string, secrets []string) (*logrus.Logger, error) {
	if level < MinLogLevel || level > MaxLogLevel {
		return nil, fmt.Errorf("--log %d: must be 0 (panic) to 5 (debug)", level)
	}
	l := logrus.New()
	l.Out = w
	l.Level = logrus.AllLevels[level]
	switch format {
	case LogFormatText, "":
		l.Formatter = &logrus.TextFormatter{FullTimestamp: true, DisableColors: true}
	case LogFormatJSON:
		l.Formatter = &logrus.JSONFormatter{}
	default:
		return nil, fmt.Errorf("--log-format %q: must be text or json", format)
	}
	l.Hooks.Add(newRedactHook(secrets))
	return l, nil
}

func discardLogger() *logrus.Logger {
	l := logrus.New()
	l.Out = io.Discard
	return l
}

// redactHook scrubs each entry before it is formatted. It never mutates the
// entry's Data map in place (entries are shared between goroutines); it
// replaces it with a scrubbed copy.
type redactHook struct{ secrets []string }

func newRedactHook(secrets []string) *redactHook {
	var s []string
	for _, v := range secrets {
		if len(v) >= minSecretLen {
			s = append(s, v)
		}
	}
	// Longest first so a secret that contains another is replaced whole.
	sort.Slice(s, func(i, j int) bool { return len(s[i]) > len(s[j]) })
	return &redactHook{secrets: s}
}

func (h *redactHook) Levels() []logrus.Level { return logrus.AllLevels }

func (h *redactHook) Fire(e *logrus.Entry) error {
	e.Message = redactText(e.Message, h.secrets)
	if len(e.Data) == 0 {
		return nil
	}
	data := make(logrus.Fields, len(e.Data))
	for k, v := range e.Data {
		data[k] = redactValue(k, v, h.secrets)
	}
	e.Data = data
	return nil
}

const (
	redacted     = "REDACTED"
	minSecretLen = 4
)

var (
	// A URL's query string: aliyungo errors embed the whole signed request.
	urlQuery = regexp.MustCompile(`(?i)\b((?:https?|wss?)://[^\s"'<>?#]+)\?[^\s"'<>]*`)
	// name=value / "name":"value" pairs whose value is a credential.
	sensitiveParam = regexp.MustCompile(`(?i)\b(signature|securitytoken|security_token|accesskeysecret|access_key_secret|secretkey|secret_key|password|passwd)(["']?\s*[=:]\s*["']?)([^\s"'&,;}]+)`)
	// Field names whose values are never logged.
	sensitiveKey = regexp.MustCompile(`(?i)(secret|password|passwd|signature|token|credential$|authorization)`)
	// ECS's SignatureDoesNotMatch message quotes the server's string to
	// sign: every request parameter, SecurityToken included, percent-encoded
	// twice, so neither the secret values nor sensitiveParam match it.
	stringToSign = regexp.MustCompile(`(?i)\s*\b(?:server\s+)?string to sign(?:\s+is)?\s*:\s*[^\s"'<>]*`)
)

func redactText(s string, secrets []string) string {
	for _, v := range secrets {
		if len(v) >= minSecretLen && strings.Contains(s, v) {
			s = strings.ReplaceAll(s, v, redacted)
		}
	}
	s = stringToSign.ReplaceAllString(s, "")
	s = urlQuery.ReplaceAllString(s, "${1}?"+redacted)
	return replaceSensitiveParams(s)
}

// validationRule matches the start of the rule in a validation message
// about a password field ("RunInstances.Password: 5 characters, must be 8
// to 30"): those messages never hold the password, and redacting them
// left "REDACTED characters".
var validationRule = regexp.MustCompile(`^(?:\d+ characters, must|must |want |required|contains a character|only allowed|not allowed)`)

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
		b.WriteString(redacted)
		last = valueEnd
	}
	b.WriteString(s[last:])
	return b.String()
}

func redactValue(key string, v interface{}, secrets []string) interface{} {
	switch x := v.(type) {
	case nil, bool, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64,
		float32, float64, time.Duration, time.Time:
		return v
	case string:
		if sensitiveKey.MatchString(key) && x != "" {
			return redacted
		}
		return redactText(x, secrets)
	case error:
		if sensitiveKey.MatchString(key) {
			return redacted
		}
		s := x.Error()
		if r := redactText(s, secrets); r != s {
			return r
		}
		return v
	}
	if sensitiveKey.MatchString(key) {
		return redacted
	}
	s := fmt.Sprintf("%+v", v)
	r := redactText(s, secrets)
	if r != s {
		return r
	}
	// The JSON formatter marshals values, which can show what %+v did not.
	if b, err := json.Marshal(v); err == nil {
		if js := string(b); redactText(js, secrets) != js {
			return r
		}
	}
	return v
}

// newStdLogger adapts the logger for net/http's ErrorLog.
func newStdLogger(l *logrus.Logger) *stdlog.Logger {
	return stdlog.New(writerFunc(func(p []byte) (int, error) {
		l.Warn(string(bytes.TrimRight(p, "\n")))
		return len(p), nil
	}), "", 0)
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// RouteInfraKitLogs sends the log lines of InfraKit's own packages (its
// RPC server logs through pkg/log, which is log15) to l, so they honour
// --log and --log-format and pass through the same redaction. log15's root
// logger is process-wide: call this from the command (run), not from
// libraries.
func RouteInfraKitLogs(l *logrus.Logger) {
	logutil.Root().SetHandler(log15.FuncHandler(func(r *log15.Record) error {
		fields := logrus.Fields{"component": "infrakit"}
		for i := 0; i+1 < len(r.Ctx); i += 2 {
			if _, verbose := r.Ctx[i+1].(logutil.V); verbose {
				// A verbose trace: InfraKit's RPC client and server dump
				// whole requests (user data, passwords) in these.
				return nil
			}
			fields[fmt.Sprint(r.Ctx[i])] = r.Ctx[i+1]
		}
		e := l.WithFields(fields)
		switch r.Lvl {
		case log15.LvlCrit, log15.LvlError:
			e.Error(r.Msg)
		case log15.LvlWarn:
			e.Warn(r.Msg)
		case log15.LvlInfo:
			e.Info(r.Msg)
		default:
			e.Debug(r.Msg)
		}
		return nil
	}))
}
