// Package emuctl is a small client of the ECS emulator's control API
// (/emulator/...), shared by the end-to-end tests and the demo: it reads
// what the emulator holds (instances with their tags and user data, API call
// counts) and kills instances behind InfraKit's back.
package emuctl

import (
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

func (c *Client) do(ctx context.Context, method, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.URL+path, nil)
	if err != nil {
		return err
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(body)))
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("%s %s: decoding %q: %w", method, path, body, err)
	}
	return nil
}

// Stats returns the API call counts and instances per status.
func (c *Client) Stats(ctx context.Context) (emulator.Stats, error) {
	var s emulator.Stats
	err := c.do(ctx, http.MethodGet, "/emulator/stats", &s)
	return s, err
}

// Calls returns how many times the ECS API action was called (0 on error).
func (c *Client) Calls(ctx context.Context, action string) (int, error) {
	s, err := c.Stats(ctx)
	return s.Calls[action], err
}

// Instances returns every instance the emulator knows, released ones included.
func (c *Client) Instances(ctx context.Context) ([]emulator.InstanceView, error) {
	var v []emulator.InstanceView
	err := c.do(ctx, http.MethodGet, "/emulator/instances", &v)
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
	err := c.do(ctx, http.MethodGet, "/emulator/instances/"+id, &v)
	return v, err
}

// KillPath is the control API path that kills (releases) an instance as if
// it was deleted outside InfraKit.
func KillPath(id string) string { return "/emulator/instances/" + id }

// Kill releases the instance at once, outside InfraKit.
func (c *Client) Kill(ctx context.Context, id string) (emulator.InstanceView, error) {
	var v emulator.InstanceView
	err := c.do(ctx, http.MethodDelete, KillPath(id), &v)
	return v, err
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
