package emulator

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
)

// ACS3 is the signature the current official SDKs (the Go, Node and Python
// "ecs20140526" families) use by default: POST / with the action, version,
// date, nonce and body hash in x-acs-* headers and
//
//	Authorization: ACS3-HMAC-SHA256 Credential=<AccessKeyId>,SignedHeaders=<h1;h2;...>,Signature=<hex>
//
// CanonicalRequest = METHOD \n URI \n CanonicalQuery \n CanonicalHeaders \n
// SignedHeaders \n hex(SHA256(body)); StringToSign = "ACS3-HMAC-SHA256" \n
// hex(SHA256(CanonicalRequest)); Signature = hex(HMAC-SHA256(secret,
// StringToSign)). Unlike the RPC signature the key is the bare secret.
const acs3Algorithm = "ACS3-HMAC-SHA256"

// isACS3 reports whether a request is signed the ACS3 way.
func isACS3(r *http.Request) bool {
	return strings.HasPrefix(r.Header.Get("Authorization"), "ACS3-")
}

// readACS3Body reads the body once for hashing and puts it back for the
// form decoder.
func readACS3Body(r *http.Request) ([]byte, *apiError) {
	if r.Body == nil {
		return nil, nil
	}
	b, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBody))
	if err != nil {
		return nil, errInvalid("Body", err.Error())
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	return b, nil
}

// acs3Auth is a parsed ACS3 Authorization header.
type acs3Auth struct {
	algorithm     string
	credential    string
	signedHeaders []string
	signature     string
}

func errIncompleteSignature(why string) *apiError {
	return newErr(http.StatusBadRequest, "IncompleteSignature",
		"The request signature does not conform to Aliyun standards: %s.", why)
}

func parseACS3Auth(h string) (acs3Auth, *apiError) {
	var a acs3Auth
	alg, rest, ok := strings.Cut(h, " ")
	if !ok {
		return a, errIncompleteSignature("Authorization must be \"ACS3-HMAC-SHA256 Credential=...,SignedHeaders=...,Signature=...\"")
	}
	a.algorithm = alg
	if alg != acs3Algorithm {
		// BUG(emulator): ACS3-HMAC-SM3 and ACS3-RSA-SHA256 are not verified; only ACS3-HMAC-SHA256 is.
		return a, errIncompleteSignature("signature algorithm " + alg + " is not supported, use ACS3-HMAC-SHA256")
	}
	for _, part := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "Credential":
			a.credential = v
		case "SignedHeaders":
			a.signedHeaders = strings.Split(v, ";")
		case "Signature":
			a.signature = v
		}
	}
	switch {
	case a.credential == "":
		return a, errIncompleteSignature("Authorization has no Credential")
	case len(a.signedHeaders) == 0 || a.signedHeaders[0] == "":
		return a, errIncompleteSignature("Authorization has no SignedHeaders")
	case a.signature == "":
		return a, errIncompleteSignature("Authorization has no Signature")
	}
	return a, nil
}

// acs3Headers are the headers every ACS3 request must carry (and sign).
var acs3Headers = []string{"x-acs-action", "x-acs-version", "x-acs-date", "x-acs-signature-nonce", "x-acs-content-sha256"}

// authenticateACS3 checks an ACS3-signed request in the order the RPC path
// does: presence, version, key, token, date, signature, and only for a
// correctly signed request the nonce. On success it fills p with Action,
// Version, AccessKeyId and SecurityToken so the actions see one shape.
func (s *Server) authenticateACS3(r *http.Request, body []byte, p params) *apiError {
	a, aerr := parseACS3Auth(r.Header.Get("Authorization"))
	if aerr != nil {
		return aerr
	}
	for _, h := range acs3Headers {
		if r.Header.Get(h) == "" {
			return errMissing(h)
		}
	}
	if v := r.Header.Get("x-acs-version"); v != APIVersion {
		// BUG(emulator): STS AssumeRole is served with the RPC signature only.
		return newErr(http.StatusBadRequest, "InvalidVersion", "Specified parameter Version is not valid.")
	}
	// Every x-acs-* header sent, and host, must be signed: otherwise the
	// action or nonce of a captured request could be swapped.
	signed := map[string]bool{}
	for i, h := range a.signedHeaders {
		if h != strings.ToLower(h) || (i > 0 && a.signedHeaders[i-1] >= h) {
			return errIncompleteSignature("SignedHeaders must be lowercase, sorted and unique")
		}
		signed[h] = true
	}
	if !signed["host"] {
		return errIncompleteSignature("host is not in SignedHeaders")
	}
	for name := range r.Header {
		if l := strings.ToLower(name); strings.HasPrefix(l, "x-acs-") && !signed[l] {
			return errIncompleteSignature(l + " is not in SignedHeaders")
		}
	}
	token := r.Header.Get("x-acs-security-token")
	p["Action"], p["Version"], p["AccessKeyId"] = r.Header.Get("x-acs-action"), APIVersion, a.credential
	if token != "" {
		p["SecurityToken"] = token
	} else {
		delete(p, "SecurityToken")
	}
	if aerr := checkFormat(p["Format"]); aerr != nil {
		return aerr
	}
	now := s.realNow()
	secret, aerr := s.secretFor(a.credential, token)
	if aerr != nil {
		return aerr
	}
	ts, aerr := checkTimestamp(r.Header.Get("x-acs-date"), now, "x-acs-date")
	if aerr != nil {
		return aerr
	}
	sum := sha256.Sum256(body)
	if hex.EncodeToString(sum[:]) != strings.ToLower(r.Header.Get("x-acs-content-sha256")) {
		return newErr(http.StatusBadRequest, "SignatureDoesNotMatch",
			"Specified signature is not matched with our calculation: x-acs-content-sha256 is not the SHA-256 of the body.")
	}
	sts := ACS3StringToSign(r, a.signedHeaders, sum[:])
	if subtle.ConstantTimeCompare([]byte(SignACS3(sts, secret)), []byte(strings.ToLower(a.signature))) != 1 {
		return newErr(http.StatusBadRequest, "SignatureDoesNotMatch",
			"Specified signature is not matched with our calculation. server string to sign is:%s", sts)
	}
	if !s.nonces.use(r.Header.Get("x-acs-signature-nonce"), now, ts) {
		return newErr(http.StatusBadRequest, "SignatureNonceUsed", "Specified signature nonce was used already.")
	}
	return nil
}

// ACS3CanonicalRequest builds the canonical request of r for the given
// signed headers (lowercase, sorted) and body hash. Query names and values
// are percent-encoded as the RPC signature does (space %20, '*' %2A).
func ACS3CanonicalRequest(r *http.Request, signedHeaders []string, bodySHA256 []byte) string {
	uri := r.URL.EscapedPath()
	if uri == "" {
		uri = "/"
	}
	q, _ := url.ParseQuery(r.URL.RawQuery)
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var cq strings.Builder
	for i, k := range keys {
		if i > 0 {
			cq.WriteByte('&')
		}
		cq.WriteString(percentEncode(k))
		cq.WriteByte('=')
		cq.WriteString(percentEncode(q[k][0]))
	}
	var ch strings.Builder
	for _, h := range signedHeaders {
		var vals []string
		if h == "host" {
			vals = []string{r.Host}
		} else {
			for _, v := range r.Header.Values(h) {
				vals = append(vals, strings.TrimSpace(v))
			}
			slices.Sort(vals)
		}
		ch.WriteString(h)
		ch.WriteByte(':')
		ch.WriteString(strings.Join(vals, ","))
		ch.WriteByte('\n')
	}
	return strings.ToUpper(r.Method) + "\n" + uri + "\n" + cq.String() + "\n" + ch.String() + "\n" +
		strings.Join(signedHeaders, ";") + "\n" + hex.EncodeToString(bodySHA256)
}

// ACS3StringToSign is "ACS3-HMAC-SHA256\n" + hex(SHA256(canonical request)).
func ACS3StringToSign(r *http.Request, signedHeaders []string, bodySHA256 []byte) string {
	h := sha256.Sum256([]byte(ACS3CanonicalRequest(r, signedHeaders, bodySHA256)))
	return acs3Algorithm + "\n" + hex.EncodeToString(h[:])
}

// SignACS3 is hex(HMAC-SHA256(secret, stringToSign)); exported so scripts
// and tests can sign requests without an SDK.
func SignACS3(stringToSign, secret string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(stringToSign))
	return hex.EncodeToString(mac.Sum(nil))
}
