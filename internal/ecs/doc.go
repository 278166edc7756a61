// Package ecs is the house's seam to Alibaba Cloud ECS: every call the
// product makes, and what it reads of the answers, in flat types of its
// own (Instance, Disk, Image, InstanceType, Stock); ECS's wire structs stay
// unexported here.
//
// API is the one interface of those calls, made of the groups its
// consumers use (InstanceAPI for the plugin's SPI methods, CapacityAPI for
// the capacity fallbacks, SpotAPI for spot reclaim and kept data). Adapter
// implements it over aliyungo: request encoding (sorted Tag.N, booleans only
// when set, UserData encoded per attempt), paging, one retry policy
// (RetryPolicy, injectable timer) and rate limit, a call timeout, error
// classification by ECS code (APIError, Temporary, MayHaveActed for
// RunInstances answers that may have been lost) and scrubbing of signed
// URLs (Scrub). internal/inventory's operator commands use the same policy,
// classification and stock reading (Resource.InStock).
package ecs
