package groupspec

import (
	"errors"
	"testing"

	"infrakit.aliyun/internal/testutil"
)

var (
	noErr       = testutil.NoErr
	equal       = testutil.Equal
	contains    = testutil.Contains
	notContains = testutil.NotContains
)

func isErr(t testing.TB, err error) {
	t.Helper()
	if err == nil {
		t.Fatalf("want an error, got nil")
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
