package state

import (
	"reflect"
	"testing"
)

func TestQuotaProperties(t *testing.T) {
	limits := []QuotaLimit{{Path: "/a", HardLimit: 10, SoftLimit: 8, Used: 9, Available: 1, SoftExceeded: true}}
	props := func(v *Volume) (bool, []QuotaLimit) {
		o := appendVolumeObjects(nil, v)[0]
		return o.Prop("QuotaEnabled").(bool), o.Prop("QuotaLimits").([]QuotaLimit)
	}
	v := &Volume{Name: "v", Options: map[string]string{"features.quota": "on"}, QuotaLimits: limits}
	if on, got := props(v); !on || !reflect.DeepEqual(got, limits) {
		t.Fatalf("on: %v %v", on, got)
	}
	v.Options = map[string]string{"features.quota": "off"}
	if on, got := props(v); on || got == nil || len(got) != 0 {
		t.Fatalf("off: %v %v (limits must be empty, not nil)", on, got)
	}
	v.Options["features.quota"] = "on"
	v.QuotaLimits = nil
	if _, got := props(v); got == nil {
		t.Fatal("nil limits")
	}
	changed := limits[0]
	changed.Used = 10
	if Equal(limits, []QuotaLimit{changed}) || !Equal(limits, []QuotaLimit{limits[0]}) {
		t.Fatal("Equal on quota limits")
	}
}
