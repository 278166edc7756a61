package instance

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"

	"infrakit.aliyun/internal/testflags"
)

// TestMain restores the go test flags that InfraKit's init swallows.
func TestMain(m *testing.M) { os.Exit(testflags.Main(m)) }

// Small stdlib-only assertions: testify's own dependencies are not in go.mod.

func noErr(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

func isErr(t testing.TB, err error) {
	t.Helper()
	if err == nil {
		t.Fatalf("want an error, got nil")
	}
}

func equal(t testing.TB, want, got interface{}, msg ...interface{}) {
	t.Helper()
	if !reflect.DeepEqual(want, got) {
		t.Errorf("%v\nwant: %#v\n got: %#v", msg, want, got)
	}
}

func contains(t testing.TB, s, sub string) {
	t.Helper()
	if !strings.Contains(s, sub) {
		t.Errorf("%q\ndoes not contain %q", s, sub)
	}
}

func notContains(t testing.TB, s, sub string) {
	t.Helper()
	if strings.Contains(s, sub) {
		t.Errorf("%q\nmust not contain %q", s, sub)
	}
}

func errorAs[T error](t testing.TB, err error) T {
	t.Helper()
	var target T
	if !errors.As(err, &target) {
		t.Fatalf("error %v (%T) is not a %T", err, err, target)
	}
	return target
}
