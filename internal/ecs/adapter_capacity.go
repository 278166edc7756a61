package ecs

import (
	"context"
	"fmt"
	"net/url"
)

// The adapter's CapacityAPI calls.

type describeInstanceTypesResponse struct {
	ecsResponse
	NextToken     string
	InstanceTypes struct{ InstanceType []InstanceType }
}

func (r *describeInstanceTypesResponse) nextToken() string { return r.NextToken }

// availableResourceResponse is read by internal/ecs, in one way for the
// plugin and the operator commands.
type availableResourceResponse struct {
	ecsResponse
	AvailableResourceAnswer
}

type describeVSwitchesResponse struct {
	ecsResponse
	VSwitches struct {
		VSwitch []struct {
			VSwitchId string
			ZoneId    string
		}
	}
}

// DescribeInstanceTypes reads every page of the region's catalogue.
func (a *Adapter) DescribeInstanceTypes(ctx context.Context) ([]InstanceType, error) {
	var out []InstanceType
	err := callPages[describeInstanceTypesResponse](ctx, a, "DescribeInstanceTypes", 1600, func(url.Values) {},
		func(resp *describeInstanceTypesResponse) int {
			out = append(out, resp.InstanceTypes.InstanceType...)
			return len(resp.InstanceTypes.InstanceType)
		})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DescribeAvailableInstanceTypes asks DescribeAvailableResource
// (DestinationResource InstanceType, pay-as-you-go) which types have stock
// (Resource.InStock).
func (a *Adapter) DescribeAvailableInstanceTypes(ctx context.Context, zone, spotStrategy string) (map[string]map[string]bool, error) {
	resp, err := call[availableResourceResponse](ctx, a, "DescribeAvailableResource", func() url.Values {
		v := url.Values{}
		v.Set("DestinationResource", "InstanceType")
		v.Set("InstanceChargeType", "PostPaid")
		if zone != "" {
			v.Set("ZoneId", zone)
		}
		if spotStrategy != "" {
			v.Set("SpotStrategy", spotStrategy)
		}
		return v
	})
	if err != nil {
		return nil, err
	}
	return resp.Stock("InstanceType").InStock(), nil
}

// DescribeVSwitchZone looks one vswitch up by ID.
func (a *Adapter) DescribeVSwitchZone(ctx context.Context, vswitchID string) (string, error) {
	resp, err := call[describeVSwitchesResponse](ctx, a, "DescribeVSwitches", func() url.Values {
		v := url.Values{}
		v.Set("VSwitchId", vswitchID)
		v.Set("PageSize", "10")
		return v
	})
	if err != nil {
		return "", err
	}
	for _, s := range resp.VSwitches.VSwitch {
		if s.VSwitchId == vswitchID && s.ZoneId != "" {
			return s.ZoneId, nil
		}
	}
	return "", &APIError{Action: "DescribeVSwitches", Code: "InvalidVSwitchId.NotFound", Message: fmt.Sprintf("no vswitch %s in the region", vswitchID), RequestID: resp.RequestId}
}

// InstanceType is the subset of a DescribeInstanceTypes item the plugin uses.
type InstanceType struct {
	InstanceTypeId     string
	InstanceTypeFamily string
	CpuCoreCount       int
	MemorySize         float64 // GiB
	GPUAmount          int
}
