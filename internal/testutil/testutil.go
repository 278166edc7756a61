// Package testutil holds the few test helpers several packages share: the
// standard-library assertions the tests use instead of testify (whose own
// dependencies are not in go.mod), and a goroutine-safe output buffer.
package testutil

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// NoErr fails the test at once if err is not nil.
func NoErr(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

// Equal reports an error unless want and got are reflect.DeepEqual; msg
// says what was compared.
func Equal(t testing.TB, want, got interface{}, msg ...interface{}) {
	t.Helper()
	if !reflect.DeepEqual(want, got) {
		t.Errorf("%v\nwant: %#v\n got: %#v", msg, want, got)
	}
}

// Contains reports an error unless s contains sub.
func Contains(t testing.TB, s, sub string) {
	t.Helper()
	if !strings.Contains(s, sub) {
		t.Errorf("%q does not contain %q", s, sub)
	}
}

// NotContains reports an error if s contains sub.
func NotContains(t testing.TB, s, sub string) {
	t.Helper()
	if strings.Contains(s, sub) {
		t.Errorf("%q contains %q", s, sub)
	}
}

// IsErr fails the test at once if err is nil.
func IsErr(t testing.TB, err error) {
	t.Helper()
	if err == nil {
		t.Fatalf("want an error, got nil")
	}
}

// ErrorAs fails the test at once unless err wraps a T, and returns it.
func ErrorAs[T error](t testing.TB, err error) T {
	t.Helper()
	var target T
	if !errors.As(err, &target) {
		t.Fatalf("error %v (%T) is not a %T", err, err, target)
	}
	return target
}

// SyncBuffer is a bytes.Buffer that a process or logger may write to while
// the test reads it.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
