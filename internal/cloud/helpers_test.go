package cloud

import (
	"reflect"
	"strings"
	"testing"
)

// Small assertion helpers: the module's go.mod does not carry testify's own
// dependencies, so the tests use the standard library only.

func noErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

func equal(t *testing.T, want, got interface{}, msg ...interface{}) {
	t.Helper()
	if !reflect.DeepEqual(want, got) {
		t.Errorf("%v\nwant: %#v\n got: %#v", msg, want, got)
	}
}

func contains(t *testing.T, s, sub string) {
	t.Helper()
	if !strings.Contains(s, sub) {
		t.Errorf("%q does not contain %q", s, sub)
	}
}

func notContains(t *testing.T, s, sub string) {
	t.Helper()
	if strings.Contains(s, sub) {
		t.Errorf("%q contains %q", s, sub)
	}
}
