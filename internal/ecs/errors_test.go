package ecs

import (
	"context"
	"testing"

	"infrakit.aliyun/internal/testutil"
)

var equal = testutil.Equal

func TestTemporaryClassification(t *testing.T) {
	tests := map[string]bool{
		"Throttling": true, "Throttling.User": true, "Throttling.Api": true, "ServiceUnavailable": true, "InternalError": true,
		CodeClientFailure: true, CodeCallTimeout: true, "LastTokenProcessing": true,
		"InvalidParameter": false, "MissingParameter": false, "OperationDenied.NoStock": false, "InvalidImageId.NotFound": false,
		"IdempotentParameterMismatch": false, "QuotaExceed.Instance": false, "SignatureDoesNotMatch": false,
	}
	for code, want := range tests {
		equal(t, want, Temporary(&APIError{Code: code, StatusCode: 400}), code)
	}
	equal(t, true, Temporary(&APIError{Code: "Whatever", StatusCode: 502}))
	equal(t, false, Temporary(context.Canceled))
	equal(t, "Throttling: m", (&APIError{Code: "Throttling", Message: "m"}).Error())
}

func TestRedact(t *testing.T) {
	in := `Get "http://127.0.0.1:1/?AccessKeyId=ak&Signature=abc%3D&SecurityToken=tok": dial tcp: connection refused`
	out := Scrub(in)
	equal(t, `Get "http://127.0.0.1:1/?REDACTED": dial tcp: connection refused`, out)
}
