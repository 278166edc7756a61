package instance

import "infrakit.aliyun/internal/ecs"

// Small tag and status helpers shared by the plugin's parts; they call
// nothing else in the package.

// mergeTags is the union of maps; a later map's value wins.
func mergeTags(maps ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range maps {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// skippedStatus are states of instances that are on their way out.
var skippedStatus = map[string]bool{"Deleted": true, "Deleting": true, "Released": true}

// hasTags tells whether have carries every tag of want.
func hasTags(have, want map[string]string) bool {
	for k, v := range want {
		if h, ok := have[k]; !ok || h != v {
			return false
		}
	}
	return true
}

func carriesAll(have []ecs.Tag, want map[string]string) bool {
	for k, v := range want {
		found := false
		for _, h := range have {
			if h.Key == k {
				found = h.Value == v
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// tagValue is the value of key in a tag list ("" when absent).
func tagValue(tags []ecs.Tag, key string) string {
	for _, t := range tags {
		if t.Key == key {
			return t.Value
		}
	}
	return ""
}
