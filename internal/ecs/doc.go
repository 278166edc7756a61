// Package ecs is the house's seam to Alibaba Cloud ECS: what the product
// reads from ECS answers, decoded once, in flat types of its own, so no
// other package reads ECS wire structs.
//
// So far it holds the reading of DescribeAvailableResource (Stock,
// Resource.InStock) shared by the plugin's capacity fallback
// (plugin/instance) and the operator's `instance-types --available` and
// `validate --online` (internal/inventory). The request side (the adapter,
// its paging, retries and error classification) still lives in
// plugin/instance; see README's layout section.
package ecs
