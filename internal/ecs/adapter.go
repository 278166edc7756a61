package ecs

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	log "github.com/Sirupsen/logrus"
	aliyun "github.com/denverdino/aliyungo/ecs"
	"golang.org/x/time/rate"

	"infrakit.aliyun/internal/metrics"
)

// Adapter implements ecsAPI over aliyungo's generic Invoke, with request
// encoding of its own (url.Values, passed through by aliyungo unchanged):
//   - tags are sent as Tag.N sorted by key (aliyungo numbers map tags in
//     random map order);
//   - booleans are sent only when set (aliyungo always sends them, so
//     DataDisk.N.DeleteWithInstance=false would keep every data disk);
//   - UserData is base64-encoded from the plain text on every attempt
//     (aliyungo's typed RunInstances encodes it in place, so a retry would
//     double-encode);
//   - listings use MaxResults=100 and NextToken (aliyungo's Pagination
//     silently clamps PageSize to 50).
//
// Every call goes through one retry policy and one rate limiter; the
// request side of the ECS seam is all here.
type Adapter struct {
	clients     func() (*aliyun.Client, error) // asked before every call (Config.Clients)
	region      string
	limiter     *rate.Limiter // nil = unlimited
	retry       RetryPolicy
	callTimeout time.Duration
	log         *log.Logger
	metrics     *metrics.Metrics // nil records nothing
}

var _ API = (*Adapter)(nil)

// AdapterConfig configures an Adapter.
type AdapterConfig struct {
	// Clients is asked for the aliyungo client before every call, so
	// rotated credentials (internal/cloud.ClientSource) take effect.
	Clients func() (*aliyun.Client, error)
	// Region is the RegionId of every call.
	Region string
	// RateLimit is calls per second across the adapter, retries
	// included; 0 = unlimited.
	RateLimit float64
	// Retry tunes the retry policy; Now is its clock (nil = time.Now).
	Retry RetryConfig
	Now   func() time.Time
	// CallTimeout bounds one call; 0 = DefaultCallTimeout.
	CallTimeout time.Duration
	Logger      *log.Logger // nil = a logrus logger on stderr
	// Metrics records every attempt, retry, throttle and rate-limit wait;
	// nil records nothing.
	Metrics *metrics.Metrics
}

// NewAdapter returns the adapter cfg describes.
func NewAdapter(cfg AdapterConfig) *Adapter {
	a := &Adapter{
		clients:     cfg.Clients,
		region:      cfg.Region,
		retry:       NewRetryPolicy(cfg.Retry, cfg.Now),
		callTimeout: cfg.CallTimeout,
		log:         cfg.Logger,
		metrics:     cfg.Metrics,
	}
	if a.callTimeout == 0 {
		a.callTimeout = DefaultCallTimeout
	}
	if a.log == nil {
		a.log = log.New()
	}
	if cfg.RateLimit > 0 {
		a.limiter = rate.NewLimiter(rate.Limit(cfg.RateLimit), int(math.Max(1, math.Ceil(cfg.RateLimit))))
	}
	return a
}

// RateLimit reports the limiter's calls per second and burst; ok is false
// when calls are unlimited.
func (a *Adapter) RateLimit() (perSecond float64, burst int, ok bool) {
	if a.limiter == nil {
		return 0, 0, false
	}
	return float64(a.limiter.Limit()), a.limiter.Burst(), true
}

// PageSize is how many items a listing asks for per call (MaxResults):
// a DescribeInstances of n instances costs (n+PageSize-1)/PageSize calls.
const PageSize = 100

type ecsResponse struct {
	RequestId string
}

func (r *ecsResponse) requestID() string { return r.RequestId }

type requestIDer interface{ requestID() string }

// pagedResponse is an answer to a listing paged by NextToken (callPages).
type pagedResponse interface {
	requestIDer
	nextToken() string
}

type runInstancesResponse struct {
	ecsResponse
	InstanceIdSets struct{ InstanceIdSet []string }
}

type describeInstancesResponse struct {
	ecsResponse
	TotalCount int
	NextToken  string
	Instances  struct{ Instance []wireInstance }
}

func (r *describeInstancesResponse) nextToken() string { return r.NextToken }

// maxPresize bounds the capacity reserved from a TotalCount.
const maxPresize = 100000

type describeDisksResponse struct {
	ecsResponse
	NextToken string
	Disks     struct{ Disk []wireDisk }
}

func (r *describeDisksResponse) nextToken() string { return r.NextToken }

type emptyResponse struct{ ecsResponse }

// call runs one ECS action under the retry policy. build is called for
// every attempt so no attempt can see another's mutations. observe, when
// given, is told every failed attempt's error, the retried ones included.
func call[R any, PR interface {
	*R
	requestIDer
}](ctx context.Context, a *Adapter, action string, build func() url.Values, observe ...func(error)) (*R, error) {
	var out *R
	err := a.retry.Do(ctx, func(attempt int) error {
		if a.limiter != nil {
			waitStart := time.Now()
			if err := a.limiter.Wait(ctx); err != nil {
				return err
			}
			a.metrics.RateLimitWait(time.Since(waitStart))
		}
		values := build()
		values.Set("RegionId", a.region)
		resp := new(R)
		start := time.Now()
		err := Classify(action, a.invoke(ctx, action, values, resp))
		took := time.Since(start)
		code := ErrorCode(err)
		if err != nil && code == "" {
			code = "Error" // no ECS answer (e.g. the caller gave up): not a success
		}
		a.metrics.ECSCall(action, code, took)
		if strings.HasPrefix(code, "Throttling") {
			a.metrics.Throttle(action)
		}
		fields := log.Fields{"action": action, "attempt": attempt, "duration": took.String()}
		if err != nil {
			for _, o := range observe {
				o(err)
			}
			fields["code"] = ErrorCode(err)
			if ae, ok := err.(*APIError); ok && ae.RequestID != "" {
				fields["request_id"] = ae.RequestID
			}
			a.log.WithFields(fields).Debug("ecs call failed")
			return err
		}
		fields["request_id"] = PR(resp).requestID()
		a.log.WithFields(fields).Debug("ecs call")
		out = resp
		return nil
	}, func(attempt int, err error, wait time.Duration) {
		a.metrics.Retry(action)
		a.log.WithFields(log.Fields{"action": action, "attempt": attempt, "code": ErrorCode(err), "wait": wait.String()}).Warn("retrying ecs call")
	})
	return out, err
}

// invoke runs the blocking aliyungo call, giving up after callTimeout or
// when ctx ends. aliyungo has no context; an abandoned call finishes in the
// background and its result is dropped (a retried RunInstances reuses the
// ClientToken, so this cannot create a second instance).
func (a *Adapter) invoke(ctx context.Context, action string, values url.Values, resp interface{}) error {
	client, err := a.clients()
	if err != nil {
		return &APIError{Action: action, Code: CodeNoCredentials, Message: Scrub(err.Error()), StatusCode: -1}
	}
	done := make(chan error, 1)
	go func() { done <- client.Invoke(action, values, resp) }()
	var timeout <-chan time.Time
	if a.callTimeout > 0 {
		t := time.NewTimer(a.callTimeout)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case err := <-done:
		return err
	case <-timeout:
		return &APIError{Action: action, Code: CodeCallTimeout, Message: fmt.Sprintf("no response after %v", a.callTimeout), StatusCode: -1}
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return &APIError{Action: action, Code: CodeCallTimeout, Message: "no response before the operation's deadline", StatusCode: -1}
		}
		return ctx.Err()
	}
}

// RunInstances creates one instance. When it fails after an attempt whose
// outcome is unknown (no answer, or a server error: ECS may have created
// the instance), the error is an *OutcomeUnknownError, so the plugin knows
// to ask again with the same ClientToken (creator.run, plugin/instance/truth.go).
func (a *Adapter) RunInstances(ctx context.Context, req *RunRequest) (string, error) {
	unknown := false
	resp, err := call[runInstancesResponse](ctx, a, "RunInstances", func() url.Values {
		return encodeRunInstances(req)
	}, func(err error) {
		if MayHaveActed(err) {
			unknown = true
		}
	})
	if err != nil {
		// A definite answer to the last attempt settles it: with the same
		// ClientToken ECS would have answered the earlier attempt's instance.
		if unknown && (Temporary(err) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)) {
			return "", &OutcomeUnknownError{Err: err}
		}
		return "", err
	}
	ids := resp.InstanceIdSets.InstanceIdSet
	if len(ids) != 1 || ids[0] == "" {
		return "", &APIError{Action: "RunInstances", Code: "UnexpectedResponse", Message: fmt.Sprintf("want 1 instance id, got %d", len(ids)), RequestID: resp.RequestId}
	}
	return ids[0], nil
}

func encodeRunInstances(req *RunRequest) url.Values {
	v := url.Values{}
	encodeStruct(v, "", reflect.ValueOf(req.Args))
	v.Set("Amount", "1")
	if req.PrivateIP != "" {
		v.Set("PrivateIpAddress", req.PrivateIP)
	}
	if req.ClientToken != "" {
		v.Set("ClientToken", req.ClientToken)
	}
	if req.UserData != "" {
		v.Set("UserData", base64.StdEncoding.EncodeToString([]byte(req.UserData)))
	}
	encodeTags(v, "Tag", req.Tags)
	return v
}

// callPages runs a listing paged by NextToken (MaxResults per page) to its
// end, each page through call. filter adds the listing's own parameters to
// every page's request; page is handed every answer and returns how many
// items it held. An answer without NextToken, or without items, is the
// last; a NextToken seen before is an error, not an endless loop.
func callPages[R any, PR interface {
	*R
	pagedResponse
}](ctx context.Context, a *Adapter, action string, maxResults int, filter func(url.Values), page func(*R) int) error {
	token := ""
	seen := map[string]bool{}
	for {
		resp, err := call[R, PR](ctx, a, action, func() url.Values {
			v := url.Values{}
			v.Set("MaxResults", strconv.Itoa(maxResults))
			if token != "" {
				v.Set("NextToken", token)
			}
			filter(v)
			return v
		})
		if err != nil {
			return err
		}
		next := PR(resp).nextToken()
		if page(resp) == 0 || next == "" {
			return nil
		}
		if seen[next] {
			return &APIError{Action: action, Code: "UnexpectedResponse", Message: "NextToken repeats", RequestID: PR(resp).requestID()}
		}
		seen[next] = true
		token = next
	}
}

func (a *Adapter) DescribeInstances(ctx context.Context, f InstanceFilter) ([]Instance, error) {
	var out []Instance
	err := a.describeInstances(ctx, f, func(page []Instance, total int) {
		if out == nil {
			out = make([]Instance, 0, min(max(total, len(page)), maxPresize)) // no regrowing
		}
		out = append(out, page...)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DescribeInstancesPages is DescribeInstances handing over each page as it
// arrives (the slice is reused: copy what you keep), so a caller merging
// several scans keeps one list, not one per scan plus the merge.
func (a *Adapter) DescribeInstancesPages(ctx context.Context, f InstanceFilter, page func([]Instance)) error {
	return a.describeInstances(ctx, f, func(p []Instance, _ int) { page(p) })
}

// describeInstances walks the listing, handing each page (flattened, its
// strings interned across the walk) and the first answer's TotalCount.
func (a *Adapter) describeInstances(ctx context.Context, f InstanceFilter, handle func(page []Instance, total int)) error {
	strs := interner{}
	var buf []Instance
	total := -1
	return callPages[describeInstancesResponse](ctx, a, "DescribeInstances", PageSize, func(v url.Values) {
		if len(f.InstanceIDs) > 0 {
			b, _ := json.Marshal(f.InstanceIDs)
			v.Set("InstanceIds", string(b))
		}
		encodeTags(v, "Tag", f.Tags)
		if f.LockReason != "" {
			v.Set("LockReason", f.LockReason)
		}
	}, func(resp *describeInstancesResponse) int {
		page := resp.Instances.Instance
		if total < 0 {
			total = 0
			if resp.NextToken != "" {
				total = resp.TotalCount
			}
		}
		buf = buf[:0]
		for i := range page {
			buf = append(buf, page[i].flat(strs))
		}
		if len(buf) > 0 {
			handle(buf, total)
		}
		return len(page)
	})
}

func (a *Adapter) DescribeDisks(ctx context.Context, f DiskFilter) ([]Disk, error) {
	var out []Disk
	err := callPages[describeDisksResponse](ctx, a, "DescribeDisks", PageSize, func(v url.Values) {
		if f.InstanceID != "" {
			v.Set("InstanceId", f.InstanceID)
		}
		if len(f.DiskIDs) > 0 {
			b, _ := json.Marshal(f.DiskIDs)
			v.Set("DiskIds", string(b))
		}
		encodeTags(v, "Tag", f.Tags)
	}, func(resp *describeDisksResponse) int {
		for i := range resp.Disks.Disk {
			out = append(out, resp.Disks.Disk[i].flat())
		}
		return len(resp.Disks.Disk)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (a *Adapter) DeleteInstance(ctx context.Context, id string, force bool) error {
	_, err := call[emptyResponse](ctx, a, "DeleteInstance", func() url.Values {
		v := url.Values{}
		v.Set("InstanceId", id)
		v.Set("Force", strconv.FormatBool(force))
		return v
	})
	return err
}

func (a *Adapter) TagResources(ctx context.Context, id string, tags map[string]string) error {
	return a.TagResource(ctx, "instance", id, tags) // adapter_spot.go
}

func (a *Adapter) AttachDisk(ctx context.Context, instanceID, diskID string, deleteWithInstance bool) error {
	_, err := call[emptyResponse](ctx, a, "AttachDisk", func() url.Values {
		v := url.Values{}
		v.Set("InstanceId", instanceID)
		v.Set("DiskId", diskID)
		v.Set("DeleteWithInstance", strconv.FormatBool(deleteWithInstance))
		return v
	})
	return err
}

func (a *Adapter) ModifyDiskAttribute(ctx context.Context, diskID string, deleteWithInstance bool) error {
	_, err := call[emptyResponse](ctx, a, "ModifyDiskAttribute", func() url.Values {
		v := url.Values{}
		v.Set("DiskId", diskID)
		v.Set("DeleteWithInstance", strconv.FormatBool(deleteWithInstance))
		return v
	})
	return err
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Values is the request RunInstances sends (without RegionId), as encoded
// for every attempt.
func (req *RunRequest) Values() url.Values { return encodeRunInstances(req) }

// EncodeTags writes prefix.N.Key / prefix.N.Value with N from 1 in key
// order (aliyungo numbers map tags in random order).
func EncodeTags(v url.Values, prefix string, tags map[string]string) { encodeTags(v, prefix, tags) }

// encodeTags writes prefix.N.Key / prefix.N.Value with N from 1 in key order.
func encodeTags(v url.Values, prefix string, tags map[string]string) {
	for i, k := range sortedKeys(tags) {
		n := strconv.Itoa(i + 1)
		v.Set(prefix+"."+n+".Key", k)
		v.Set(prefix+"."+n+".Value", tags[k])
	}
}

// encodeStruct flattens a parameter struct the ECS way: nested structs as
// Name.Field, slices as Name.N (from 1). Zero strings, nil pointers and
// empty slices are omitted; a set pointer is sent even when it points to a
// zero value (so DeleteWithInstance=false is sent only when asked for).
// Fields tagged ecs:"-" are skipped.
func encodeStruct(v url.Values, prefix string, rv reflect.Value) {
	if rv.Kind() == reflect.Ptr {
		if rv.IsNil() {
			return
		}
		rv = rv.Elem()
	}
	rt := rv.Type()
	for i := 0; i < rt.NumField(); i++ {
		sf := rt.Field(i)
		if !sf.IsExported() || sf.Tag.Get("ecs") == "-" {
			continue
		}
		encodeValue(v, prefix+sf.Name, rv.Field(i))
	}
}

func encodeValue(v url.Values, name string, fv reflect.Value) {
	switch fv.Kind() {
	case reflect.Ptr:
		if fv.IsNil() {
			return
		}
		e := fv.Elem()
		if e.Kind() == reflect.Struct {
			encodeStruct(v, name+".", e)
			return
		}
		v.Set(name, scalar(e))
	case reflect.Struct:
		encodeStruct(v, name+".", fv)
	case reflect.Slice:
		for j := 0; j < fv.Len(); j++ {
			n := name + "." + strconv.Itoa(j+1)
			if ev := fv.Index(j); ev.Kind() == reflect.Struct {
				encodeStruct(v, n+".", ev)
			} else {
				v.Set(n, scalar(ev))
			}
		}
	case reflect.String:
		if s := fv.String(); s != "" {
			v.Set(name, s)
		}
	default:
		if !fv.IsZero() {
			v.Set(name, scalar(fv))
		}
	}
}

func scalar(rv reflect.Value) string {
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(rv.Int(), 10)
	case reflect.Float32, reflect.Float64:
		return strconv.FormatFloat(rv.Float(), 'f', -1, 64)
	case reflect.Bool:
		return strconv.FormatBool(rv.Bool())
	case reflect.String:
		return rv.String()
	}
	return strings.TrimSpace(fmt.Sprint(rv.Interface()))
}
