package metrics

import "sync/atomic"

// counters are the service's own health numbers.
type counters struct {
	datapointsPut atomic.Int64
}

func (c *counters) putDatapoints(n int) { c.datapointsPut.Add(int64(n)) }
