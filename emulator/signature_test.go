package emulator

import (
	"testing"
	"time"
)

// TestSignatureVector checks the published Alibaba Cloud RPC signature example.
func TestSignatureVector(t *testing.T) {
	p := map[string]string{
		"Action": "DescribeRegions", "Format": "XML", "Version": "2014-05-26", "AccessKeyId": "testid",
		"SignatureMethod": "HMAC-SHA1", "SignatureVersion": "1.0",
		"SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf", "Timestamp": "2016-02-23T12:46:24Z",
	}
	if got, want := Sign("GET", p, "testsecret"), "OLeaidS1JvxuMvnyHOwuJ+uX5qY="; got != want {
		t.Fatalf("Sign = %s, want %s\nstring to sign: %s", got, want, StringToSign("GET", p))
	}
	// Signature itself is never part of the string to sign.
	p["Signature"] = "ignored"
	if got := Sign("GET", p, "testsecret"); got != "OLeaidS1JvxuMvnyHOwuJ+uX5qY=" {
		t.Fatalf("Signature param changed the signature: %s", got)
	}
}

func TestPercentEncode(t *testing.T) {
	for in, want := range map[string]string{
		"a b": "a%20b", "*": "%2A", "~": "~", "/": "%2F", "é": "%C3%A9", "a+b": "a%2Bb", "-_.": "-_.", "=&": "%3D%26",
	} {
		if got := percentEncode(in); got != want {
			t.Errorf("percentEncode(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNonceCacheExpiresAndIsBounded(t *testing.T) {
	var c nonceCache
	t0 := time.Now()
	if !c.use("a", t0, t0) || c.use("a", t0.Add(time.Minute), t0.Add(time.Minute)) {
		t.Fatal("reuse inside the window must be refused")
	}
	if !c.use("a", t0.Add(16*time.Minute), t0.Add(16*time.Minute)) {
		t.Fatal("a nonce older than the window must be forgotten")
	}
	for i := 0; i < 5000; i++ {
		at := t0.Add(time.Duration(i) * time.Second)
		c.use(string(rune('a'+i%26))+time.Duration(i).String(), at, at)
	}
	// Only nonces from the last 15 minutes (900 s) remain.
	if n := c.len(); n > 901 {
		t.Fatalf("cache holds %d nonces, want <= 901", n)
	}
}

// TestNonceOutlivesFutureTimestamp: a request stamped ahead of the server's
// clock stays valid past a window after its arrival, so its nonce must too.
func TestNonceOutlivesFutureTimestamp(t *testing.T) {
	var c nonceCache
	t0 := time.Now()
	ts := t0.Add(10 * time.Minute)
	if !c.use("n", t0, ts) {
		t.Fatal("first use refused")
	}
	// 16 minutes on, the Timestamp is 6 minutes old: still valid, so a
	// replay must be refused.
	if c.use("n", t0.Add(16*time.Minute), ts) {
		t.Fatal("replay accepted after the arrival window while its Timestamp is still valid")
	}
	if !c.use("n", ts.Add(16*time.Minute), ts.Add(16*time.Minute)) {
		t.Fatal("nonce not forgotten once its Timestamp expired")
	}
}
