package emulator

import (
	"encoding/json"
	"io"
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

func (p params) float(k string) (float64, *apiError) {
	v := p[k]
	if v == "" {
		return 0, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 {
		return 0, errInvalid(k, "must be a non-negative number")
	}
	return f, nil
}

// indexed collects "Prefix.N" and "Prefix.N.Field" parameters, N >= 1, in
// ascending N. Element fields are keyed by Field ("" for "Prefix.N").
// Real ECS tolerates gaps in N, and so do we.
func (p params) indexed(prefix string) []map[string]string {
	byN := map[int]map[string]string{}
	pre := prefix + "."
	for k, v := range p {
		if !strings.HasPrefix(k, pre) {
			continue
		}
		rest := k[len(pre):]
		num, field, _ := strings.Cut(rest, ".")
		n, err := strconv.Atoi(num)
		if err != nil || n < 1 || n > 10000 {
			continue
		}
		m := byN[n]
		if m == nil {
			m = map[string]string{}
			byN[n] = m
		}
		m[field] = v
	}
	ns := make([]int, 0, len(byN))
	for n := range byN {
		ns = append(ns, n)
	}
	sort.Ints(ns)
	out := make([]map[string]string, 0, len(ns))
	for _, n := range ns {
		out = append(out, byN[n])
	}
	return out
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
	ids := p.list(prefix)
	if len(ids) == 0 && strings.HasPrefix(strings.TrimSpace(p[prefix]), "[") {
		return p.jsonList(prefix, max)
	}
	if len(ids) > max {
		return nil, errInvalid(prefix, "at most "+strconv.Itoa(max)+" items")
	}
	return ids, nil
}
