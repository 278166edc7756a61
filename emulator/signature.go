package emulator

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// percentEncode is RFC 3986 encoding as the RPC signature wants it: every
// byte except A-Z a-z 0-9 - _ . ~ becomes %XX (so space is %20, '*' is %2A).
func percentEncode(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// StringToSign builds METHOD&%2F&enc(canonical query) from every parameter
// except Signature, sorted by name.
func StringToSign(method string, p map[string]string) string {
	keys := make([]string, 0, len(p))
	for k := range p {
		if k != "Signature" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var q strings.Builder
	for i, k := range keys {
		if i > 0 {
			q.WriteByte('&')
		}
		q.WriteString(percentEncode(k))
		q.WriteByte('=')
		q.WriteString(percentEncode(p[k]))
	}
	return strings.ToUpper(method) + "&" + percentEncode("/") + "&" + percentEncode(q.String())
}

// Sign returns the RPC signature (HMAC-SHA1 keyed with secret+"&", base64)
// for the parameters. It is exported so scripts and tests can build signed
// requests without an SDK.
func Sign(method string, p map[string]string, accessKeySecret string) string {
	mac := hmac.New(sha1.New, []byte(accessKeySecret+"&"))
	mac.Write([]byte(StringToSign(method, p)))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// timestampWindow is how far a request Timestamp may be from the server's
// clock before InvalidTimeStamp.Expired (both directions, as real ECS does).
const timestampWindow = 15 * time.Minute

// BUG(emulator): used SignatureNonces are not kept in the state file (that
// would turn every read into a write), so a request captured before a
// restart can be replayed once after it, within its 15-minute timestamp
// window. Real ECS has no restarts.

// maxNonces bounds the nonce cache. A nonce is kept while its request's
// Timestamp is inside the window (after that the request is rejected by its
// timestamp anyway); the cap protects memory against a flood inside one
// window by forgetting the oldest first.
const maxNonces = 1 << 20

// nonceCache remembers SignatureNonce values until the requests that used
// them expire. Entries are queued in arrival order so expiry is a cheap pop
// from the front (an entry behind a later-expiring one waits for it: at most
// one more window).
type nonceCache struct {
	mu    sync.Mutex
	seen  map[string]time.Time // nonce -> expiry
	queue []nonceEntry
	head  int
}

type nonceEntry struct {
	nonce   string
	expires time.Time
}

// use records nonce, used at now by a request whose Timestamp is ts, and
// reports whether it was fresh. The nonce is remembered until ts leaves the
// window, not merely a window after now: a request stamped up to 15 minutes
// ahead is still valid that much longer and must not be replayable.
func (c *nonceCache) use(nonce string, now, ts time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen == nil {
		c.seen = map[string]time.Time{}
	}
	for c.head < len(c.queue) {
		e := c.queue[c.head]
		if !now.After(e.expires) && len(c.seen) < maxNonces {
			break
		}
		if t, ok := c.seen[e.nonce]; ok && t.Equal(e.expires) {
			delete(c.seen, e.nonce)
		}
		c.queue[c.head] = nonceEntry{}
		c.head++
	}
	if c.head > 1024 && c.head*2 > len(c.queue) {
		c.queue = append(c.queue[:0:0], c.queue[c.head:]...)
		c.head = 0
	}
	// Kept through exp inclusive: checkTimestamp still accepts a request
	// at exactly Timestamp+window.
	if exp, ok := c.seen[nonce]; ok && !now.After(exp) {
		return false
	}
	exp := now.Add(timestampWindow)
	if e := ts.Add(timestampWindow); e.After(exp) {
		exp = e
	}
	c.seen[nonce] = exp
	c.queue = append(c.queue, nonceEntry{nonce, exp})
	return true
}

func (c *nonceCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}

// authenticate checks the common parameters of an ECS API request in the
// order real ECS does: presence, version, key, token, timestamp, signature,
// and only for a correctly signed request the nonce (so garbage requests
// cannot fill the nonce cache).
func (s *Server) authenticate(method string, p params) *apiError {
	return s.authenticateVersion(method, p, APIVersion)
}

// authenticateVersion is authenticate for the API version of the product
// being called (ECS, or STS for AssumeRole).
func (s *Server) authenticateVersion(method string, p params, version string) *apiError {
	for _, k := range []string{"AccessKeyId", "Signature", "SignatureNonce", "Timestamp"} {
		if p[k] == "" {
			return errMissing(k)
		}
	}
	if v := p["Version"]; v != version {
		if v == "" {
			return errMissing("Version")
		}
		return newErr(http.StatusBadRequest, "InvalidVersion", "Specified parameter Version is not valid.")
	}
	if m := p["SignatureMethod"]; m != "" && m != "HMAC-SHA1" {
		return newErr(http.StatusBadRequest, "InvalidParameter", "The specified SignatureMethod %q is not supported.", m)
	}
	if aerr := checkFormat(p["Format"]); aerr != nil {
		return aerr
	}
	now := s.realNow()
	secret, aerr := s.secretFor(p["AccessKeyId"], p["SecurityToken"])
	if aerr != nil {
		return aerr
	}
	ts, aerr := checkTimestamp(p["Timestamp"], now, "Timestamp")
	if aerr != nil {
		return aerr
	}
	want := Sign(method, p, secret)
	if subtle.ConstantTimeCompare([]byte(want), []byte(p["Signature"])) != 1 {
		return newErr(http.StatusBadRequest, "SignatureDoesNotMatch",
			"Specified signature is not matched with our calculation. server string to sign is:%s", StringToSign(method, p))
	}
	if !s.nonces.use(p["SignatureNonce"], now, ts) {
		return newErr(http.StatusBadRequest, "SignatureNonceUsed", "Specified signature nonce was used already.")
	}
	return nil
}

// secretFor looks up the signing secret of an AccessKeyId: a permanent key,
// or a temporary one that must come with its SecurityToken.
func (s *Server) secretFor(key, token string) (string, *apiError) {
	secret, plain := s.opts.AccessKeys[key]
	sts, isSTS := s.opts.STSKeys[key]
	if !isSTS {
		sts, isSTS = s.issued.Get(key) // minted by AssumeRole or the metadata fake
	}
	switch {
	case isSTS:
		if token == "" || subtle.ConstantTimeCompare([]byte(token), []byte(sts.SecurityToken)) != 1 {
			return "", newErr(http.StatusBadRequest, "InvalidSecurityToken.MismatchWithAccessKey",
				"The SecurityToken does not match the AccessKeyId.")
		}
		if !sts.Expiration.IsZero() && s.stsNow().After(sts.Expiration) {
			return "", newErr(http.StatusBadRequest, "InvalidSecurityToken.Expired", "Specified SecurityToken is expired.")
		}
		return sts.AccessKeySecret, nil
	case plain:
		if token != "" {
			return "", newErr(http.StatusBadRequest, "InvalidSecurityToken.MismatchWithAccessKey",
				"A SecurityToken was sent with a permanent AccessKeyId.")
		}
		return secret, nil
	}
	// Real ECS answers an unknown key with 404, not 400.
	return "", newErr(http.StatusNotFound, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
}

// checkTimestamp parses a request time (Timestamp for RPC signatures,
// x-acs-date for ACS3) and checks it is within the window of now.
func checkTimestamp(raw string, now time.Time, name string) (time.Time, *apiError) {
	ts, err := time.Parse("2006-01-02T15:04:05Z", raw)
	if err != nil {
		return time.Time{}, newErr(http.StatusBadRequest, "InvalidTimeStamp.Format",
			"Specified time stamp or date value is not well formatted (%s: want YYYY-MM-DDThh:mm:ssZ).", name)
	}
	if d := now.Sub(ts); d > timestampWindow || d < -timestampWindow {
		return time.Time{}, newErr(http.StatusBadRequest, "InvalidTimeStamp.Expired",
			"Specified time stamp or date value is expired (request %s, server %s).",
			raw, now.UTC().Format("2006-01-02T15:04:05Z"))
	}
	return ts, nil
}
