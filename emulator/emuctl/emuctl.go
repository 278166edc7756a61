// Package emuctl is a small client of the ECS emulator's control API
// (/emulator/...), shared by the end-to-end tests and the demo: it reads
// what the emulator holds (instances with their tags and user data, disks,
// images, API call counts, emulated time), kills and reclaims instances
// behind InfraKit's back, moves emulated time and sets faults.
package emuctl

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"time"

	"infrakit.aliyun/emulator"
)

// ListenLine matches the first line ecs-emulator prints on stdout; the first
// submatch is the emulator's base URL.
var ListenLine = regexp.MustCompile(`ecs-emulator listening on (http://[0-9.:\[\]a-z]+)`)

// Client talks to one emulator.
type Client struct {
	URL  string // base URL, e.g. http://127.0.0.1:8086
	HTTP *http.Client
}

// New returns a client for the emulator at url.
func New(url string) *Client {
	return &Client{URL: strings.TrimRight(url, "/"), HTTP: &http.Client{Timeout: 10 * time.Second}}
}

// do calls the control API, with in (when not nil) as the JSON body, and
// decodes the answer into out (when not nil); a status other than 200 is
// an error carrying the emulator's message.
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.URL+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(answer)))
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(answer, out); err != nil {
		return fmt.Errorf("%s %s: decoding %q: %w", method, path, answer, err)
	}
	return nil
}

// Stats returns the API call counts and instances per status.
func (c *Client) Stats(ctx context.Context) (emulator.Stats, error) {
	var s emulator.Stats
	err := c.do(ctx, http.MethodGet, "/emulator/stats", nil, &s)
	return s, err
}

// Calls returns how many times the ECS API actions were called, summed
// (0 on error).
func (c *Client) Calls(ctx context.Context, actions ...string) (int, error) {
	s, err := c.Stats(ctx)
	n := 0
	for _, a := range actions {
		n += s.Calls[a]
	}
	return n, err
}

// Instances returns every instance the emulator knows, released ones included.
func (c *Client) Instances(ctx context.Context) ([]emulator.InstanceView, error) {
	var v []emulator.InstanceView
	err := c.do(ctx, http.MethodGet, "/emulator/instances", nil, &v)
	return v, err
}

// Live returns the instances that are not released and carry all the given
// tags, sorted by ID.
func (c *Client) Live(ctx context.Context, tags map[string]string) ([]emulator.InstanceView, error) {
	all, err := c.Instances(ctx)
	if err != nil {
		return nil, err
	}
	var out []emulator.InstanceView
	for _, in := range all {
		if in.Released || in.Status == emulator.StatusReleased || !HasTags(in.Tags, tags) {
			continue
		}
		out = append(out, in)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].InstanceId < out[j].InstanceId })
	return out, nil
}

// Instance returns one instance (released ones too).
func (c *Client) Instance(ctx context.Context, id string) (emulator.InstanceView, error) {
	var v emulator.InstanceView
	err := c.do(ctx, http.MethodGet, "/emulator/instances/"+id, nil, &v)
	return v, err
}

// KillPath is the control API path that kills (releases) an instance as if
// it was deleted outside InfraKit.
func KillPath(id string) string { return "/emulator/instances/" + id }

// Kill releases the instance at once, outside InfraKit.
func (c *Client) Kill(ctx context.Context, id string) (emulator.InstanceView, error) {
	var v emulator.InstanceView
	err := c.do(ctx, http.MethodDelete, KillPath(id), nil, &v)
	return v, err
}

// Preempt reclaims a spot instance as ECS does: the Recycling lock now,
// the release after the emulator's notice period. It returns the instance
// as the emulator holds it then.
func (c *Client) Preempt(ctx context.Context, id string) (emulator.InstanceView, error) {
	var v emulator.InstanceView
	err := c.do(ctx, http.MethodPost, "/emulator/instances/"+id+"/preempt", nil, &v)
	return v, err
}

// Disks returns every disk the emulator knows, deleted ones included.
func (c *Client) Disks(ctx context.Context) ([]emulator.DiskView, error) {
	var v []emulator.DiskView
	err := c.do(ctx, http.MethodGet, "/emulator/disks", nil, &v)
	return v, err
}

// Images returns every image the emulator knows, deleted ones included.
func (c *Client) Images(ctx context.Context) ([]emulator.ImageView, error) {
	var v []emulator.ImageView
	err := c.do(ctx, http.MethodGet, "/emulator/images", nil, &v)
	return v, err
}

type clock struct {
	Now time.Time `json:"now"`
}

// Now returns the emulated time.
func (c *Client) Now(ctx context.Context) (time.Time, error) {
	var v clock
	err := c.do(ctx, http.MethodGet, "/emulator/time", nil, &v)
	return v.Now, err
}

// Advance moves emulated time forward by d and returns the new time.
func (c *Client) Advance(ctx context.Context, d time.Duration) (time.Time, error) {
	var v clock
	err := c.do(ctx, http.MethodPost, "/emulator/advance?d="+d.String(), nil, &v)
	return v.Now, err
}

// SetFaults replaces the emulator's faults (the zero Faults clears them).
func (c *Client) SetFaults(ctx context.Context, f emulator.Faults) error {
	return c.do(ctx, http.MethodPost, "/emulator/faults", f, nil)
}

// HasTags reports whether have holds every key/value of want.
func HasTags(have, want map[string]string) bool {
	for k, v := range want {
		if h, ok := have[k]; !ok || h != v {
			return false
		}
	}
	return true
}

// IDs returns the instance IDs of views, in order.
func IDs(views []emulator.InstanceView) []string {
	ids := make([]string, 0, len(views))
	for _, v := range views {
		ids = append(ids, v.InstanceId)
	}
	return ids
}

// CountStatus counts views in the given ECS status.
func CountStatus(views []emulator.InstanceView, status string) int {
	n := 0
	for _, v := range views {
		if v.Status == status {
			n++
		}
	}
	return n
}
