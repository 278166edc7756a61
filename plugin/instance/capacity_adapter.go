package instance

import (
	"context"
	"fmt"
	"net/url"
)

// The adapter's capacityAPI calls (see capacity.go).

var _ capacityAPI = (*adapter)(nil)

type describeInstanceTypesResponse struct {
	ecsResponse
	NextToken     string
	InstanceTypes struct{ InstanceType []ecsInstanceType }
}

func (r *describeInstanceTypesResponse) nextToken() string { return r.NextToken }

// availableResourceResponse decodes only what the plugin reads: aliyungo's
// typed response is wrong (Min/Max are numbers on the wire) and unused here.
type availableResourceResponse struct {
	ecsResponse
	AvailableZones struct {
		AvailableZone []struct {
			ZoneId             string
			AvailableResources struct {
				AvailableResource []struct {
					Type               string
					SupportedResources struct {
						SupportedResource []struct {
							Value  string
							Status string
						}
					}
				}
			}
		}
	}
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
func (a *adapter) DescribeInstanceTypes(ctx context.Context) ([]ecsInstanceType, error) {
	var out []ecsInstanceType
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
// (DestinationResource InstanceType, pay-as-you-go) which types have stock.
func (a *adapter) DescribeAvailableInstanceTypes(ctx context.Context, zone, spotStrategy string) (map[string]map[string]bool, error) {
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
	out := map[string]map[string]bool{}
	for _, z := range resp.AvailableZones.AvailableZone {
		types := out[z.ZoneId]
		if types == nil {
			types = map[string]bool{}
			out[z.ZoneId] = types
		}
		for _, r := range z.AvailableResources.AvailableResource {
			if r.Type != "" && r.Type != "InstanceType" {
				continue
			}
			for _, s := range r.SupportedResources.SupportedResource {
				if s.Status == "Available" {
					types[s.Value] = true
				}
			}
		}
	}
	return out, nil
}

// DescribeVSwitchZone looks one vswitch up by ID.
func (a *adapter) DescribeVSwitchZone(ctx context.Context, vswitchID string) (string, error) {
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
