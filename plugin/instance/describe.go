package instance

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"

	log "github.com/Sirupsen/logrus"
	"github.com/docker/infrakit/pkg/spi/instance"
	"github.com/docker/infrakit/pkg/types"

	"infrakit.aliyun/internal/ecs"
	"infrakit.aliyun/internal/metrics"
	"infrakit.aliyun/plugin/instance/groupspec"
)

// InstanceProperties is the JSON put in Description.Properties when
// DescribeInstances is asked for properties.
type InstanceProperties struct {
	InstanceId         string
	InstanceName       string `json:",omitempty"`
	HostName           string `json:",omitempty"`
	Status             string
	InstanceType       string
	ImageId            string   `json:",omitempty"`
	RegionId           string   `json:",omitempty"`
	ZoneId             string   `json:",omitempty"`
	VpcId              string   `json:",omitempty"`
	VSwitchId          string   `json:",omitempty"`
	PrivateIpAddress   []string `json:",omitempty"`
	PublicIpAddress    []string `json:",omitempty"`
	EipAddress         string   `json:",omitempty"`
	SecurityGroupIds   []string `json:",omitempty"`
	InstanceChargeType string   `json:",omitempty"`
	SpotStrategy       string   `json:",omitempty"`
	SpotPriceLimit     float64  `json:",omitempty"`
	CreationTime       string   `json:",omitempty"`
	OperationLocks     []string `json:",omitempty"`
	// Fallback is the TagFallback tag: which capacity fallback created the
	// instance ("instance-type", "zone", "same-memory", "on-demand", joined by "+").
	Fallback string `json:",omitempty"`
}

// DescribeInstances implements instance.Plugin. The namespace tags are
// always part of the filter; every page is read. The logical ID is the
// infrakit.logical_id tag, else the primary private IP.
func (p *Plugin) DescribeInstances(tags map[string]string, properties bool) ([]instance.Description, error) {
	key := describeKey(tags, properties) + "|" + p.describeGeneration()
	ran := false
	v, err, _ := p.describe.Do(key, func() (interface{}, error) {
		ran = true
		return p.describeInstances(tags, properties)
	})
	if err != nil {
		return nil, err
	}
	if !ran {
		p.metrics.DescribeScan(metrics.ScanShared) // joined another caller's describe
	}
	shared := v.([]instance.Description)
	// Reclaimed instances are left out of group describes (views.go).
	return p.views.afterDescribe(tags, describeKey(tags, false), append([]instance.Description(nil), shared...)), nil
}

func describeKey(tags map[string]string, properties bool) string {
	return strconv.FormatBool(properties) + "|" + filterKey(tags)
}

func (p *Plugin) describeInstances(tags map[string]string, properties bool) ([]instance.Description, error) {
	start := p.now()
	logger := p.log.WithFields(log.Fields{"action": "describe", "group": tags[tagGroup]})
	want := map[string]string{}
	for k, v := range tags {
		want[k] = v
	}
	for k, v := range p.namespace {
		if w, ok := want[k]; ok && w != v {
			return []instance.Description{}, nil // cannot match the namespace
		}
		want[k] = v
	}
	var (
		list []ecs.Instance
		scan *cachedScan // nil without the describe cache
		err  error
	)
	filter := ecs.InstanceFilter{Tags: serverTags(want, p.namespace)}
	if c, ok := p.api.(*describeCache); ok {
		list, scan, err = c.describeScan(context.Background(), filter)
	} else {
		list, err = p.api.DescribeInstances(context.Background(), filter)
	}
	if err != nil {
		logger.WithError(err).WithField("code", ecs.ErrorCode(err)).Warn("describe failed")
		return nil, fmt.Errorf("describe instances: %w", err)
	}
	answerKey := describeKey(tags, properties)
	if out, ok := scan.answer(answerKey); ok {
		return out, nil // built from this very scan before (describecache.go)
	}
	out := []instance.Description{}
	for i := range list {
		inst := &list[i]
		if skippedStatus[inst.Status] {
			continue
		}
		itags := inst.TagMap()
		if !hasTags(itags, want) || p.owner.foreignReason(itags) != "" {
			continue
		}
		p.spot.Observe(inst, "describe") // notices spot reclaims
		delete(itags, TagShard)          // the describe partition is the plugin's business (shards.go)
		d := instance.Description{ID: instance.ID(inst.ID), Tags: itags}
		if l := itags[TagLogicalID]; l != "" {
			d.LogicalID = instance.LogicalIDFromString(l)
		} else if ip := inst.PrivateIP(); ip != "" {
			d.LogicalID = instance.LogicalIDFromString(ip)
		}
		if properties {
			// Compact JSON, sized to fit: types.AnyValue indents and keeps
			// twice the capacity, and 10,000 of these live until the RPC
			// answer is written. (InfraKit's RPC server compacts it anyway.)
			b, err := json.Marshal(describeProperties(inst, itags))
			if err != nil {
				return nil, fmt.Errorf("describe instances: encode properties of %s: %w", inst.ID, err)
			}
			d.Properties = types.AnyBytes(b)
		}
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	scan.keep(answerKey, out)
	logger.WithFields(log.Fields{"count": len(out), "duration": p.now().Sub(start).String()}).Debug("described")
	return out, nil
}

// serverTags picks at most MaxTags filter tags for ECS (namespace tags
// first); the rest are matched client-side.
func serverTags(want, namespace map[string]string) map[string]string {
	if len(want) <= groupspec.MaxTags {
		return want
	}
	out := map[string]string{}
	for _, k := range sortedKeys(namespace) {
		if len(out) < groupspec.MaxTags {
			out[k] = namespace[k]
		}
	}
	for _, k := range sortedKeys(want) {
		if len(out) < groupspec.MaxTags {
			out[k] = want[k]
		}
	}
	return out
}

// describeProperties is the instance's properties; tags are its tags.
func describeProperties(inst *ecs.Instance, tags map[string]string) InstanceProperties {
	return InstanceProperties{
		InstanceId:         inst.ID,
		InstanceName:       inst.Name,
		HostName:           inst.HostName,
		Status:             inst.Status,
		InstanceType:       inst.Type,
		ImageId:            inst.ImageID,
		RegionId:           inst.Region,
		ZoneId:             inst.Zone,
		VpcId:              inst.VPC,
		VSwitchId:          inst.VSwitch,
		PrivateIpAddress:   append([]string(nil), inst.PrivateIPs...),
		PublicIpAddress:    inst.PublicIPs,
		EipAddress:         inst.EIP,
		SecurityGroupIds:   inst.SecurityGroups,
		InstanceChargeType: inst.ChargeType,
		SpotStrategy:       inst.SpotStrategy,
		SpotPriceLimit:     inst.SpotPriceLimit,
		CreationTime:       inst.CreationTime,
		OperationLocks:     inst.Locks,
		Fallback:           tags[TagFallback],
	}
}
