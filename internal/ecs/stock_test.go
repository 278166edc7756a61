package ecs

import (
	"encoding/json"
	"reflect"
	"sort"
	"testing"

	"infrakit.aliyun/internal/ecs/ecstest"
)

func TestResourceInStock(t *testing.T) {
	for _, tc := range []struct {
		r       Resource
		label   string
		inStock bool
	}{
		{Resource{Status: "Available", StatusCategory: "WithStock"}, "WithStock", true},
		{Resource{Status: "Available", StatusCategory: "ClosedWithStock"}, "ClosedWithStock", true},
		{Resource{Status: "SoldOut", StatusCategory: "WithoutStock"}, "WithoutStock", false},
		{Resource{Status: "SoldOut", StatusCategory: "ClosedWithoutStock"}, "ClosedWithoutStock", false},
		{Resource{Status: "Available"}, "Available", true},
		{Resource{Status: "SoldOut"}, "SoldOut", false},
		{Resource{StatusCategory: "WithStock"}, "WithStock", true},
		{Resource{StatusCategory: "ClosedWithStock"}, "ClosedWithStock", true},
		{Resource{StatusCategory: "WithoutStock"}, "WithoutStock", false},
		{Resource{Status: "SoldOut", StatusCategory: "ClosedWithStock"}, "ClosedWithStock", false},
		{Resource{Status: "Available", StatusCategory: "WithoutStock"}, "WithoutStock", true},
		{Resource{}, "", false},
	} {
		if got := tc.r.Label(); got != tc.label {
			t.Errorf("%+v: label %q, want %q", tc.r, got, tc.label)
		}
		if got := tc.r.InStock(); got != tc.inStock {
			t.Errorf("%+v: in stock %v, want %v", tc.r, got, tc.inStock)
		}
	}
}

func TestAvailableResourceAnswerStock(t *testing.T) {
	body, err := json.Marshal(ecstest.StockAnswer("cn-hangzhou-h"))
	if err != nil {
		t.Fatal(err)
	}
	var a AvailableResourceAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		t.Fatal(err) // Min and Max are numbers: must not break the decode
	}
	stock := a.Stock("InstanceType")
	if len(stock["cn-hangzhou-h"]) != 6 {
		t.Fatalf("want 6 types in the zone, got %v", stock)
	}
	var in []string
	for v := range stock.InStock()["cn-hangzhou-h"] {
		in = append(in, v)
	}
	sort.Strings(in)
	want := append([]string(nil), ecstest.StockAnswerInStock...)
	sort.Strings(want)
	if !reflect.DeepEqual(in, want) {
		t.Fatalf("in stock %v, want %v", in, want)
	}
	if got := a.Stock("Zone"); len(got["cn-hangzhou-h"]) != 0 {
		t.Fatalf("resources of another type read: %v", got)
	}
}
