// Package emulator is an in-process / standalone emulator of the Alibaba
// Cloud ECS RPC API (version 2014-05-26), good enough to run the InfraKit
// instance plugin, aliyungo and the official alibaba-cloud-sdk-go against it
// with no route to Alibaba Cloud. It uses only the standard library.
//
// # Starting it
//
// In Go tests:
//
//	srv, err := emulator.New(emulator.Options{})   // 127.0.0.1:<random port>
//	defer srv.Close()
//	srv.URL()                                        // http://127.0.0.1:NNNNN
//
// As a binary (build/ecs-emulator, main in cmd/ecs-emulator):
//
//	ecs-emulator --listen 127.0.0.1:8086 --time-scale 60 --state-file /tmp/ecs.json
//
// It prints "ecs-emulator listening on http://127.0.0.1:8086 (access key id
// emulator, secret from ..., region cn-hangzhou)" first (where the secret
// came from: --access-key-secret, --access-key-secret-file,
// $ECS_EMULATOR_ACCESS_KEY_SECRET or the built-in default "emulator"; never
// the secret), then one log line per request on stderr, and stops on
// SIGINT/SIGTERM. A non-loopback --listen is refused unless --allow-remote.
// With --state-file every change is saved before it is answered, so a
// kill -9 loses nothing that was acknowledged.
//
// # Pointing clients at it
//
// Credentials default to AccessKeyId "emulator", secret "emulator"
// (DefaultAccessKeyID, DefaultAccessKeySecret); region cn-hangzhou.
//
//	// aliyungo (GET, query parameters)
//	c := ecs.NewECSClientWithEndpointAndSecurityToken(srv.URL(), "emulator", "emulator", "", "cn-hangzhou")
//
//	// alibaba-cloud-sdk-go services/ecs (POST, form body)
//	c, _ := ecs.NewClientWithAccessKey("cn-hangzhou", "emulator", "emulator")
//	req := ecs.CreateDescribeInstancesRequest()
//	req.Scheme, req.Domain = "http", strings.TrimPrefix(srv.URL(), "http://")
//
//	// alibabacloud-go/ecs-20140526 (default settings: ACS3-HMAC-SHA256)
//	c, _ := ecs.NewClient(&openapi.Config{AccessKeyId: tea.String("emulator"),
//		AccessKeySecret: tea.String("emulator"), RegionId: tea.String("cn-hangzhou"),
//		Endpoint: tea.String(srv.Addr()), Protocol: tea.String("http")})
//
// The InfraKit plugin takes the endpoint from its configuration / ECS_ENDPOINT.
// Requests are signed and checked like real ECS, with either signature on the
// same listener: RPC HMAC-SHA1 (Signature, Timestamp, SignatureNonce
// parameters) or ACS3-HMAC-SHA256 (x-acs-* headers and an Authorization
// header); 15-minute date window, nonce reuse, known access keys and, for
// keys declared in Options.STSKeys, the SecurityToken (x-acs-security-token
// for ACS3). Answers are JSON or XML, by Format, else Accept, else XML.
//
// # Seeded catalogue (DefaultCatalog)
//
//   - Regions: cn-hangzhou, cn-shanghai, cn-beijing, cn-shenzhen, cn-hongkong,
//     ap-southeast-1, us-west-1, eu-central-1, each with zones (cn-hangzhou-h,
//     -i, -j, -k; cn-shanghai-e, -f, -g; ...). Only cn-hangzhou has a network.
//   - VPC vpc-bp1emulator0000000001 (172.16.0.0/12) with one vswitch per zone:
//     vsw-bp1emulator000000000h (cn-hangzhou-h, 172.16.0.0/20),
//     vsw-bp1emulator000000000i (cn-hangzhou-i, 172.16.16.0/20),
//     vsw-bp1emulator000000000j (cn-hangzhou-j, 172.16.32.0/20),
//     vsw-bp1emulator000000000k (cn-hangzhou-k, 172.16.48.0/20).
//   - Security group sg-bp1emulator0000000001; key pairs "emulator-key", "infrakit".
//   - Instance types (vCPU/GiB): ecs.g6.large 2/8, ecs.g6.xlarge 4/16,
//     ecs.g6.2xlarge 8/32, ecs.g7.large 2/8, ecs.g5.large 2/8 (not sold in
//     cn-hangzhou-k), ecs.c6.large 2/4, ecs.c6.xlarge 4/8, ecs.r6.large 2/16,
//     ecs.t5-lc1m1.small 1/1, ecs.t5-lc1m2.small 1/2, ecs.gn6i-c4g1.xlarge 4/15 (1 GPU).
//   - System images: ubuntu_22_04_x64_20G_alibase_20240101.vhd,
//     ubuntu_20_04_x64_20G_alibase_20240101.vhd, centos_7_9_x64_20G_alibase_20240101.vhd,
//     aliyun_3_x64_20G_alibase_20240101.vhd, debian_12_x64_20G_alibase_20240101.vhd,
//     win2022_21H2_x64_dtc_en-us_40G_alibase_20240101.vhd.
//
// Generated IDs look real (i-bp1..., d-bp1..., m-bp1..., s-bp1...) and are
// reproducible for a given Options.Seed.
//
// # Time and the instance lifecycle
//
// Nothing runs in the background: statuses are computed from emulated
// timestamps when read. Emulated now = start + (real now - real start) *
// TimeScale + Advance offsets, with the real clock from Options.Now.
// RunInstances: Pending (first third of BootTime), Starting, Running.
// CreateInstance: Pending, then Stopped. StopInstance: Stopping (StopTime),
// Stopped. StartInstance: Starting (two thirds of BootTime), Running.
// Preempt locks the instance with OperationLocks Recycling and releases it
// PreemptNotice (default 5 min) later. Server.Advance moves time in tests.
//
// # Control API (not ECS; no signature; never faulted)
//
//	GET    /emulator/stats                   {"calls":{"RunInstances":3},"instances":{"Running":2},"faults":{}}
//	GET    /emulator/instances               all instances, released ones flagged
//	GET    /emulator/instances/{id}
//	DELETE /emulator/instances/{id}          kill: the instance vanishes
//	POST   /emulator/instances/{id}/preempt  spot interruption
//	POST   /emulator/advance?d=30s           move emulated time
//	GET    /emulator/time
//	GET    /emulator/disks, /emulator/images
//	GET|POST|DELETE /emulator/faults         {"throttle_rate":0.2,"error_rate":0.1,
//	                                          "drop_response_rate":0.05,"latency_ms":20,
//	                                          "no_stock":[{"InstanceType":"ecs.g6.large","ZoneId":"cn-hangzhou-h"}],
//	                                          "not_on_sale":[{"ZoneId":"cn-hangzhou-k"}],
//	                                          "conflict":{"StopInstance":0.5},
//	                                          "rate_limits":{"RunInstances":50}}
//
// Capacity faults: no_stock makes RunInstances/CreateInstance answer 403
// OperationDenied.NoStock and DescribeAvailableResource report SoldOut /
// WithoutStock; not_on_sale (the zone no longer sells the type) answers 403
// Zone.NotOnSale and reports SoldOut / ClosedWithoutStock. Keys have the same
// shape (InstanceType and/or ZoneId, empty = any; SpotOnly for spot requests
// only). conflict is a per-Action probability of 409 OperationConflict (a
// conflicting operation is in progress on the resource), answered before the
// action runs, so nothing is applied; it is a fault only: the emulator never
// answers OperationConflict on its own (an operation on an instance in a
// transitional state gets IncorrectInstanceStatus).
//
// The same operations exist in Go: Server.Stats, Instances, Instance, Kill,
// Preempt, Advance, SetFaults, Disks, Images.
//
// # Layout
//
// This package is the wire front: HTTP and the listener limits
// (Options.ReadTimeout, MaxConns, ...), the HMAC-SHA1 and ACS3 signatures,
// parameter decoding, JSON/XML encoding, the action table and the control
// API, plus the public configuration (Options, Catalog, Faults). The state
// it serves lives in emulator/internal/state: the records, the store with
// its lock, IP pools, tag index, security groups, issued STS keys, the
// emulated clock and the state file. Actions validate their parameters,
// then change the state only through its operations, and read records to
// build answers. State operations refuse with typed errors (state.Error: a
// kind and a resource); ecsError in errors.go is the one place that turns
// them into ECS errors (Code, HTTP status, Message; Recommend is added when
// the answer is written). Fault injection and call statistics stay here:
// they decide wire answers, not state. emulator/emuctl is the
// Go client of the control API.
//
// Differences from real ECS are marked BUG(emulator) in the source and
// listed by go doc.
package emulator
