package instance

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	log "github.com/Sirupsen/logrus"
	aliyun "github.com/denverdino/aliyungo/ecs"
	"github.com/docker/infrakit/pkg/spi"
	"github.com/docker/infrakit/pkg/spi/instance"
	"github.com/docker/infrakit/pkg/types"
	"golang.org/x/sync/singleflight"

	"infrakit.aliyun/internal/ecs"
	"infrakit.aliyun/internal/metrics"
	"infrakit.aliyun/plugin/instance/capacity"
	"infrakit.aliyun/plugin/instance/groupspec"
	"infrakit.aliyun/plugin/instance/spot"
)

// Tag keys the plugin reads or writes.
const (
	// TagLogicalID carries Spec.LogicalID on the instance.
	TagLogicalID = instance.LogicalIDTag // "infrakit.logical_id"
	// TagAttachment marks a data disk that Spec.Attachments can name:
	// a disk tagged infrakit.attachment=<Attachment.ID> is attached to the
	// new instance.
	TagAttachment = "infrakit.attachment"
	// AttachmentTypeDisk is the only attachment type supported ("" means disk).
	AttachmentTypeDisk = "disk"

	// TagManaged marks an instance whose tags would otherwise carry no
	// InfraKit tag (a Provision with neither group tags nor a logical ID),
	// so Destroy and Label still recognise it as InfraKit's (owned.go).
	TagManaged = "infrakit-aliyun.managed"

	tagGroup      = "infrakit.group"
	tagConfigHash = "infrakit.config.hash"
	tagConfigSHA  = "infrakit.config_sha"
)

// Destroy reasons (instance.Context.Reason).
const (
	ReasonTerminate     = "terminate"
	ReasonRollingUpdate = "rolling_update"
)

// Config configures the plugin. Clients and RegionID are required.
type Config struct {
	// Clients is asked for the aliyungo ECS client (endpoint and
	// credentials set) before every ECS call. It lets temporary (STS)
	// credentials be rotated by handing out a new client (aliyungo clients
	// cannot be changed safely while in use): pass
	// internal/cloud.ClientSource.Client. StaticClient(c) always hands out c.
	Clients func() (*aliyun.Client, error)
	// RegionID is the region every call is made in, e.g. "cn-hangzhou".
	RegionID string
	// NamespaceTags are put on every instance the plugin creates and added
	// to every DescribeInstances filter, so several plugins can share an
	// account without seeing each other's instances.
	NamespaceTags map[string]string
	// Logger receives structured logs; nil = a logrus logger on stderr.
	Logger *log.Logger
	// Now is the clock (tests); nil = time.Now.
	Now func() time.Time
	// RateLimit is the client-side limit on ECS calls per second across the
	// plugin, retries included; 0 = unlimited.
	RateLimit float64
	// Retry tunes the retry policy for temporary ECS errors.
	Retry ecs.RetryConfig
	// CallTimeout bounds one HTTP call to ECS (aliyungo has no timeout of
	// its own); 0 = ecs.DefaultCallTimeout.
	CallTimeout time.Duration
	// DescribeCacheTTL is how long a DescribeInstances scan answers other
	// describes (see describecache.go); 0 = no cache, as on the command
	// line (concurrent identical scans are still shared). DefaultConfig
	// sets DefaultDescribeCacheTTL. Negative values are refused.
	DescribeCacheTTL time.Duration
	// DescribeConcurrency is how many NextToken chains a large describe
	// scan runs at once (partitions, see shards.go; they go through the
	// same RateLimit); 1 = one chain, 0 = DefaultDescribeConcurrency, at
	// most 8. DefaultConfig sets the default.
	DescribeConcurrency int
	// ProvisionTimeout bounds a whole Provision (and a whole Destroy or
	// Label), retries and rate-limit waits included, so it answers before
	// InfraKit's 15 s RPC timeout; 0 = DefaultProvisionTimeout.
	ProvisionTimeout time.Duration
	// ConfirmTimeout bounds asking ECS again with the same ClientToken when
	// a RunInstances answer was lost (truth.go); 0 = DefaultConfirmTimeout.
	ConfirmTimeout time.Duration
	// Metrics records ECS calls, describe scans, instances seen, capacity
	// fallbacks and spot notices by source; nil records nothing.
	Metrics *metrics.Metrics
}

// Plugin is the InfraKit instance plugin for Alibaba Cloud ECS: the SPI
// methods over the parts New wires (see the package doc).
type Plugin struct {
	api       ecs.InstanceAPI
	region    string
	namespace map[string]string
	log       *log.Logger
	clock     *clock
	now       func() time.Time // clock.now
	nonce     func() (string, error)
	describe  singleflight.Group

	provisionTimeout time.Duration
	cleanup          cleanupBudget // see retry.go

	owner    *ownership        // which instances are the plugin's (owned.go)
	creator  *creator          // RunInstances told truthfully (truth.go)
	attacher *attacher         // Spec.Attachments (attach.go)
	planner  *capacity.Planner // where instances go (capacity fallbacks, spread)
	metrics  *metrics.Metrics  // nil records nothing

	spot  *spot.Reclaims // spot reclaims and kept data (reclaims.go)
	views *views         // what events and metadata show (views.go, metadata.go)
}

// clock is the plugin's clock, shared by its parts: a test may swap fn
// after New (the capacity tests' real-time budget) without changing the
// adapter's or the describe cache's clock.
type clock struct{ fn func() time.Time }

func (c *clock) now() time.Time { return c.fn() }

var (
	_ instance.Plugin  = (*Plugin)(nil)
	_ spi.Vendor       = (*Plugin)(nil)
	_ spi.InputExample = (*Plugin)(nil)
)

// StaticClient is a Config.Clients that always hands out c (long-lived
// credentials).
func StaticClient(c *aliyun.Client) func() (*aliyun.Client, error) {
	return func() (*aliyun.Client, error) { return c, nil }
}

// DefaultConfig is a Config with the defaults a daemon uses (the describe
// cache on, for DefaultDescribeCacheTTL); Clients and RegionID are still
// to be set.
func DefaultConfig() Config {
	return Config{DescribeCacheTTL: DefaultDescribeCacheTTL}
}

// New returns a plugin over an aliyungo ECS client. It returns an error for
// a missing client or region, invalid namespace tags, or negative limits.
func New(cfg Config) (*Plugin, error) {
	if cfg.Clients == nil {
		return nil, errors.New("new aliyun instance plugin: Clients is required")
	}
	cfg, err := normalize(cfg)
	if err != nil {
		return nil, err
	}
	a := ecs.NewAdapter(ecs.AdapterConfig{
		Clients:     cfg.Clients,
		Region:      cfg.RegionID,
		RateLimit:   cfg.RateLimit,
		Retry:       cfg.Retry,
		Now:         cfg.Now,
		CallTimeout: cfg.CallTimeout,
		Logger:      cfg.Logger,
		Metrics:     cfg.Metrics,
	})
	return build(apis{
		instances: newDescribeCache(a, cfg.NamespaceTags, cfg.DescribeCacheTTL, cfg.Now),
		capacity:  a,
		spot:      a,
	}, cfg), nil
}

func normalize(cfg Config) (Config, error) {
	fail := func(format string, args ...interface{}) (Config, error) {
		return cfg, fmt.Errorf("new aliyun instance plugin: "+format, args...)
	}
	if strings.TrimSpace(cfg.RegionID) == "" {
		return fail("RegionID is required")
	}
	if cfg.RateLimit < 0 || math.IsNaN(cfg.RateLimit) || math.IsInf(cfg.RateLimit, 0) {
		return fail("RateLimit is %v, must be 0 (unlimited) or positive", cfg.RateLimit)
	}
	if cfg.CallTimeout < 0 {
		return fail("CallTimeout is %v, must not be negative", cfg.CallTimeout)
	}
	if cfg.DescribeConcurrency < 0 || cfg.DescribeConcurrency > maxShards {
		return fail("DescribeConcurrency is %d, must be 0 (default %d) to %d", cfg.DescribeConcurrency, DefaultDescribeConcurrency, maxShards)
	}
	if cfg.DescribeConcurrency == 0 {
		cfg.DescribeConcurrency = DefaultDescribeConcurrency
	}
	if cfg.DescribeCacheTTL < 0 {
		return fail("DescribeCacheTTL is %v, must be 0 (no cache) or positive", cfg.DescribeCacheTTL)
	}
	if err := cfg.Retry.Check(); err != nil {
		return fail("%v", err)
	}
	var p groupspec.Problems
	groupspec.ValidateTags(&p, "NamespaceTags", cfg.NamespaceTags, false)
	if n := len(cfg.NamespaceTags); n > groupspec.MaxTags-1 {
		p.Add("NamespaceTags", "%d tags, at most %d so an instance can still carry its own", n, groupspec.MaxTags-1)
	}
	if err := p.Err(); err != nil {
		return fail("%v", err)
	}
	if cfg.Logger == nil {
		cfg.Logger = log.New()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.CallTimeout == 0 {
		cfg.CallTimeout = ecs.DefaultCallTimeout
	}
	if cfg.ProvisionTimeout <= 0 {
		cfg.ProvisionTimeout = DefaultProvisionTimeout
	}
	if cfg.ConfirmTimeout <= 0 {
		cfg.ConfirmTimeout = DefaultConfirmTimeout
	}
	ns := make(map[string]string, len(cfg.NamespaceTags))
	for k, v := range cfg.NamespaceTags {
		ns[k] = v
	}
	cfg.NamespaceTags = ns
	return cfg, nil
}

// apis are the ECS call groups the plugin uses. capacity and spot may be
// nil (a test fake without them): the same-memory fallback and kept data
// are then skipped.
type apis struct {
	instances ecs.InstanceAPI
	capacity  ecs.CapacityAPI
	spot      ecs.SpotAPI
}

// build wires the plugin from a normalized Config (normalize runs once).
// Each part gets what it uses; none holds the Plugin.
func build(api apis, cfg Config) *Plugin {
	clk := &clock{fn: cfg.Now}
	retry := ecs.NewRetryPolicy(cfg.Retry, cfg.Now)
	cleanup := cleanupBudget(cfg.CallTimeout)
	pl := &Plugin{
		api:       api.instances,
		region:    cfg.RegionID,
		namespace: cfg.NamespaceTags,
		log:       cfg.Logger,
		clock:     clk,
		now:       clk.now,
		nonce:     randomNonce,

		provisionTimeout: cfg.ProvisionTimeout,
		cleanup:          cleanup,

		owner: &ownership{namespace: cfg.NamespaceTags, api: api.instances},
		creator: &creator{api: api.instances, log: cfg.Logger, now: clk.now, retry: retry,
			confirmTimeout: cfg.ConfirmTimeout},
		attacher: &attacher{api: api.instances, namespace: cfg.NamespaceTags, log: cfg.Logger, now: clk.now, retry: retry},
		metrics:  cfg.Metrics,
		views: newViews(viewsConfig{now: clk.now, eventsNow: cfg.Now, region: cfg.RegionID, namespace: cfg.NamespaceTags,
			api: api.instances, zoneCalls: api.spot, log: cfg.Logger, metrics: cfg.Metrics}),
	}
	pl.spot = newReclaims(api.instances, api.spot, cfg, clk.now, retry, cleanup, pl.views.notice)
	pl.views.spot = pl.spot
	sp := &spread{api: api.instances, namespace: cfg.NamespaceTags}
	pl.planner = capacity.New(capacity.Config{Catalogue: api.capacity, Members: sp.members, Log: cfg.Logger,
		Now: clk.now, Metrics: cfg.Metrics})
	sp.planner = pl.planner
	if c, ok := api.instances.(*describeCache); ok {
		c.metrics = cfg.Metrics
		c.log = cfg.Logger
		c.concurrency = cfg.DescribeConcurrency
		owner := pl.owner
		c.relevant = func(inst *ecs.Instance) bool {
			return !skippedStatus[inst.Status] && owner.foreignReason(inst.TagMap()) == ""
		}
		c.onScan = sp.observeScan // every scan refreshes the spread's tallies
	}
	return pl
}

func randomNonce() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// VendorInfo implements spi.Vendor.
func (p *Plugin) VendorInfo() *spi.VendorInfo {
	return &spi.VendorInfo{
		InterfaceSpec: spi.InterfaceSpec{Name: "infrakit-instance-aliyun", Version: "0.1.0"},
		URL:           "https://www.alibabacloud.com/help/en/ecs/developer-reference/api-ecs-2014-05-26-runinstances",
	}
}

// ExampleProperties implements spi.InputExample.
func (p *Plugin) ExampleProperties() *types.Any {
	return types.AnyString(`{
  "RunInstances": {
    "ImageId": "ubuntu_22_04_x64_20G_alibase_20240101.vhd",
    "InstanceType": "ecs.g7.large",
    "VSwitchId": "vsw-example",
    "SecurityGroupId": "sg-example",
    "InternetMaxBandwidthOut": 0,
    "SystemDisk": {"Category": "cloud_essd", "Size": 40},
    "SpotStrategy": "NoSpot"
  },
  "Tags": {"project": "demo"}
}`)
}

// Validate implements instance.Plugin: it parses the properties and checks
// them against the plugin's region and namespace tags. It calls no API.
func (p *Plugin) Validate(req *types.Any) error {
	props, err := groupspec.ParseProperties(req)
	if err == nil {
		err = checkAgainstConfig(props, p.region, p.namespace, nil)
	}
	if err != nil {
		return fmt.Errorf("validate properties: %w", err)
	}
	return nil
}

// Provision implements instance.Plugin. It makes one RunInstances call
// (Amount 1) carrying every tag, so the instance is never untagged, and
// returns the new ID at once without waiting for Running.
func (p *Plugin) Provision(spec instance.Spec) (*instance.ID, error) {
	start := p.now()
	group := spec.Tags[tagGroup]
	logger := p.log.WithFields(log.Fields{"action": "provision", "group": group})
	fail := func(err error) (*instance.ID, error) {
		logger.WithFields(log.Fields{"duration": p.now().Sub(start).String(), "code": ecs.ErrorCode(err)}).WithError(err).Warn("provision failed")
		return nil, fmt.Errorf("provision instance in group %q: %w", group, err)
	}

	req, props, err := buildRunRequest(spec, p.region, p.namespace, p.nonce)
	if err != nil {
		return fail(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), p.provisionTimeout)
	defer cancel()

	disks, err := p.attacher.resolve(ctx, spec.Attachments, props.RunInstances.ZoneId)
	if err != nil {
		return fail(err)
	}
	// Kept data of a reclaimed spot instance (reclaims.go). Its disks choose
	// the zone like Attachments, but spot's Finish claims and attaches
	// them (recorded in tags, so any copy finishes the move).
	rep, err := p.prepareReplacement(ctx, spec, &props, req)
	if err != nil {
		return fail(err)
	}
	defer rep.Release()

	id, met, err := p.planner.Run(ctx, capacity.Request{
		Group: spec.Tags[tagGroup], Props: props, Start: start, BaseToken: req.ClientToken,
		Disks: append(disks[:len(disks):len(disks)], rep.KeptDisks()...),
		Try: func(ctx context.Context, c capacity.Choice, token, fallback string) (string, error) {
			return p.creator.run(ctx, req.forChoice(c, token, fallback)) // truth.go: a lost answer is asked again
		},
	})
	p.views.recordCapacity(met) // views.go: events and capacity/ metadata
	if err != nil {
		return fail(err)
	}
	logger = logger.WithField("instance", id)
	p.spot.Finish(ctx, rep, id)

	if err := p.attacher.attach(ctx, id, disks); err != nil {
		// Do not leave an instance without the disks it was promised, even
		// when the attach failed because the Provision budget ran out.
		cctx, ccancel := p.cleanup.context(ctx)
		derr := p.api.DeleteInstance(cctx, id, true)
		ccancel()
		if derr != nil && !ecs.IsNotFound(derr) {
			logger.WithError(derr).Error("could not release instance after attach failure")
			return fail(fmt.Errorf("%w (instance %s could not be released: %v)", err, id, derr))
		}
		return fail(fmt.Errorf("%w (instance %s released)", err, id))
	}
	logger.WithField("duration", p.now().Sub(start).String()).Info("provisioned")
	iid := instance.ID(id)
	return &iid, nil
}

// Label implements instance.Plugin. It sends only the tags that change, in
// one TagResources call, after checking the 20-tag limit.
func (p *Plugin) Label(id instance.ID, labels map[string]string) error {
	start := p.now()
	logger := p.log.WithFields(log.Fields{"action": "label", "instance": string(id)})
	ctx, cancel := context.WithTimeout(context.Background(), p.provisionTimeout) // see Destroy
	defer cancel()
	err := p.label(ctx, string(id), labels)
	if err != nil {
		logger.WithError(err).WithField("code", ecs.ErrorCode(err)).Warn("label failed")
		return fmt.Errorf("label instance %s: %w", id, err)
	}
	logger.WithField("duration", p.now().Sub(start).String()).Debug("labelled")
	return nil
}

func (p *Plugin) label(ctx context.Context, id string, labels map[string]string) error {
	var probs groupspec.Problems
	groupspec.ValidateTags(&probs, "Labels", labels, false)
	if err := probs.Err(); err != nil {
		return err
	}
	inst, err := p.owner.lookup(ctx, id)
	if err != nil {
		return err
	}
	current := inst.TagMap()
	if err := p.owner.checkLabels(current, labels); err != nil {
		return err
	}
	diff := map[string]string{}
	total := len(current) // after labelling
	for k, v := range labels {
		cur, ok := current[k]
		if !ok {
			total++
		}
		if !ok || cur != v {
			diff[k] = v
		}
	}
	if len(diff) == 0 {
		return nil
	}
	if total > groupspec.MaxTags {
		return fmt.Errorf("tags: %d tags after labelling, at most %d per instance", total, groupspec.MaxTags)
	}
	return p.api.TagResources(ctx, id, diff)
}

// Destroy implements instance.Plugin with one DeleteInstance(Force=true)
// call; an instance that is already gone counts as destroyed. For a
// rolling update, data disks tagged infrakit.attachment are first set to
// survive the instance. For "terminate" (or no reason) the instance is
// released with whatever was created with it (its DeleteWithInstance disks);
// with "terminate", kept spot data it holds (or its group's, when it is the
// last live member) is first marked for deletion (beforeDelete).
func (p *Plugin) Destroy(id instance.ID, dctx instance.Context) error {
	start := p.now()
	logger := p.log.WithFields(log.Fields{"action": "destroy", "instance": string(id), "reason": dctx.Reason})
	if strings.TrimSpace(string(id)) == "" {
		return errors.New("destroy instance: the instance ID is empty")
	}
	// The check and the delete share one budget, so the answer comes
	// before InfraKit's 15 s RPC timeout as a Provision's does.
	ctx, cancel := context.WithTimeout(context.Background(), p.provisionTimeout)
	defer cancel()
	// One DescribeInstances by ID first: only an instance that carries the
	// namespace tags and an InfraKit tag is released (owned.go).
	inst, err := p.owner.lookup(ctx, string(id))
	if ecs.IsNotFound(err) {
		p.views.noteGone(string(id)) // asked for, so not "lost" (views.go)
		logger.Info("already gone")
		return nil
	} else if err != nil {
		logger.WithError(err).WithField("code", ecs.ErrorCode(err)).Warn("destroy refused")
		return fmt.Errorf("destroy instance %s: %w", id, err)
	}
	p.views.noteDestroyed(string(id)) // not "lost" when it disappears (views.go)
	p.planner.Forget(string(id))      // the spread stops counting it now
	if err := p.beforeDelete(ctx, inst, dctx.Reason); err != nil {
		logger.WithError(err).Warn("destroy failed")
		return fmt.Errorf("destroy instance %s: %w", id, err)
	}
	err = p.api.DeleteInstance(ctx, string(id), true)
	if ecs.IsNotFound(err) {
		logger.Info("already gone")
		return nil
	}
	if err != nil {
		logger.WithError(err).WithField("code", ecs.ErrorCode(err)).Warn("destroy failed")
		return fmt.Errorf("destroy instance %s: %w", id, err)
	}
	logger.WithField("duration", p.now().Sub(start).String()).Info("destroyed")
	return nil
}

// beforeDelete is what a Destroy does before DeleteInstance: a rolling
// update keeps the Attachments' disks; a terminate (an explicit user
// action: group destroy, scale-down) releases kept spot data the instance
// holds, or its group's if it is the last live member (spot.Release).
func (p *Plugin) beforeDelete(ctx context.Context, inst *ecs.Instance, reason string) error {
	switch reason {
	case ReasonRollingUpdate:
		return p.attacher.keepAttached(ctx, inst.ID)
	case ReasonTerminate:
		return p.spot.Release(ctx, inst)
	}
	return nil
}

// Close stops the watcher, the spot work in flight and the event relay,
// and waits for the background attaches of Spec.Attachments and the
// settling of unknown RunInstances outcomes (each for at most
// attachCloseWait on the plugin's clock, see attachLater and settleLater).
// The daemon calls it on shutdown.
func (p *Plugin) Close() error {
	p.attacher.closing.set(p.now())
	p.creator.closing.set(p.now())
	p.views.cancel()
	p.spot.Close()
	p.attacher.background.Wait()
	p.creator.settling.Wait()
	p.views.events.close()
	return nil
}
