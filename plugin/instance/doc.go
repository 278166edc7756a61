// Package instance is an InfraKit instance plugin (SPI Instance/0.6.1) for
// Alibaba Cloud ECS.
//
// # Construction
//
//	client := ecs.NewECSClientWithEndpointAndSecurityToken(endpoint, ak, sk, token, region)
//	p, err := instance.New(instance.Config{Client: client, RegionID: region, ...})
//
// *Plugin implements github.com/docker/infrakit/pkg/spi/instance.Plugin,
// spi.Vendor and spi.InputExample. It keeps no state between calls beyond
// configuration: everything it needs is in ECS tags.
//
// # Properties
//
// A group spec puts this under Instance.Properties:
//
//	{
//	  "RunInstances": {               // or "CreateInstanceArgs" (legacy name, same fields)
//	    "ImageId": "...",             // required
//	    "InstanceType": "...",        // required
//	    "ZoneId": "...", "VSwitchId": "...",
//	    "SecurityGroupId": "..."  or  "SecurityGroupIds": ["...", ...],   // not both
//	    "PrivateIpAddress": "...",    // IPv4, needs VSwitchId; a LogicalID that is an IP overrides it
//	    "InstanceName", "HostName", "Description", "KeyPairName",
//	    "Password", "PasswordInherit", "RamRoleName", "ResourceGroupId",
//	    "DeploymentSetId", "HpcClusterId",
//	    "SecurityEnhancementStrategy": "Active" | "Deactive",
//	    "IoOptimized": "none" | "optimized",
//	    "InternetChargeType": "PayByTraffic" (default) | "PayByBandwidth",
//	    "InternetMaxBandwidthOut": 0..1024, "InternetMaxBandwidthIn": 1..10240,
//	    "InstanceChargeType": "PostPaid" (default) | "PrePaid",
//	    "Period": 1..60 (required for PrePaid), "PeriodUnit": "Month" (default) | "Week",
//	    "AutoRenew": bool, "AutoRenewPeriod": 1..60,          // PrePaid only
//	    "SpotStrategy": "NoSpot" (default) | "SpotWithPriceLimit" | "SpotAsPriceGo",
//	    "SpotPriceLimit": > 0,        // required with, and only with, SpotWithPriceLimit
//	    "SpotDuration": 0..6, "SpotInterruptionBehavior": "Terminate" | "Stop",  // spot only
//	    "SystemDisk": {"Category", "Size": 20..2048, "DiskName", "Description",
//	                   "PerformanceLevel": "PL0".."PL3" (cloud_essd only), "AutoSnapshotPolicyId"},
//	    "DataDisk": [ {"Size" (required unless SnapshotId), "Category", "SnapshotId", "DiskName",
//	                   "Description", "Device", "PerformanceLevel", "DeleteWithInstance",
//	                   "Encrypted", "KMSKeyId"} ],   // at most 16
//	    "UserData": "plain text"      // optional, see below
//	  },
//	  "Tags": {"key": "value"}        // put on every instance
//	}
//
// Field names are the ECS RunInstances parameter names and are matched
// exactly (case-sensitively). Parsing is strict: unknown fields, JSON values
// of the wrong type (e.g. "5" for an integer) and values that break an ECS
// rule are rejected before anything is created, and every problem is
// reported with its field path, e.g.
//
//	RunInstances.ImageId: required
//	RunInstances.SystemDisk.Sise: unknown field
//	Tags: 21 tags, at most 20 per instance including the plugin's own
//	Tags["aliyun:x"]: key must not start with "aliyun" or "acs:"
//	RunInstances.UserData: 17000 bytes, at most 16384 before base64
//
// Parameters the plugin owns are refused with a reason: Amount, MinAmount,
// MaxAmount, ClientToken, Tag/Tags (use the top-level Tags), DryRun,
// DeletionProtection (it would block Destroy), UniqueSuffix, HostNames.
// RegionId is accepted for the legacy form but must equal the plugin's region.
//
// Tags: keys 1..128 characters, not starting with "aliyun" or "acs:"
// (any case), not containing "http://" or "https://"; values at most 128
// characters, not starting with "acs:". Keys starting with "infrakit." are
// reserved in properties. At most 20 tags per instance in total, counting
// property tags, the group's tags (infrakit.group, infrakit.config.hash,
// flavor tags), the plugin's namespace tags and infrakit.logical_id. Precedence
// when keys collide: property Tags < Spec.Tags < namespace tags < logical ID.
//
// UserData: the instance's user data is the properties' UserData, then a
// newline, then the spec's Init (from the flavor); either may be empty. The
// combined text must be at most 16384 bytes; the plugin base64-encodes it.
// Both are plain text (do not base64 them yourself). Put a "#cloud-config"
// document in UserData only when Init is empty.
//
// Reserved for a later issue: the top-level keys InstanceTypes, VSwitchIds,
// SameMemoryFallback, SpotFallbackOnDemand and Preemption will sit beside
// RunInstances and Tags (and be parsed into Properties). Today they are
// rejected as unknown fields.
//
// # Mapping to ECS
//
// Provision makes one RunInstances call (Amount 1) that carries every tag,
// so the instance is never untagged; it returns the instance ID at once and
// never waits for Running. A LogicalID that parses as an IPv4 address is
// used as PrivateIpAddress. The ClientToken is the hex SHA-256 of the group,
// config hash, logical ID, Init and a random nonce made once per Provision:
// a retried call cannot create a second instance, two Provisions create two.
//
// Attachments (type "disk", or empty): each Attachment.ID names the data
// disk tagged infrakit.attachment=<ID>. The disk must exist, be Available,
// and be in the instance's zone when ZoneId is set, or nothing is created.
// It is attached after RunInstances with DeleteWithInstance=false. While the
// new instance is still Pending (ECS answers IncorrectInstanceStatus) the
// attachment is finished in the background for up to 10 minutes. Any other
// attach error releases the new instance and fails the Provision.
//
// Destroy calls DeleteInstance with Force=true once; an instance that is
// already gone (InvalidInstanceId.NotFound) counts as destroyed. Reason
// "rolling_update" first sets DeleteWithInstance=false on attached disks
// tagged infrakit.attachment, so they survive for the replacement; "terminate"
// (or no reason) releases the instance with what was created with it.
//
// Label adds or overwrites tags with one TagResources call carrying only the
// tags that change, after checking the 20-tag limit.
//
// DescribeInstances filters by tag on the server (namespace tags always
// added, MaxResults 100 with NextToken, all pages) and again on the client.
// Instances in state Deleted/Deleting/Released are skipped; spot instances
// being reclaimed (OperationLocks "Recycling") are still listed. LogicalID is
// the infrakit.logical_id tag, else the primary private IP. With properties,
// each Description carries an InstanceProperties JSON (status, type, zone,
// VPC/vswitch, IPs, security groups, charge and spot strategy, creation
// time, operation locks).
//
// # Errors, retries, logging
//
// Every ECS call goes through one retry policy (exponential backoff with
// jitter, capped, see RetryConfig) that retries only temporary failures:
// Throttling*, ServiceUnavailable, InternalError, 5xx, and calls with no
// response. Parameter, permission, quota and stock errors return at once.
// An optional client-side rate limit (Config.RateLimit calls/s) applies to
// every attempt. Failures are *APIError values; ErrorCode(err) returns the
// ECS code (e.g. "OperationDenied.NoStock") through any wrapping.
//
// Logs go to Config.Logger (github.com/Sirupsen/logrus) with fields action,
// instance, group, duration, request_id, code. Request parameters are never
// logged (they hold the instance Password), and error messages have URLs
// stripped of their query (signature, access key, security token).
package instance
