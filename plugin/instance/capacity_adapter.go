package instance

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
)

// The adapter's capacityAPI calls (see capacity.go).

var _ capacityAPI = (*adapter)(nil)

type describeInstanceTypesResponse struct {
	ecsResponse
	NextToken     string
	InstanceTypes struct{ InstanceType []ecsInstanceType }
}

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
	token := ""
	seen := map[string]bool{}
	for {
		resp, err := call[describeInstanceTypesResponse](ctx, a, "DescribeInstanceTypes", func() url.Values {
			v := url.Values{}
			v.Set("MaxResults", "1600")
			if token != "" {
				v.Set("NextToken", token)
			}
			return v
		})
		if err != nil {
			return nil, err
		}
		out = append(out, resp.InstanceTypes.InstanceType...)
		if resp.NextToken == "" || len(resp.InstanceTypes.InstanceType) == 0 {
			return out, nil
		}
		if seen[resp.NextToken] {
			return nil, &APIError{Action: "DescribeInstanceTypes", Code: "UnexpectedResponse", Message: "NextToken repeats", RequestID: resp.RequestId}
		}
		seen[resp.NextToken] = true
		token = resp.NextToken
	}
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
		v.Set("PageSize", strconv.Itoa(10))
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
