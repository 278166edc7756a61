// Package instance is an InfraKit instance plugin (SPI Instance/0.6.1) for
// Alibaba Cloud ECS.
//
// # Construction
//
//	client := ecs.NewECSClientWithEndpointAndSecurityToken(endpoint, ak, sk, token, region)
//	p, err := instance.New(instance.Config{Client: client, RegionID: region, ...})
//
// *Plugin implements github.com/docker/infrakit/pkg/spi/instance.Plugin,
// spi.Vendor and spi.InputExample. Everything it needs is in ECS tags, so
// copies can run side by side and a restart loses nothing; what it keeps in
// memory (a short-lived describe cache, recent Provisions for zone spread,
// what its events and metadata report) is rebuilt from ECS as it runs.
//
// # Properties
//
// A group spec puts this under Instance.Properties:
//
//	{
//	  "RunInstances": {               // or "CreateInstanceArgs" (legacy name, same fields)
//	    "ImageId": "...",             // required
//	    "InstanceType": "...",        // required unless InstanceTypes is given
//	    "ZoneId": "...", "VSwitchId": "...",   // no ZoneId with VSwitchIds
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
//	  "Tags": {"key": "value"},       // put on every instance
//	  "InstanceTypes": ["ecs.g6.large", "ecs.g5.large"],   // capacity fallbacks, see "Capacity"
//	  "VSwitchIds": ["vsw-h", "vsw-i", "vsw-j"],
//	  "SameMemoryFallback": false, "SpotFallbackOnDemand": false
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
//	RunInstances.UserData: 33000 bytes, at most 32768 before base64
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
// combined text must be at most 32768 bytes (32 KB); the plugin base64-encodes it.
// Both are plain text (do not base64 them yourself). Put a "#cloud-config"
// document in UserData only when Init is empty.
//
// # Capacity
//
// Top-level keys beside RunInstances make Provision find stock:
//
//   - "InstanceTypes": ordered instance types. RunInstances.InstanceType,
//     when set too, is tried first and must not be repeated in the list.
//   - "VSwitchIds": ordered vswitches, each implying its zone.
//     RunInstances.VSwitchId, when set too, comes first and must not be
//     repeated. RunInstances.ZoneId must not be set with VSwitchIds;
//     PrivateIpAddress (or a LogicalID that is an IP) needs exactly one vswitch.
//   - "SameMemoryFallback": true: when every listed type is out of stock,
//     try the type with the memory (and GPU count) of the first listed type
//     and the fewest vCPUs at or above its count that DescribeAvailableResource
//     reports in stock in the zone (ties: same family, then name). The
//     instance type catalogue (DescribeInstanceTypes) is fetched once per
//     plugin; vswitch zones (DescribeVSwitches) once per vswitch.
//   - "SpotFallbackOnDemand": true (spot strategies only): when no choice has
//     spot capacity, try them all again as on-demand (NoSpot, without the
//     SpotPriceLimit/SpotDuration/SpotInterruptionBehavior parameters).
//
// Lists are non-empty, without blanks, white space or duplicates, at most 10
// choices each (counting the single field). Order of attempts: vswitches
// ordered by the group's spread, and within each vswitch the types in
// order; then the same-memory choices (one per vswitch); then, with
// SpotFallbackOnDemand, the same again as on-demand. Provision moves on only
// for OperationDenied.NoStock, InvalidInstanceType.ZoneNotSupported and
// Zone.NotOnSale (which skips the rest of that zone); any other error ends
// it. Each attempt has its own ClientToken (the first is the Provision's,
// the others derived from it and the choice); retries of one attempt reuse
// it. At most 12 attempts, and none started after 9 s, so Provision answers
// inside InfraKit's 15 s RPC timeout. When nothing has stock the error names
// every choice tried, e.g.
//
//	provision instance in group "web": no stock for any of 2 choices: ecs.g6.large in cn-hangzhou-h (vsw-h) (OperationDenied.NoStock), ecs.g5.large in cn-hangzhou-h (vsw-h) (OperationDenied.NoStock)
//
// followed by the last request ID, and ErrorCode returns the last ECS code.
//
// Zone spread: with several vswitches, a new instance goes to the vswitch
// with the fewest members of its group (infrakit.group, counted with
// DescribeInstances; instances being reclaimed, OperationLocks Recycling,
// do not count), ties in list order. Provisions in flight and instances
// created in the last two minutes count too, so concurrent Provisions of a
// group spread out. Spreading is not a fallback.
//
// An instance created by a fallback carries the tag
// infrakit-aliyun.fallback ("instance-type", "same-memory", "zone",
// "on-demand", joined by "+", relative to the first choice tried) if the
// instance still has fewer than 20 tags; DescribeInstances properties show
// it as Fallback, beside InstanceType and ZoneId.
//
// # Mapping to ECS
//
// Provision makes one RunInstances call (Amount 1) per capacity choice
// (normally one, see Capacity) that carries every tag,
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
// One scan answers identical describes, and a namespace scan narrower ones
// (a group's), for Config.DescribeCacheTTL (1 s by default); a Provision,
// Destroy or Label through the plugin ends that at once.
// Instances in state Deleted/Deleting/Released are skipped; spot instances
// being reclaimed are left out of group describes (see Spot interruption)
// but listed, with their OperationLocks, by other describes. LogicalID is
// the infrakit.logical_id tag, else the primary private IP. With properties,
// each Description carries an InstanceProperties JSON (status, type, zone,
// VPC/vswitch, IPs, security groups, charge and spot strategy, creation
// time, operation locks).
//
// # Spot interruption
//
// ECS gives a reclaimed spot instance OperationLocks "Recycling" and
// releases it about 5 minutes later. The plugin notices the lock in every
// DescribeInstances it makes, and in a background watcher of the
// namespace's spot instances (StartWatcher; the daemon's
// --spot-watch-interval, default 30s; Close stops it). From then on the
// instance is left out of describes filtered by infrakit.group, so the
// group plugin provisions the replacement at the notice instead of at the
// release, and the instance/interrupting event is published once.
//
// A pushed CloudMonitor event Instance:PreemptibleInstanceInterruption
// (MarkInterrupting; the daemon's --events-listen) is a hint, not proof:
// nothing is hidden, delayed or kept until a look-up shows ECS's Recycling
// lock, and then it is handled as above. Look-ups are only made for spot
// instances of the namespace that a recent describe showed (other IDs cost
// nothing), coalesced per instance, batched and paid from a token bucket
// (push.go); should ECS set the lock later, describes and the watcher
// notice it.
//
// Pets: while the reclaimed instance holds the private IP a logical ID asks
// for, Provision of that logical ID fails fast with an error wrapping
// ErrKeptDataNotReady (ECS would refuse the duplicate address anyway); the
// group plugin retries each poll and the replacement starts right after ECS
// releases the old instance. No duplicate IP is ever requested.
//
// Keeping data (opt-in, spot specs only):
//
//	"Preemption": {"KeepData": "disks"}   // or "image"
//
// The instance is tagged infrakit-aliyun.keep-data at creation, so the
// notice, which carries no spec, knows what to keep. "disks" (needs
// DataDisk): at the notice each data disk is tagged (namespace tags,
// infrakit.group, infrakit.logical_id, infrakit-aliyun.preempted-from=<id>,
// infrakit-aliyun.vswitch), set DeleteWithInstance=false and detached; the
// group's next Provision (same logical ID for pets, one without for
// cattle) creates the replacement in the same vswitch without new data
// disks, claims the kept ones (infrakit-aliyun.claimed-by=<new id>) and
// attaches them once it runs. Each step of that move is written into the
// disk's tags (infrakit-aliyun.keep-step kept/claiming/claimed/attached)
// before it is taken, and the replacement is created with
// infrakit-aliyun.replaces=<reclaimed id>, so any copy's watcher finishes
// a move whose copy was killed or stopped midway (keepdisks.go); after the
// group is destroyed, moved disks are deleted. "image": at the notice CreateImage of the
// instance (ClientToken derived from its ID, so copies of the plugin make
// one image), tagged like the disks plus infrakit-aliyun.instance-type;
// Provision fails fast (ErrKeptDataNotReady) while the image is Creating,
// then boots the replacement from it in the same vswitch and type, with
// the spec's security groups and tags (only the IP differs). The watcher
// deletes a kept image once its replacement is Running, when a newer image
// exists for the same logical ID, when its replacement and group are gone
// (group destroy), or after 24 hours unclaimed. All links are
// in ECS tags: any copy of the plugin finds them. Provision waits up to 5 s
// for data still being saved from a reclaimed instance of its group.
//
// # Events and metadata
//
// EventPlugin and MetadataPlugin are served on the plugin's socket beside
// the Instance SPI (infrakit's rpc event and metadata services; events at
// /events through infrakit's broker). Topics: instance/interrupting
// (Interruption), instance/lost (LostInstance: a group member that vanished
// between two describes without Destroy or a notice), instance/no-stock
// (StockOut, from the capacity fallback loop). Metadata (read-only):
// region, zones, instances/{total,spot,interrupting,by-status/*,by-zone/*},
// spot/{interrupting,last-interruption}, capacity/{last-stock-out,
// last-fallback}, events/instance/<topic> counts. With InfraKit's CLI:
// infrakit instance-aliyun keys -al / cat region / topics / tail instance/interrupting.
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
