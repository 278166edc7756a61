package redact

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/Sirupsen/logrus"
)

func equal(t *testing.T, want, got interface{}, msg ...interface{}) {
	t.Helper()
	if !reflect.DeepEqual(want, got) {
		t.Fatalf("%v: want %#v, got %#v", fmt.Sprint(msg...), want, got)
	}
}

func TestText(t *testing.T) {
	for in, want := range map[string]string{
		`Get "https://ecs.aliyuncs.com/?a=1&Signature=x": EOF`: `Get "https://ecs.aliyuncs.com/?REDACTED": EOF`,
		// The ECS adapter's transport errors (aliyungo embeds the signed URL).
		`Get "http://127.0.0.1:1/?AccessKeyId=ak&Signature=abc%3D&SecurityToken=tok": dial tcp: connection refused`: `Get "http://127.0.0.1:1/?REDACTED": dial tcp: connection refused`,
		`SecurityToken=abc&x=1`:                           `SecurityToken=REDACTED&x=1`,
		`{"Password":"hunter22"}`:                         `{"Password":"REDACTED"}`,
		`access_key_secret: abc`:                          `access_key_secret: REDACTED`,
		`security_token_set=true credential_source=flags`: `security_token_set=true credential_source=flags`,
		`the known value s3cr3tvalue here`:                `the known value REDACTED here`,
		// ACS3 and header forms of the token and the signature.
		"x-acs-security-token: CAISt0k3n\nx-acs-date: 2026":                                                        "x-acs-security-token: REDACTED\nx-acs-date: 2026",
		`map[X-Acs-Security-Token:[CAISt0k3n]]`:                                                                    `map[X-Acs-Security-Token:REDACTED`,
		"Authorization: ACS3-HMAC-SHA256 Credential=LTAIkey,SignedHeaders=host;x-acs-date,Signature=abcd\nHost: x": "Authorization: REDACTED\nHost: x",
		`"Authorization":"acs LTAIkey:c2lnbmF0dXJl"`:                                                               `"Authorization":"REDACTED"`,
		`authorization failed for this user`:                                                                       `authorization failed for this user`,
		// ECS quotes its string to sign, token percent-encoded twice.
		`Specified signature is not matched with our calculation. server string to sign is:GET&%2F&AccessKeyId%3DLTAIx%26SecurityToken%3DCAIS%252Bt0k%253D`: `Specified signature is not matched with our calculation.`,
	} {
		equal(t, want, Text(in, "s3cr3tvalue"), in)
	}
}

// Validation messages about a password field hold no password: the word
// "password" followed by the rule must come out whole.
func TestTextKeepsValidationMessages(t *testing.T) {
	for _, msg := range []string{
		"RunInstances.Password: 5 characters, must be 8 to 30",
		"RunInstances.Password: must contain three of: upper case, lower case, digits, special characters",
		"RunInstances.Password: want a string",
	} {
		equal(t, msg, Text(msg))
	}
	equal(t, "password=REDACTED&x=1", Text("password=hunter22&x=1"))
	equal(t, `{"Password":"REDACTED"}`, Text(`{"Password":"Sup3r-Secret!"}`))
}

func TestSecretsDropsShortValuesLongestFirst(t *testing.T) {
	equal(t, []string{"abcdef"}, NewHook("", "ab", "abcdef").SecretValues())
	equal(t, []string{"abcdefgh", "abcd"}, Secrets("abcd", "abcdefgh"))
	// A secret containing another is replaced whole, not in pieces.
	equal(t, "x REDACTED y", Text("x abcdefgh y", Secrets("abcd", "abcdefgh")...))
}

func TestURL(t *testing.T) {
	equal(t, "https://ecs.cn-hangzhou.aliyuncs.com/?REDACTED",
		URL("https://ecs.cn-hangzhou.aliyuncs.com/?AccessKeyId=x&Signature=y&SecurityToken=z"))
	equal(t, "https://REDACTED@example.com", URL("https://u:p@example.com"))
	equal(t, "http://100.100.100.200/latest", URL("http://100.100.100.200/latest#frag"))
	if strings.Contains(URL("http://a b\x7f"), "a b") {
		t.Fatal("unparseable URL kept")
	}
}

func TestErrorDoesNotUnwrapWrapDoes(t *testing.T) {
	base := fmt.Errorf("open Signature=abc failed: %w", fs.ErrNotExist)
	e := Error(base)
	equal(t, "open Signature=REDACTED failed: file does not exist", e.Error())
	if errors.Is(e, fs.ErrNotExist) {
		t.Fatal("Error must not unwrap to the original")
	}
	w := Wrap(base)
	equal(t, e.Error(), w.Error())
	if !errors.Is(w, fs.ErrNotExist) {
		t.Fatal("Wrap must unwrap to the original")
	}
	clean := errors.New("clean")
	equal(t, clean, Error(clean))
	equal(t, clean, Wrap(clean))
	equal(t, nil, Error(nil))
	equal(t, nil, Wrap(nil))
}

func TestHookScrubsMessageAndFieldsWithoutMutatingThem(t *testing.T) {
	var buf bytes.Buffer
	l := logrus.New()
	l.Out = &buf
	l.Formatter = &logrus.JSONFormatter{}
	l.Hooks.Add(NewHook("very-secret-value"))
	fields := logrus.Fields{"password": "p4ss", "token": "t0k", "n": 3, "d": time.Second,
		"url": "https://x/?Signature=s", "err": errors.New("has very-secret-value"), "plain": "ok"}
	l.WithFields(fields).Info("message with very-secret-value")
	out := buf.String()
	for _, bad := range []string{"very-secret-value", "p4ss", "t0k", "Signature=s"} {
		if strings.Contains(out, bad) {
			t.Fatalf("%q logged: %s", bad, out)
		}
	}
	for _, good := range []string{`"n":3`, `"plain":"ok"`, `"msg":"message with REDACTED"`} {
		if !strings.Contains(out, good) {
			t.Fatalf("%q missing: %s", good, out)
		}
	}
	equal(t, "p4ss", fields["password"]) // the caller's map is untouched
}
