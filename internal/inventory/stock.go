package inventory

import (
	"fmt"

	"github.com/denverdino/aliyungo/common"

	aliecs "infrakit.aliyun/internal/ecs"
)

// aliyungo's DescribeAvailableResource response declares Min and Max as
// strings while the API sends numbers, so it cannot decode real answers:
// the answer is decoded and read by internal/ecs (the same reading the
// plugin's capacity fallback uses) through client.Invoke.

type availableResourceArgs struct {
	RegionId            string
	DestinationResource string
	ZoneId              string
	InstanceType        string
}

type availableResourceResponse struct {
	common.Response
	aliecs.AvailableResourceAnswer
}

// describeStock returns, per zone and instance type, the stock that
// DescribeAvailableResource (DestinationResource=InstanceType) reports. zone
// and instanceType narrow the question when not empty.
func describeStock(c *client, region, zone, instanceType string) (aliecs.Stock, error) {
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
	stock := resp.Stock("InstanceType")
	for zone, types := range stock {
		if len(types) == 0 { // listed without instance types: not shown
			delete(stock, zone)
		}
	}
	return stock, nil
}
