package ecs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"

	"github.com/denverdino/aliyungo/common"

	scrub "infrakit.aliyun/internal/redact"
)

// Error codes the product treats specially.
const (
	// CodeClientFailure is aliyungo's code for a call that got no usable
	// response: connection refused or reset, timeout, unreadable body.
	CodeClientFailure = "AliyunGoClientFailure"
	// CodeCallTimeout is this product's code for a call abandoned after
	// the call timeout with no response.
	CodeCallTimeout = "CallTimeout"
	// CodeInstanceNotFound is returned for a released or unknown instance.
	CodeInstanceNotFound = "InvalidInstanceId.NotFound"
	// CodeIncorrectInstanceStatus is returned for a call in the wrong state.
	CodeIncorrectInstanceStatus = "IncorrectInstanceStatus"
	// CodeNoCredentials is this product's code for a call not sent because
	// the client source had no usable credentials (e.g. expired and not
	// renewable).
	CodeNoCredentials = "CredentialsUnavailable"
)

// APIError is an error answer from ECS, or a call that got no answer, as
// returned by every ECS call the plugin makes. Its message never carries
// request URLs, signatures or security tokens.
type APIError struct {
	Action     string // ECS action, e.g. "RunInstances"
	Code       string // ECS error code, e.g. "OperationDenied.NoStock"
	Message    string
	RequestID  string
	StatusCode int // HTTP status; -1 or 0 when there was no response
}

func (e *APIError) Error() string {
	var b strings.Builder
	if e.Action != "" {
		b.WriteString(strings.ToLower(e.Action[:1]) + e.Action[1:])
		b.WriteString(": ")
	}
	b.WriteString(e.Code)
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.RequestID != "" {
		b.WriteString(" (request id ")
		b.WriteString(e.RequestID)
		b.WriteString(")")
	}
	return b.String()
}

// ErrorCode returns the ECS error code carried by err ("" if none), e.g.
// "Throttling.User", "OperationDenied.NoStock", "InvalidInstanceId.NotFound".
func ErrorCode(err error) string {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Code
	}
	var ce *common.Error
	if errors.As(err, &ce) {
		return ce.Code
	}
	return ""
}

// IsNotFound tells whether err says the resource does not exist.
func IsNotFound(err error) bool {
	c := ErrorCode(err)
	return strings.HasSuffix(c, ".NotFound") || c == "InvalidInstanceId.NotExist"
}

// Classify converts what aliyungo returned for action into an *APIError
// with a scrubbed message. Errors that are not ECS errors (context
// cancellation, client misconfiguration) are returned unchanged.
func Classify(action string, err error) error {
	if err == nil {
		return nil
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return err
	}
	var ce *common.Error
	if errors.As(err, &ce) {
		return &APIError{
			Action:     action,
			Code:       ce.Code,
			Message:    Scrub(ce.Message),
			RequestID:  ce.RequestId,
			StatusCode: ce.StatusCode,
		}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var ne net.Error
	var ue *url.Error
	if errors.As(err, &ne) || errors.As(err, &ue) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return &APIError{Action: action, Code: CodeClientFailure, Message: Scrub(err.Error()), StatusCode: -1}
	}
	return fmt.Errorf("%s: %s", action, Scrub(err.Error()))
}

// MayHaveActed reports whether a failed call may still have been carried
// out by ECS: no response (connection lost, timeout), a repeated signed
// request, or a server error.
// Throttling and parameter errors are refused before anything happens.
func MayHaveActed(err error) bool {
	var ae *APIError
	if !errors.As(err, &ae) {
		return false
	}
	switch {
	case ae.Code == CodeClientFailure, ae.Code == CodeCallTimeout:
		return true
	case ae.Code == "SignatureNonceUsed":
		// The same signed request reached ECS before: net/http re-sends a
		// GET whose connection dropped, so the first send may have acted.
		return true
	case strings.HasPrefix(ae.Code, "Throttling"), ae.Code == CodeNoCredentials:
		return false
	}
	return ae.StatusCode >= 500 || ae.StatusCode < 0
}

// OutcomeUnknownError is a RunInstances that failed after an attempt that
// ECS may have carried out: whether an instance exists is not known. Err
// is the last attempt's error; ErrorCode sees through to it.
type OutcomeUnknownError struct {
	Err         error
	ClientToken string // set by the plugin once it has given up asking
}

func (e *OutcomeUnknownError) Error() string {
	if e.ClientToken == "" {
		return fmt.Sprintf("%v (an earlier attempt got no answer; an instance may exist)", e.Err)
	}
	return fmt.Sprintf("%v (whether an instance was created is unknown: no answer for ClientToken %s; the plugin keeps asking and releases any instance it finds)", e.Err, e.ClientToken)
}

func (e *OutcomeUnknownError) Unwrap() error { return e.Err }

// IsOutcomeUnknown tells whether err is (or wraps) an *OutcomeUnknownError.
func IsOutcomeUnknown(err error) bool {
	var ou *OutcomeUnknownError
	return errors.As(err, &ou)
}

// Temporary reports whether a failed call may succeed when repeated with
// the same parameters: throttling, server-side errors, and calls that got
// no response. Parameter, permission, quota and stock errors are final.
func Temporary(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var ae *APIError
	if !errors.As(err, &ae) {
		var ne net.Error
		return errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
	}
	code := ae.Code
	switch {
	case strings.HasPrefix(code, "Throttling"),
		strings.HasPrefix(code, "ServiceUnavailable"),
		strings.HasPrefix(code, "InternalError"),
		code == "UnknownError",
		code == "LastTokenProcessing",
		code == "OperationConflict",
		code == "SignatureNonceUsed",
		code == "RequestTimeout",
		code == CodeClientFailure,
		code == CodeCallTimeout:
		return true
	case strings.HasPrefix(code, "InvalidParameter"), strings.HasPrefix(code, "MissingParameter"),
		strings.HasPrefix(code, "Invalid"), strings.HasPrefix(code, "QuotaExceed"),
		strings.HasPrefix(code, "OperationDenied"), code == "IdempotentParameterMismatch",
		code == "Forbidden.RAM", strings.HasPrefix(code, "SignatureDoesNotMatch"):
		return false
	}
	return ae.StatusCode >= 500
}

// Scrub removes signed URLs' queries (Signature, AccessKeyId,
// SecurityToken), credential parameters and ECS's quoted string to sign:
// the project's one redactor, internal/redact.
func Scrub(s string) string { return scrub.Text(s) }
