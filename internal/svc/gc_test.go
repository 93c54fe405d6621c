package svc

import (
	"runtime/debug"
	"testing"
)

// gcPercent reads the collector's target without changing it.
func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

func TestDefaultGC(t *testing.T) {
	before := gcPercent()
	restore := DefaultGC(func(string) string { return "" })
	if got := gcPercent(); got != DefaultGOGC {
		t.Errorf("GOGC unset: target %d, want %d", got, DefaultGOGC)
	}
	restore()
	if got := gcPercent(); got != before {
		t.Errorf("after restore: target %d, want %d", got, before)
	}

	restore = DefaultGC(func(k string) string {
		if k == "GOGC" {
			return "50"
		}
		return ""
	})
	defer restore()
	if got := gcPercent(); got != before {
		t.Errorf("GOGC set: target %d changed from %d", got, before)
	}
}
