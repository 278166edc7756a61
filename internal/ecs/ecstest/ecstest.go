// Package ecstest holds ECS answers shared by the tests of the packages
// that read them through internal/ecs, so each shows it reads the same
// answer the same way.
package ecstest

// StockAnswer is a DescribeAvailableResource (DestinationResource
// InstanceType) answer in one zone with every Status/StatusCategory
// combination the two former readings disagreed on, as JSON-ready maps.
func StockAnswer(zone string) map[string]interface{} {
	res := func(v, status, category string) map[string]interface{} {
		m := map[string]interface{}{"Value": v, "Min": 1, "Max": 2}
		if status != "" {
			m["Status"] = status
		}
		if category != "" {
			m["StatusCategory"] = category
		}
		return m
	}
	return map[string]interface{}{"RequestId": "req-stock", "AvailableZones": map[string]interface{}{"AvailableZone": []map[string]interface{}{
		{"ZoneId": zone, "Status": "Available", "StatusCategory": "WithStock", "AvailableResources": map[string]interface{}{"AvailableResource": []map[string]interface{}{
			{"Type": "InstanceType", "SupportedResources": map[string]interface{}{"SupportedResource": []map[string]interface{}{
				res("ecs.g6.large", "Available", "WithStock"),
				res("ecs.g6.xlarge", "Available", "ClosedWithStock"),
				res("ecs.c6.large", "SoldOut", "WithoutStock"),
				res("ecs.c6.xlarge", "SoldOut", "ClosedWithoutStock"),
				res("ecs.r6.large", "", "WithStock"),               // no Status: went by category
				res("ecs.r6.xlarge", "SoldOut", "ClosedWithStock"), // inconsistent: Status decides
			}}}}}}}}}
}

// StockAnswerInStock is what StockAnswer has in stock.
var StockAnswerInStock = []string{"ecs.g6.large", "ecs.g6.xlarge", "ecs.r6.large"}
