package inventory

import (
	"context"
	"time"

	"github.com/denverdino/aliyungo/common"
	"github.com/denverdino/aliyungo/ecs"

	aliecs "infrakit.aliyun/internal/ecs"
)

// client is the aliyungo client the commands call, with every call made
// under the plugin's retry policy (internal/ecs): throttling and lost
// answers are retried, and errors are classified by ECS code and scrubbed
// of signed URLs.
type client struct {
	c     *ecs.Client
	ctx   context.Context
	retry aliecs.RetryPolicy
}

// retrySettings configure the retry policy: the zero value is the
// plugin's defaults on the real clock; tests inject the clock.
type retrySettings struct {
	config aliecs.RetryConfig
	now    func() time.Time // nil = time.Now
}

func wrapClient(ctx context.Context, c *ecs.Client, retry retrySettings) *client {
	if ctx == nil {
		ctx = context.Background()
	}
	return &client{c: c, ctx: ctx, retry: aliecs.NewRetryPolicy(retry.config, retry.now)}
}

// Invoke is aliyungo's generic call, retried.
func (c *client) Invoke(action string, args, resp interface{}) error {
	return c.retry.Call(c.ctx, action, func() error { return c.c.Invoke(action, args, resp) })
}

// retried runs one typed aliyungo call under the retry policy.
func retried[T any](c *client, action string, op func() (T, error)) (T, error) {
	var out T
	err := c.retry.Call(c.ctx, action, func() error {
		var err error
		out, err = op()
		return err
	})
	return out, err
}

// page is one page of a typed aliyungo listing.
type page[T any] struct {
	items []T
	res   *common.PaginationResult
}

func retriedPage[T any](c *client, action string, op func() ([]T, *common.PaginationResult, error)) ([]T, *common.PaginationResult, error) {
	p, err := retried(c, action, func() (page[T], error) {
		items, res, err := op()
		return page[T]{items, res}, err
	})
	return p.items, p.res, err
}

func (c *client) DescribeRegions() ([]ecs.RegionType, error) {
	return retried(c, "DescribeRegions", c.c.DescribeRegions)
}

func (c *client) DescribeZones(region common.Region) ([]ecs.ZoneType, error) {
	return retried(c, "DescribeZones", func() ([]ecs.ZoneType, error) { return c.c.DescribeZones(region) })
}

func (c *client) DescribeImages(args *ecs.DescribeImagesArgs) ([]ecs.ImageType, *common.PaginationResult, error) {
	return retriedPage(c, "DescribeImages", func() ([]ecs.ImageType, *common.PaginationResult, error) { return c.c.DescribeImages(args) })
}

func (c *client) DescribeSecurityGroups(args *ecs.DescribeSecurityGroupsArgs) ([]ecs.SecurityGroupItemType, *common.PaginationResult, error) {
	return retriedPage(c, "DescribeSecurityGroups", func() ([]ecs.SecurityGroupItemType, *common.PaginationResult, error) {
		return c.c.DescribeSecurityGroups(args)
	})
}

func (c *client) DescribeVSwitches(args *ecs.DescribeVSwitchesArgs) ([]ecs.VSwitchSetType, *common.PaginationResult, error) {
	return retriedPage(c, "DescribeVSwitches", func() ([]ecs.VSwitchSetType, *common.PaginationResult, error) {
		return c.c.DescribeVSwitches(args)
	})
}

func (c *client) DescribeKeyPairs(args *ecs.DescribeKeyPairsArgs) ([]ecs.KeyPairItemType, *common.PaginationResult, error) {
	return retriedPage(c, "DescribeKeyPairs", func() ([]ecs.KeyPairItemType, *common.PaginationResult, error) {
		return c.c.DescribeKeyPairs(args)
	})
}
