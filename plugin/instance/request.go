package instance

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"strings"

	"github.com/docker/infrakit/pkg/spi/instance"

	"infrakit.aliyun/internal/ecs"
	"infrakit.aliyun/plugin/instance/capacity"
	"infrakit.aliyun/plugin/instance/groupspec"
)

// A Provision's RunInstances request: built from the Spec and checked
// against the plugin's region and namespace (no API call), then varied per
// capacity choice.

// checkAgainstConfig checks what ParseProperties cannot know: the region and
// the tag total with the namespace tags (plus extra tags when given).
func checkAgainstConfig(props groupspec.Properties, region string, namespace, all map[string]string) error {
	var probs groupspec.Problems
	if r := props.RunInstances.RegionId; r != "" && r != region {
		probs.Add(props.Form+".RegionId", "%q, the plugin runs in region %q", r, region)
	}
	if all == nil {
		all = mergeTags(props.Tags, namespace)
	}
	if n := len(all); n > groupspec.MaxTags {
		probs.Add(groupspec.KeyTags, "%d tags, at most %d per instance including the plugin's own", n, groupspec.MaxTags)
	}
	return probs.Err()
}

// runRequest is one RunInstances call as Provision builds it, with the
// parameters still typed (capacity fallbacks and kept data change them);
// ecs() is what the ECS seam sends.
type runRequest struct {
	Args groupspec.RunInstancesArgs
	// Tags are sent as Tag.N, sorted by key, so the instance is tagged from
	// the moment it exists.
	Tags map[string]string
	// UserData is plain text; the adapter base64-encodes it for each attempt.
	UserData string
	// PrivateIP overrides Args.PrivateIpAddress when set.
	PrivateIP string
	// ClientToken makes the call idempotent; it is the same on every retry.
	ClientToken string
}

func (r *runRequest) ecs() *ecs.RunRequest {
	return &ecs.RunRequest{Args: r.Args, Tags: r.Tags, UserData: r.UserData, PrivateIP: r.PrivateIP, ClientToken: r.ClientToken}
}

// buildRunRequest turns a spec into a RunInstances request, or reports
// what is wrong with it. It calls no API.
func buildRunRequest(spec instance.Spec, region string, namespace map[string]string, nonce func() (string, error)) (*runRequest, groupspec.Properties, error) {
	props, err := groupspec.ParseProperties(spec.Properties)
	if err != nil {
		return nil, props, err
	}
	var probs groupspec.Problems
	groupspec.ValidateTags(&probs, "Spec.Tags", spec.Tags, false)
	if err := probs.Err(); err != nil {
		return nil, props, err
	}

	tags := mergeTags(props.Tags, spec.Tags, namespace)
	logical := ""
	if spec.LogicalID != nil {
		logical = string(*spec.LogicalID)
		if logical != "" {
			tags[TagLogicalID] = logical
		}
	}
	if !hasInfraKitTag(tags) {
		tags[TagManaged] = "true"
	}
	if err := checkAgainstConfig(props, region, namespace, tags); err != nil {
		return nil, props, err
	}
	if logical != "" {
		// It is a tag value like any other (length, no "acs:" prefix).
		groupspec.ValidateTags(&probs, "LogicalID", map[string]string{TagLogicalID: logical}, false)
	}

	userData := props.RunInstances.UserData
	if spec.Init != "" {
		if userData != "" && !strings.HasSuffix(userData, "\n") {
			userData += "\n"
		}
		userData += spec.Init
	}
	if n := len(userData); n > groupspec.MaxUserDataBytes {
		probs.Add("UserData", "%d bytes (properties UserData and Init together), at most %d before base64", n, groupspec.MaxUserDataBytes)
	}

	privateIP := ""
	if ip := net.ParseIP(logical); ip != nil && ip.To4() != nil {
		privateIP = ip.String()
		if set := props.RunInstances.PrivateIpAddress; set != "" && set != privateIP {
			probs.Add("LogicalID", "%q is used as PrivateIpAddress, which conflicts with %s.PrivateIpAddress %q; leave one out or make them equal", logical, props.Form, set)
		}
		if vs := props.VSwitchChoices(); len(vs) == 0 {
			probs.Add("LogicalID", "%q is used as PrivateIpAddress, which needs %s.VSwitchId", logical, props.Form)
		} else if len(vs) > 1 {
			probs.Add("LogicalID", "%q is used as PrivateIpAddress, which fits one vswitch only; the properties list %d", logical, len(vs))
		}
	}
	for i, a := range spec.Attachments {
		if a.Type != "" && a.Type != AttachmentTypeDisk {
			probs.Add(fmt.Sprintf("Attachments[%d].Type", i), "%q, only %q is supported", a.Type, AttachmentTypeDisk)
		}
		if a.ID == "" {
			probs.Add(fmt.Sprintf("Attachments[%d].ID", i), "required")
		}
	}
	if err := probs.Err(); err != nil {
		return nil, props, err
	}

	token, err := nonce()
	if err != nil {
		return nil, props, fmt.Errorf("generate client token: %w", err)
	}
	return &runRequest{
		Args:        props.RunInstances,
		Tags:        tags,
		UserData:    userData,
		PrivateIP:   privateIP,
		ClientToken: clientToken(spec, token),
	}, props, nil
}

// clientToken is a 64-character hex idempotency token, fixed for one
// Provision call (and so for all its retries) and different between calls.
func clientToken(spec instance.Spec, nonce string) string {
	h := sha256.New()
	logical := ""
	if spec.LogicalID != nil {
		logical = string(*spec.LogicalID)
	}
	hash := spec.Tags[tagConfigHash]
	if hash == "" {
		hash = spec.Tags[tagConfigSHA]
	}
	for _, part := range []string{spec.Tags[tagGroup], hash, logical, spec.Init, nonce} {
		fmt.Fprintf(h, "%d:%s;", len(part), part)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// forChoice is the request of one capacity attempt: base with the choice's
// instance type, vswitch and spot setting, the attempt's ClientToken, and
// the TagFallback label when the tags have room for it.
func (r *runRequest) forChoice(c capacity.Choice, token, fallback string) *runRequest {
	req := *r
	req.Args.InstanceType = c.InstanceType
	if c.VSwitchId != "" {
		req.Args.VSwitchId = c.VSwitchId
	}
	if !c.Spot {
		req.Args.SpotStrategy = "NoSpot"
		req.Args.SpotPriceLimit = nil
		req.Args.SpotDuration = nil
		req.Args.SpotInterruptionBehavior = ""
	}
	req.ClientToken = token
	if fallback != "" {
		if _, has := req.Tags[TagFallback]; has || len(req.Tags) < groupspec.MaxTags {
			req.Tags = mergeTags(req.Tags, map[string]string{TagFallback: fallback})
		}
	}
	return &req
}
