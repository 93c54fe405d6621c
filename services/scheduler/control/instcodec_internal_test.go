package control

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/ecsapi"
)

// TestInstanceCodec: a record stored with its capability attributes under
// caps decodes to the record it was, attributes in name order; a record
// stored before caps existed decodes as it always did; a capability with a
// value stays among the attributes.
func TestInstanceCodec(t *testing.T) {
	attrs := []ecsapi.Attribute{
		{Name: "a.custom", Value: "1"},
		{Name: capabilityPrefix + "docker-remote-api.1.17"},
		{Name: capabilityPrefix + "logging-driver.awslogs"},
		{Name: capabilityPrefix + "m.valued", Value: "x"},
		{Name: capabilityPrefix + "task-iam-role"},
		{Name: "ecs.availability-zone", Value: "us-east-1a"},
		{Name: "zz.custom"},
	}
	rec := &events.InstanceRecord{ID: "i1", Cluster: "c", Status: events.InstanceActive, RemainingCPU: 100, Attributes: attrs, Version: 3}
	stored := mustJSON(instanceValue(rec))
	var raw map[string]any
	if err := json.Unmarshal(stored, &raw); err != nil {
		t.Fatal(err)
	}
	if caps, _ := raw["caps"].([]any); len(caps) != 3 {
		t.Fatalf("stored caps %v, want the three capabilities without a value", raw["caps"])
	}
	if strings.Count(string(stored), capabilityPrefix) != 1 {
		t.Fatalf("stored %s: the prefix should appear once (the valued capability)", stored)
	}
	if !reflect.DeepEqual(rec.Attributes, attrs) {
		t.Fatal("instanceValue changed the record it stores")
	}
	got, err := decodeInstance(stored)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, rec) {
		t.Fatalf("decoded %+v, want %+v", got, rec)
	}
	// The form stored before caps.
	old, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	got, err = decodeInstance(old)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, rec) {
		t.Fatalf("old form decoded %+v, want %+v", got, rec)
	}
	// Nothing to move: stored as is.
	plain := &events.InstanceRecord{ID: "i2", Attributes: []ecsapi.Attribute{{Name: "ecs.os-type", Value: "linux"}}}
	if v := instanceValue(plain); v.InstanceRecord != plain || v.Caps != nil {
		t.Fatalf("a record without capabilities was copied: %+v", v)
	}
	for _, bad := range []string{`[]`, `{"caps":7}`, `{`} {
		if _, err := decodeInstance([]byte(bad)); err == nil {
			t.Errorf("decodeInstance(%s) succeeded", bad)
		}
	}
}
