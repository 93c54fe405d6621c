package svc

import "runtime/debug"

// DefaultGOGC is the garbage collector's target (the GOGC percentage) that
// Berth's binaries run with unless the GOGC environment variable is set. It
// trades memory for CPU: the heap may grow to five times the live data
// between collections instead of twice, and under the scheduler's placement
// load the collector's background marking falls from about 10 % of the CPU to
// about 2 % (BENCHMARKS.md, "Issue 16 point 4, sixth round"). GOMEMLIMIT
// still bounds the heap where it is set (compose.yaml sets it for every
// service).
const DefaultGOGC = 400

// DefaultGC sets the collector's target to DefaultGOGC unless getenv has
// GOGC (which the runtime has applied already), and returns a function that
// puts the previous target back.
func DefaultGC(getenv func(string) string) (restore func()) {
	if getenv("GOGC") != "" {
		return func() {}
	}
	old := debug.SetGCPercent(DefaultGOGC)
	return func() { debug.SetGCPercent(old) }
}
