package inventory

import (
	"fmt"

	"github.com/denverdino/aliyungo/common"
	"github.com/denverdino/aliyungo/ecs"
)

// aliyungo's DescribeAvailableResource response declares Min and Max as
// strings while the API sends numbers, so it cannot decode real answers:
// these structs (which leave Min and Max out) go through client.Invoke.

type availableResourceArgs struct {
	RegionId            string
	DestinationResource string
	ZoneId              string
	InstanceType        string
}

type availableResourceResponse struct {
	common.Response
	AvailableZones struct {
		AvailableZone []struct {
			ZoneId             string
			Status             string
			StatusCategory     string
			AvailableResources struct {
				AvailableResource []struct {
					Type               string
					SupportedResources struct {
						SupportedResource []supportedResource
					}
				}
			}
		}
	}
}

type supportedResource struct {
	Value          string
	Status         string // Available | SoldOut
	StatusCategory string // WithStock | ClosedWithStock | WithoutStock
}

// label is how the stock is shown: the finer StatusCategory when the API
// gives one, else Status.
func (s supportedResource) label() string {
	if s.StatusCategory != "" {
		return s.StatusCategory
	}
	return s.Status
}

// inStock reports whether an instance of this type can be created now.
// ClosedWithStock means low stock that will not be replenished: still usable.
func (s supportedResource) inStock() bool {
	switch s.StatusCategory {
	case "WithStock", "ClosedWithStock":
		return true
	case "":
		return s.Status == "Available"
	}
	return false
}

// describeStock returns, per zone and instance type, the stock that
// DescribeAvailableResource (DestinationResource=InstanceType) reports. zone
// and instanceType narrow the question when not empty.
func describeStock(c *ecs.Client, region, zone, instanceType string) (map[string]map[string]supportedResource, error) {
	args := availableResourceArgs{
		RegionId:            region,
		DestinationResource: "InstanceType",
		ZoneId:              zone,
		InstanceType:        instanceType,
	}
	var resp availableResourceResponse
	if err := c.Invoke("DescribeAvailableResource", &args, &resp); err != nil {
		what := "in " + region
		if zone != "" {
			what = "in zone " + zone
		}
		return nil, fmt.Errorf("describe available instance types %s: %w", what, err)
	}
	stock := map[string]map[string]supportedResource{}
	for _, z := range resp.AvailableZones.AvailableZone {
		for _, r := range z.AvailableResources.AvailableResource {
			if r.Type != "InstanceType" {
				continue
			}
			for _, s := range r.SupportedResources.SupportedResource {
				if stock[z.ZoneId] == nil {
					stock[z.ZoneId] = map[string]supportedResource{}
				}
				stock[z.ZoneId][s.Value] = s
			}
		}
	}
	return stock, nil
}
