package emulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// maxBody bounds a POST form body; the largest legitimate body is a
// RunInstances with 16 KB of (base64, then percent-encoded) UserData.
const maxBody = 1 << 20

// params holds one request's parameters, query and form merged. RPC-style
// ECS treats names as unique, so the first value of a repeated name wins.
type params map[string]string

// decodeParams merges the query string and, for POST, the urlencoded form
// body (the official SDK puts the common parameters in the query and
// business parameters in the body; both are signed together).
func decodeParams(r *http.Request) (params, *apiError) {
	p := params{}
	add := func(v url.Values) {
		for k, vs := range v {
			if _, ok := p[k]; !ok && len(vs) > 0 {
				p[k] = vs[0]
			}
		}
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, errInvalid("QueryString", "malformed query string")
	}
	add(q)
	if r.Method == http.MethodPost && r.Body != nil {
		b, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBody))
		if err != nil {
			// BUG(emulator): the code and status real ECS gives an oversized
			// body are not documented; the emulator answers 400 naming the limit.
			if errors.As(err, new(*http.MaxBytesError)) {
				return nil, errInvalid("Body", fmt.Sprintf("the request body is larger than %d bytes", maxBody))
			}
			return nil, errInvalid("Body", err.Error())
		}
		if len(b) > 0 {
			f, err := url.ParseQuery(string(b))
			if err != nil {
				return nil, errInvalid("Body", "malformed form body")
			}
			add(f)
		}
	}
	return p, nil
}

func (p params) get(k string) string { return p[k] }

func (p params) has(k string) bool { _, ok := p[k]; return ok }

func (p params) required(k string) (string, *apiError) {
	v := p[k]
	if v == "" {
		return "", errMissing(k)
	}
	return v, nil
}

// intIn parses an optional integer parameter, checking [lo, hi].
func (p params) intIn(k string, def, lo, hi int) (int, *apiError) {
	v, ok := p[k]
	if !ok || v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < lo || n > hi {
		return 0, errInvalid(k, "must be an integer from "+strconv.Itoa(lo)+" to "+strconv.Itoa(hi))
	}
	return n, nil
}

func (p params) boolean(k string, def bool) (bool, *apiError) {
	v, ok := p[k]
	if !ok || v == "" {
		return def, nil
	}
	switch strings.ToLower(v) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, errInvalid(k, "must be true or false")
}

// float parses an optional non-negative number. NaN and ±Inf are refused
// (strconv accepts "NaN", "Inf", "infinity"): ECS has no such prices, and
// one NaN stored in an instance would make every answer holding it, and
// every state save, fail to encode.
//
// BUG(emulator): the exact code real ECS gives a non-numeric or non-finite
// SpotPriceLimit is not documented; the emulator answers InvalidParameter.
func (p params) float(k string) (float64, *apiError) {
	v := p[k]
	if v == "" {
		return 0, nil
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		return 0, errInvalid(k, "must be a finite, non-negative number")
	}
	return f, nil
}

// indexed is indexedIn without a limit of its own, for lists whose limit
// is checked on the result; N outside 1..10000 or malformed is skipped.
// New code should use indexedIn, which refuses such N.
func (p params) indexed(prefix string) []map[string]string {
	out, _, _ := p.collect(prefix, 10000)
	return out
}

// indexedIn collects "Prefix.N" and "Prefix.N.Field" parameters in
// ascending N. Element fields are keyed by Field ("" for "Prefix.N").
// Real ECS tolerates gaps in N, and so do we; but N must be a plain decimal
// from 1 to max (Tag.1..Tag.20, DataDisk.1..DataDisk.16, ...): an N outside
// the range, or spelled "01" or "+1", is refused with InvalidParameter
// naming the parameter, never silently dropped (a dropped Tag.21 would
// create an untagged instance, or widen a describe filter to everything).
//
// BUG(emulator): the code real ECS answers for an out-of-range N is not
// documented; the emulator answers 400 InvalidParameter.
func (p params) indexedIn(prefix string, max int) ([]map[string]string, *apiError) {
	out, bad, _ := p.collect(prefix, max)
	if bad != "" {
		return nil, errIndex(bad, prefix, max)
	}
	return out, nil
}

func errIndex(key, prefix string, max int) *apiError {
	return errInvalid(key, fmt.Sprintf("N in %s.N must be a whole number from 1 to %d", prefix, max))
}

// collect gathers the elements of prefix with N from 1 to max. It also
// returns the first (in sorted order: map order is random, and the answer
// should name the same parameter every time) parameter whose N is
// malformed or out of range, and whether that N is merely above max.
func (p params) collect(prefix string, max int) (out []map[string]string, bad string, aboveMax bool) {
	byN := map[int]map[string]string{}
	pre := prefix + "."
	var bads []string
	above := map[string]bool{}
	for k, v := range p {
		if !strings.HasPrefix(k, pre) {
			continue
		}
		rest := k[len(pre):]
		num, field, _ := strings.Cut(rest, ".")
		n, err := strconv.Atoi(num)
		if err != nil || n < 1 || n > max || strconv.Itoa(n) != num {
			bads = append(bads, k)
			above[k] = err == nil && n > max && strconv.Itoa(n) == num
			continue
		}
		m := byN[n]
		if m == nil {
			m = map[string]string{}
			byN[n] = m
		}
		m[field] = v
	}
	if len(bads) > 0 {
		sort.Strings(bads)
		bad = bads[0]
	}
	ns := make([]int, 0, len(byN))
	for n := range byN {
		ns = append(ns, n)
	}
	sort.Ints(ns)
	out = make([]map[string]string, 0, len(ns))
	for _, n := range ns {
		out = append(out, byN[n])
	}
	return out, bad, above[bad]
}

// list returns "Prefix.N" values in order of N, skipping empty ones.
func (p params) list(prefix string) []string {
	var out []string
	for _, m := range p.indexed(prefix) {
		if v := m[""]; v != "" {
			out = append(out, v)
		}
	}
	return out
}

// listIn is list with N checked to be 1..max (see indexedIn).
func (p params) listIn(prefix string, max int) ([]string, *apiError) {
	ms, err := p.indexedIn(prefix, max)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, m := range ms {
		if v := m[""]; v != "" {
			out = append(out, v)
		}
	}
	return out, nil
}

// jsonList parses a JSON array of strings such as InstanceIds=["i-1","i-2"].
func (p params) jsonList(k string, max int) ([]string, *apiError) {
	v := strings.TrimSpace(p[k])
	if v == "" {
		return nil, nil
	}
	var out []string
	if err := json.Unmarshal([]byte(v), &out); err != nil {
		return nil, errInvalid(k, "must be a JSON array of strings")
	}
	if len(out) > max {
		return nil, errInvalid(k, "at most "+strconv.Itoa(max)+" items")
	}
	return out, nil
}

// idList accepts the "Prefix.N" form and, as a fallback, a JSON array in
// Prefix itself (some SDK versions send either).
func (p params) idList(prefix string, max int) ([]string, *apiError) {
	ids, err := p.listIn(prefix, max)
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 && strings.HasPrefix(strings.TrimSpace(p[prefix]), "[") {
		return p.jsonList(prefix, max)
	}
	if len(ids) > max {
		return nil, errInvalid(prefix, "at most "+strconv.Itoa(max)+" items")
	}
	return ids, nil
}
