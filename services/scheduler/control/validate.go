package control

import (
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/ecsapi"
)

// clusterNameRE: up to 255 letters (uppercase and lowercase), numbers,
// underscores, and hyphens.
var clusterNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,255}$`)

func validClusterName(name string) bool { return clusterNameRE.MatchString(name) }

// checkSettings validates cluster settings: only containerInsights, with
// value enabled, disabled or enhanced.
func checkSettings(settings []ecsapi.ClusterSetting) error {
	for _, st := range settings {
		if st.Name != events.ClusterSettingContainerInsights {
			return invalid(msgSettingName)
		}
		switch st.Value {
		case events.ContainerInsightsEnabled, events.ContainerInsightsDisabled, events.ContainerInsightsEnhanced:
		default:
			return invalid(msgSettingValue)
		}
	}
	return nil
}

// mergeSettings applies updates to cur by name and returns a new slice.
func mergeSettings(cur []events.ClusterSetting, updates []ecsapi.ClusterSetting) []events.ClusterSetting {
	out := append([]events.ClusterSetting{}, cur...)
next:
	for _, u := range updates {
		for i := range out {
			if out[i].Name == u.Name {
				out[i].Value = u.Value
				continue next
			}
		}
		out = append(out, events.ClusterSetting{Name: u.Name, Value: u.Value})
	}
	return out
}

// fargateProviders are the capacity providers every account has.
var fargateProviders = map[string]bool{"FARGATE": true, "FARGATE_SPOT": true}

// checkCapacity validates the capacity providers of a new cluster (only the
// reserved FARGATE and FARGATE_SPOT exist in Berth for now) and its default
// strategy, which may only name those providers.
func checkCapacity(providers []string, strategy []ecsapi.CapacityProviderStrategyItem) error {
	for _, p := range providers {
		if !fargateProviders[p] {
			return invalid(msgUnknownCapProvider, p)
		}
	}
	seen := map[string]bool{}
	bases := 0
	for _, it := range strategy {
		if !fargateProviders[it.CapacityProvider] || !contains(providers, it.CapacityProvider) {
			return invalid(msgStrategyNotAttached)
		}
		if seen[it.CapacityProvider] {
			return invalid(msgStrategyDuplicate)
		}
		seen[it.CapacityProvider] = true
		if it.Weight != nil && (*it.Weight < 0 || *it.Weight > 1000) {
			return invalid(msgStrategyWeight)
		}
		if it.Base != nil {
			if *it.Base < 0 || *it.Base > 100000 {
				return invalid(msgStrategyBase)
			}
			if *it.Base > 0 {
				bases++
			}
		}
	}
	if bases > 1 {
		return invalid(msgStrategyOneBase)
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// checkConfiguration validates the execute-command logging mode.
func checkConfiguration(c *ecsapi.ClusterConfiguration) error {
	if c == nil || c.ExecuteCommandConfiguration == nil {
		return nil
	}
	switch c.ExecuteCommandConfiguration.Logging {
	case "", "NONE", "DEFAULT", "OVERRIDE":
		return nil
	}
	return invalid(msgExecLogging)
}

// Tag rules (the ECS model and the tagging docs): at most 50 tags per
// resource, keys 1-128 and values 0-256 Unicode characters from the set
// below, and no key or value beginning with "aws:" in any letter case.
const maxTags = 50

var tagCharsRE = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`)

func reserved(s string) bool { return len(s) >= 4 && strings.EqualFold(s[:4], "aws:") }

// checkTags validates the tags of one request (their positions in messages
// count from 1, as AWS's do).
func checkTags(tags []ecsapi.Tag) error {
	if len(tags) > maxTags {
		return invalid(msgTooManyTags)
	}
	seen := make(map[string]bool, len(tags))
	for i, t := range tags {
		n := i + 1
		switch k := utf8.RuneCountInString(t.Key); {
		case k < 1:
			return invalid(msgTagKeyShort, n)
		case k > 128:
			return invalid(msgTagKeyLong, n)
		case !tagCharsRE.MatchString(t.Key):
			return invalid(msgTagKeyPattern, t.Key, n)
		case reserved(t.Key):
			return invalid(msgTagKeyReserved)
		}
		switch {
		case utf8.RuneCountInString(t.Value) > 256:
			return invalid(msgTagValLong, n)
		case !tagCharsRE.MatchString(t.Value):
			return invalid(msgTagValPattern, t.Value, n)
		case reserved(t.Value):
			return invalid(msgTagValReserved)
		}
		if seen[t.Key] {
			return invalid(msgTagDuplicate, t.Key)
		}
		seen[t.Key] = true
	}
	return nil
}

// checkTagKeys validates the keys of an UntagResource.
func checkTagKeys(keys []string) error {
	if len(keys) == 0 {
		return invalid(msgTagKeysEmpty)
	}
	for i, k := range keys {
		switch n := utf8.RuneCountInString(k); {
		case n < 1:
			return invalid(msgUntagKeyShort, i+1)
		case n > 128:
			return invalid(msgUntagKeyLong, i+1)
		case reserved(k):
			return invalid(msgTagKeyReserved)
		}
	}
	return nil
}

// mergeTags returns cur with tags added or overwritten by key (later wins),
// keeping the order of first appearance.
func mergeTags(cur, add []ecsapi.Tag) []ecsapi.Tag {
	out := append([]ecsapi.Tag{}, cur...)
	idx := make(map[string]int, len(out))
	for i, t := range out {
		idx[t.Key] = i
	}
	for _, t := range add {
		if i, ok := idx[t.Key]; ok {
			out[i].Value = t.Value
			continue
		}
		idx[t.Key] = len(out)
		out = append(out, t)
	}
	return out
}

// removeTags returns cur without the given keys.
func removeTags(cur []ecsapi.Tag, keys []string) []ecsapi.Tag {
	out := []ecsapi.Tag{}
	for _, t := range cur {
		if !contains(keys, t.Key) {
			out = append(out, t)
		}
	}
	return out
}
