package control

import (
	"strings"
	"testing"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/awsjson"
	"github.com/berth-project/berth/events/ecsapi"
	"github.com/berth-project/berth/internal/apierr"
)

func TestValidClusterName(t *testing.T) {
	for name, want := range map[string]bool{
		"default": true, "a": true, "A-b_C-9": true, strings.Repeat("x", 255): true,
		"": false, strings.Repeat("x", 256): false, "a.b": false, "a b": false, "a/b": false, "a:b": false, "é": false,
	} {
		if got := validClusterName(name); got != want {
			t.Errorf("%q: got %v", name, got)
		}
	}
}

func TestCheckTags(t *testing.T) {
	tag := func(k, v string) ecsapi.Tag { return ecsapi.Tag{Key: k, Value: v} }
	fifty := make([]ecsapi.Tag, 50)
	for i := range fifty {
		fifty[i] = tag(strings.Repeat("k", i+1), "v")
	}
	cases := []struct {
		name string
		tags []ecsapi.Tag
		ok   bool
	}{
		{"none", nil, true},
		{"fifty", fifty, true},
		{"unicode and symbols", []ecsapi.Tag{tag("clé é_.:/=+-@", "välue with spaces")}, true},
		{"empty value", []ecsapi.Tag{tag("k", "")}, true},
		{"128 runes key", []ecsapi.Tag{tag(strings.Repeat("é", 128), "v")}, true},
		{"256 runes value", []ecsapi.Tag{tag("k", strings.Repeat("é", 256))}, true},
		{"fifty-one", append(fifty, tag("one-more", "v")), false},
		{"empty key", []ecsapi.Tag{tag("", "v")}, false},
		{"129 runes key", []ecsapi.Tag{tag(strings.Repeat("é", 129), "v")}, false},
		{"257 runes value", []ecsapi.Tag{tag("k", strings.Repeat("é", 257))}, false},
		{"key character", []ecsapi.Tag{tag("a*b", "v")}, false},
		{"value character", []ecsapi.Tag{tag("k", "a;b")}, false},
		{"aws: key", []ecsapi.Tag{tag("aws:x", "v")}, false},
		{"AwS: key", []ecsapi.Tag{tag("AwS:x", "v")}, false},
		{"aws: value", []ecsapi.Tag{tag("k", "AWS:v")}, false},
		{"aws without colon", []ecsapi.Tag{tag("awsome", "aws")}, true},
		{"duplicate key", []ecsapi.Tag{tag("k", "1"), tag("k", "2")}, false},
	}
	for _, c := range cases {
		err := checkTags(c.tags)
		if c.ok != (err == nil) {
			t.Errorf("%s: got %v", c.name, err)
		}
		if err != nil && !apierr.HasCode(err, events.CodeInvalidParameter) {
			t.Errorf("%s: code of %v", c.name, err)
		}
	}
	if err := checkTags([]ecsapi.Tag{tag("ok", "v"), tag("", "v")}); err == nil || !strings.Contains(err.Error(), "tags.2.member.key") {
		t.Errorf("position: %v", err)
	}
}

func TestCheckTagKeys(t *testing.T) {
	for _, c := range []struct {
		keys []string
		ok   bool
	}{
		{[]string{"a", "b"}, true},
		{nil, false},
		{[]string{""}, false},
		{[]string{strings.Repeat("k", 129)}, false},
		{[]string{"aws:x"}, false},
	} {
		if err := checkTagKeys(c.keys); c.ok != (err == nil) {
			t.Errorf("%q: %v", c.keys, err)
		}
	}
}

func TestMergeAndRemoveTags(t *testing.T) {
	tag := func(k, v string) ecsapi.Tag { return ecsapi.Tag{Key: k, Value: v} }
	cur := []ecsapi.Tag{tag("a", "1"), tag("b", "2")}
	got := mergeTags(cur, []ecsapi.Tag{tag("b", "20"), tag("c", "30")})
	want := []ecsapi.Tag{tag("a", "1"), tag("b", "20"), tag("c", "30")}
	if len(got) != len(want) {
		t.Fatalf("merge: %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("merge: %v", got)
		}
	}
	if cur[1].Value != "2" {
		t.Fatal("merge changed its input")
	}
	if got := removeTags(want, []string{"a", "zz"}); len(got) != 2 || got[0].Key != "b" {
		t.Fatalf("remove: %v", got)
	}
	if got := removeTags(nil, []string{"a"}); got == nil {
		t.Fatal("remove: want an empty list, not nil")
	}
}

func TestCheckSettingsAndMerge(t *testing.T) {
	st := func(n, v string) ecsapi.ClusterSetting { return ecsapi.ClusterSetting{Name: n, Value: v} }
	for _, c := range []struct {
		in  []ecsapi.ClusterSetting
		msg string
	}{
		{[]ecsapi.ClusterSetting{st("containerInsights", "enabled"), st("containerInsights", "enhanced"), st("containerInsights", "disabled")}, ""},
		{[]ecsapi.ClusterSetting{st("containerinsights", "enabled")}, msgSettingName},
		{[]ecsapi.ClusterSetting{st("containerInsights", "Enabled")}, msgSettingValue},
		{[]ecsapi.ClusterSetting{st("containerInsights", "")}, msgSettingValue},
	} {
		err := checkSettings(c.in)
		if c.msg == "" && err != nil || c.msg != "" && (err == nil || !strings.HasSuffix(err.Error(), c.msg)) {
			t.Errorf("%v: %v", c.in, err)
		}
	}
	cur := []events.ClusterSetting{{Name: "containerInsights", Value: "disabled"}}
	got := mergeSettings(cur, []ecsapi.ClusterSetting{st("containerInsights", "enabled")})
	if len(got) != 1 || got[0].Value != "enabled" || cur[0].Value != "disabled" {
		t.Fatalf("merge: %v (input %v)", got, cur)
	}
}

func TestCheckCapacity(t *testing.T) {
	item := func(p string, w, b int32) ecsapi.CapacityProviderStrategyItem {
		return ecsapi.CapacityProviderStrategyItem{CapacityProvider: p, Weight: awsjson.Int32(w), Base: awsjson.Int32(b)}
	}
	both := []string{"FARGATE", "FARGATE_SPOT"}
	for _, c := range []struct {
		name      string
		providers []string
		strategy  []ecsapi.CapacityProviderStrategyItem
		ok        bool
	}{
		{"empty", nil, nil, true},
		{"fargate", both, []ecsapi.CapacityProviderStrategyItem{item("FARGATE", 1, 2), item("FARGATE_SPOT", 3, 0)}, true},
		{"unknown provider", []string{"asg-1"}, nil, false},
		{"not attached", []string{"FARGATE"}, []ecsapi.CapacityProviderStrategyItem{item("FARGATE_SPOT", 1, 0)}, false},
		{"duplicate", both, []ecsapi.CapacityProviderStrategyItem{item("FARGATE", 1, 0), item("FARGATE", 1, 0)}, false},
		{"weight", both, []ecsapi.CapacityProviderStrategyItem{item("FARGATE", 1001, 0)}, false},
		{"negative base", both, []ecsapi.CapacityProviderStrategyItem{item("FARGATE", 1, -1)}, false},
		{"two bases", both, []ecsapi.CapacityProviderStrategyItem{item("FARGATE", 1, 1), item("FARGATE_SPOT", 1, 1)}, false},
	} {
		if err := checkCapacity(c.providers, c.strategy); c.ok != (err == nil) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

func TestPageToken(t *testing.T) {
	tok := encodePageToken("ListClusters", "c03")
	if after, err := decodePageToken("ListClusters", tok); err != nil || after != "c03" {
		t.Fatalf("round trip: %q %v", after, err)
	}
	if after, err := decodePageToken("ListClusters", ""); err != nil || after != "" {
		t.Fatalf("empty: %q %v", after, err)
	}
	for _, bad := range []string{"x", "%%", encodePageToken("ListTasks", "c03"), encodePageToken("ListClusters", "")} {
		if _, err := decodePageToken("ListClusters", bad); !apierr.HasCode(err, events.CodeInvalidParameter) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	for _, c := range []struct {
		in   *int32
		want int
		ok   bool
	}{{nil, 100, true}, {awsjson.Int32(1), 1, true}, {awsjson.Int32(100), 100, true}, {awsjson.Int32(0), 0, false}, {awsjson.Int32(101), 0, false}} {
		got, err := pageSize(c.in)
		if got != c.want || c.ok != (err == nil) {
			t.Errorf("pageSize(%v) = %d, %v", awsjson.Value(c.in), got, err)
		}
	}
}

func TestStatistics_Names(t *testing.T) {
	got := statistics(Counts{Tasks: TaskCounts{RunningFargate: 5}})
	if len(got) != 8 || got[1].Name != "RunningFargateTasksCount" || got[1].Value != "5" || got[0].Value != "0" {
		t.Fatalf("statistics: %+v", got)
	}
}
