package daemon

import (
	"fmt"
	"io"

	"github.com/Sirupsen/logrus"
	logutil "github.com/docker/infrakit/pkg/log"
	"gopkg.in/inconshreveable/log15.v2"

	"infrakit.aliyun/internal/redact"
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
// (0-5) in the given format. Every line passes through redact's hook, which
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
	l.Hooks.Add(redact.NewHook(secrets...))
	return l, nil
}

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
