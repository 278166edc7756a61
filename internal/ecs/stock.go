package ecs

// Status and StatusCategory values of a DescribeAvailableResource
// SupportedResource, as documented for the API.
const (
	StatusAvailable = "Available" // can be created now
	StatusSoldOut   = "SoldOut"   // cannot be created now

	CategoryWithStock          = "WithStock"          // ample stock
	CategoryClosedWithStock    = "ClosedWithStock"    // low stock, not replenished
	CategoryWithoutStock       = "WithoutStock"       // sold out, to be replenished
	CategoryClosedWithoutStock = "ClosedWithoutStock" // sold out for good
)

// Resource is one resource (an instance type, for DestinationResource
// InstanceType) that DescribeAvailableResource reports in one zone.
type Resource struct {
	Zone           string
	Value          string // e.g. the instance type ID
	Status         string // StatusAvailable or StatusSoldOut
	StatusCategory string // Category*; may be empty in older answers
}

// InStock reports whether RunInstances can create this resource now.
//
// ECS documents Status as the answer to exactly that question (Available
// or SoldOut) and StatusCategory as a finer reading of it: WithStock and
// ClosedWithStock come with Available, WithoutStock and ClosedWithoutStock
// with SoldOut. So Status decides; StatusCategory is read only when an
// answer carries no Status. (The operator commands used to go by
// StatusCategory and the plugin's capacity fallback by Status alone, so
// the two could disagree about the same answer; both now call this.)
func (r Resource) InStock() bool {
	switch r.Status {
	case StatusAvailable:
		return true
	case "":
		return r.StatusCategory == CategoryWithStock || r.StatusCategory == CategoryClosedWithStock
	}
	return false
}

// Label is how the stock is shown to an operator: the finer StatusCategory
// when the answer has one, else Status.
func (r Resource) Label() string {
	if r.StatusCategory != "" {
		return r.StatusCategory
	}
	return r.Status
}

// Stock is a DescribeAvailableResource answer read: zone -> value ->
// resource.
type Stock map[string]map[string]Resource

// InStock returns, per zone, the values in stock there (Resource.InStock).
// A zone the answer lists with nothing in stock maps to an empty set.
func (s Stock) InStock() map[string]map[string]bool {
	out := make(map[string]map[string]bool, len(s))
	for zone, values := range s {
		in := map[string]bool{}
		for v, r := range values {
			if r.InStock() {
				in[v] = true
			}
		}
		out[zone] = in
	}
	return out
}

// AvailableResourceAnswer is the body of a DescribeAvailableResource
// answer, to be decoded into (embed it next to the client's RequestId
// holder) and read with Stock. It decodes only what is read: aliyungo's
// typed response cannot decode real answers (it declares Min and Max as
// strings; the API sends numbers).
type AvailableResourceAnswer struct {
	AvailableZones struct {
		AvailableZone []availableZone
	}
}

type availableZone struct {
	ZoneId             string
	AvailableResources struct {
		AvailableResource []struct {
			Type               string
			SupportedResources struct {
				SupportedResource []struct {
					Value          string
					Status         string
					StatusCategory string
				}
			}
		}
	}
}

// Stock reads the answer's resources of the given type (e.g.
// "InstanceType"); resources without a type are taken to be of it. Every
// zone the answer lists is in the result, even with no resources.
func (a *AvailableResourceAnswer) Stock(resourceType string) Stock {
	stock := Stock{}
	for _, z := range a.AvailableZones.AvailableZone {
		values := stock[z.ZoneId]
		if values == nil {
			values = map[string]Resource{}
			stock[z.ZoneId] = values
		}
		for _, r := range z.AvailableResources.AvailableResource {
			if r.Type != "" && r.Type != resourceType {
				continue
			}
			for _, s := range r.SupportedResources.SupportedResource {
				values[s.Value] = Resource{Zone: z.ZoneId, Value: s.Value, Status: s.Status, StatusCategory: s.StatusCategory}
			}
		}
	}
	return stock
}
