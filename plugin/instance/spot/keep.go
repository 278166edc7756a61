package spot

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	log "github.com/Sirupsen/logrus"

	"infrakit.aliyun/internal/ecs"
	"infrakit.aliyun/plugin/instance/groupspec"
)

// keeper makes the ECS calls that keep, find and hand over the data of
// reclaimed instances (images, and disks in the tagged steps of disks.go).
type keeper struct{ *env }

// keepData saves what the instance's spec asked to keep. Errors are logged
// and returned for the record: a replacement without the data is better
// than none.
func (k *keeper) keepData(ctx context.Context, info Interruption) (image string, disks []string, err error) {
	logger := k.logf(log.Fields{"action": "keep-data", "instance": info.InstanceId, "group": info.Group, "keep_data": info.KeepData})
	if k.Kept == nil {
		logger.Warn("this ECS client cannot keep data; the replacement starts empty")
		return "", nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	switch info.KeepData {
	case groupspec.KeepDataImage:
		image, err = k.keepImage(ctx, info)
	case groupspec.KeepDataDisks:
		disks, err = k.keepDisks(ctx, info)
	default:
		err = fmt.Errorf("unknown KeepData %q", info.KeepData)
	}
	if err != nil {
		logger.WithError(err).Error("could not keep the data of a reclaimed instance")
		return image, disks, err
	}
	logger.WithFields(log.Fields{"image": image, "disks": strings.Join(disks, ",")}).Info("kept the data of a reclaimed instance")
	return image, disks, nil
}

// keepImage starts a CreateImage of the reclaimed instance. The ClientToken
// is derived from the instance, so a second notice (another copy of the
// plugin, a restart) gets the same image instead of a second one.
func (k *keeper) keepImage(ctx context.Context, info Interruption) (string, error) {
	existing, err := k.Kept.DescribeImages(ctx, ecs.ImageFilter{Tags: mergeTags(k.Namespace, map[string]string{TagPreemptedFrom: info.InstanceId})})
	if err != nil {
		return "", fmt.Errorf("find image of instance %s: %w", info.InstanceId, err)
	}
	if len(existing) > 0 {
		return existing[0].ID, nil
	}
	tags := k.keptTags(info)
	if info.InstanceType != "" {
		tags[TagSourceType] = info.InstanceType
	}
	sum := sha256.Sum256([]byte("infrakit-aliyun/preempt-image/" + info.InstanceId))
	id, err := k.Kept.CreateImage(ctx, ecs.CreateImageRequest{
		InstanceID:  info.InstanceId,
		ImageName:   "infrakit-preempted-" + info.InstanceId,
		Description: fmt.Sprintf("system disk of reclaimed spot instance %s (group %s), kept by infrakit-instance-aliyun", info.InstanceId, info.Group),
		Tags:        tags,
		ClientToken: hex.EncodeToString(sum[:16]),
	})
	if err != nil {
		return "", fmt.Errorf("create image of instance %s: %w", info.InstanceId, err)
	}
	return id, nil
}
