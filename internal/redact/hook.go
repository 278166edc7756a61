package redact

import "github.com/Sirupsen/logrus"

// Hook is a logrus hook scrubbing each entry (message and fields) before it
// is formatted. It never mutates the entry's Data map in place (entries are
// shared between goroutines); it replaces it with a scrubbed copy.
type Hook struct{ secrets []string }

// NewHook returns a hook removing the given secret values (see Secrets)
// besides what Text always removes.
func NewHook(secrets ...string) *Hook { return &Hook{secrets: Secrets(secrets...)} }

// Levels implements logrus.Hook: every level.
func (h *Hook) Levels() []logrus.Level { return logrus.AllLevels }

// Fire implements logrus.Hook.
func (h *Hook) Fire(e *logrus.Entry) error {
	e.Message = Text(e.Message, h.secrets...)
	if len(e.Data) == 0 {
		return nil
	}
	data := make(logrus.Fields, len(e.Data))
	for k, v := range e.Data {
		data[k] = Value(k, v, h.secrets)
	}
	e.Data = data
	return nil
}

// SecretValues returns the values the hook replaces, longest first.
func (h *Hook) SecretValues() []string { return append([]string(nil), h.secrets...) }
