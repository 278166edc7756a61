package ecs

import (
	"context"
	"net/url"
	"strconv"
)

// CreateImageRequest is one CreateImage call from an instance.
type CreateImageRequest struct {
	InstanceID  string
	ImageName   string
	Description string
	Tags        map[string]string
	// ClientToken is derived from the instance so every copy of the plugin
	// (and every retry) asks for the same image.
	ClientToken string
}

// ImageFilter selects self-owned images that are Creating or Available.
type ImageFilter struct {
	Tags map[string]string
}

// Image is what the plugin reads of a DescribeImages item.
type Image struct {
	ID           string
	Status       string
	CreationTime string
	Tags         []Tag
}

func (i *Image) TagMap() map[string]string { return tagMap(i.Tags) }

// wireImage is the subset of a DescribeImages item the plugin decodes.
type wireImage struct {
	ImageId      string
	Status       string
	CreationTime string
	Tags         wireTags
}

type createImageResponse struct {
	ecsResponse
	ImageId string
}

type describeImagesResponse struct {
	ecsResponse
	TotalCount int
	Images     struct{ Image []wireImage }
}

type describeZonesResponse struct {
	ecsResponse
	Zones struct{ Zone []struct{ ZoneId string } }
}

func (a *Adapter) DetachDisk(ctx context.Context, instanceID, diskID string) error {
	_, err := call[emptyResponse](ctx, a, "DetachDisk", func() url.Values {
		v := url.Values{}
		v.Set("InstanceId", instanceID)
		v.Set("DiskId", diskID)
		return v
	})
	return err
}

func (a *Adapter) CreateImage(ctx context.Context, req CreateImageRequest) (string, error) {
	resp, err := call[createImageResponse](ctx, a, "CreateImage", func() url.Values {
		v := url.Values{}
		v.Set("InstanceId", req.InstanceID)
		if req.ImageName != "" {
			v.Set("ImageName", req.ImageName)
		}
		if req.Description != "" {
			v.Set("Description", req.Description)
		}
		if req.ClientToken != "" {
			v.Set("ClientToken", req.ClientToken)
		}
		encodeTags(v, "Tag", req.Tags)
		return v
	})
	if err != nil {
		return "", err
	}
	return resp.ImageId, nil
}

func (a *Adapter) DescribeImages(ctx context.Context, f ImageFilter) ([]Image, error) {
	var out []Image
	for page := 1; ; page++ {
		resp, err := call[describeImagesResponse](ctx, a, "DescribeImages", func() url.Values {
			v := url.Values{}
			v.Set("ImageOwnerAlias", "self")
			v.Set("Status", "Creating,Available")
			v.Set("PageSize", strconv.Itoa(PageSize))
			v.Set("PageNumber", strconv.Itoa(page))
			encodeTags(v, "Tag", f.Tags)
			return v
		})
		if err != nil {
			return nil, err
		}
		for _, im := range resp.Images.Image {
			out = append(out, Image{ID: im.ImageId, Status: im.Status, CreationTime: im.CreationTime, Tags: im.Tags.flat()})
		}
		if len(resp.Images.Image) < PageSize || len(out) >= resp.TotalCount {
			return out, nil
		}
	}
}

func (a *Adapter) DeleteImage(ctx context.Context, id string, force bool) error {
	_, err := call[emptyResponse](ctx, a, "DeleteImage", func() url.Values {
		v := url.Values{}
		v.Set("ImageId", id)
		v.Set("Force", strconv.FormatBool(force))
		return v
	})
	return err
}

func (a *Adapter) TagResource(ctx context.Context, resourceType, id string, tags map[string]string) error {
	if len(tags) == 0 {
		return nil
	}
	_, err := call[emptyResponse](ctx, a, "TagResources", func() url.Values {
		v := url.Values{}
		v.Set("ResourceType", resourceType)
		v.Set("ResourceId.1", id)
		encodeTags(v, "Tag", tags)
		return v
	})
	return err
}

func (a *Adapter) DeleteDisk(ctx context.Context, diskID string) error {
	_, err := call[emptyResponse](ctx, a, "DeleteDisk", func() url.Values {
		v := url.Values{}
		v.Set("DiskId", diskID)
		return v
	})
	return err
}

func (a *Adapter) DescribeZones(ctx context.Context) ([]string, error) {
	resp, err := call[describeZonesResponse](ctx, a, "DescribeZones", func() url.Values { return url.Values{} })
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(resp.Zones.Zone))
	for _, z := range resp.Zones.Zone {
		out = append(out, z.ZoneId)
	}
	return out, nil
}
