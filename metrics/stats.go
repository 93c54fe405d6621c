package metrics

import (
	"math"
	"regexp"
	"sort"
	"strconv"
	"time"

	"github.com/berth-project/berth/events"
)

// standardStats are the five statistics, in the enum order AWS prints.
var standardStats = []string{"SampleCount", "Average", "Sum", "Minimum", "Maximum"}

func isStandard(s string) bool {
	for _, x := range standardStats {
		if x == s {
			return true
		}
	}
	return false
}

// percentileRE matches the extended statistics Berth computes: pNN(.NN).
var percentileRE = regexp.MustCompile(`^p(\d{1,2}(\.\d{1,10})?|100)$`)

func percentileOf(stat string) (float64, bool) {
	m := percentileRE.FindStringSubmatch(stat)
	if m == nil {
		return 0, false
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil || v < 0 || v > 100 {
		return 0, false
	}
	return v, true
}

// agg accumulates the datapoints of one period.
type agg struct {
	count, sum, min, max float64
	values, counts       []float64
	// exact is false once a statistic set without values was added: no
	// percentiles then.
	exact bool
	unit  string
}

func newAgg() *agg { return &agg{min: math.Inf(1), max: math.Inf(-1), exact: true} }

func (a *agg) add(p events.StoredPoint) {
	a.count += p.Count
	a.sum += p.Sum
	a.min = math.Min(a.min, p.Min)
	a.max = math.Max(a.max, p.Max)
	if a.unit == "" {
		a.unit = p.Unit
	}
	if len(p.Values) == 0 {
		a.exact = false
		return
	}
	a.values = append(a.values, p.Values...)
	if len(p.Counts) == len(p.Values) {
		a.counts = append(a.counts, p.Counts...)
	} else {
		for range p.Values {
			a.counts = append(a.counts, 1)
		}
	}
}

// stat returns statistic s of the period (ok false when it has no value,
// e.g. a percentile of statistic sets).
func (a *agg) stat(s string) (float64, bool) {
	switch s {
	case "SampleCount":
		return a.count, true
	case "Sum":
		return a.sum, true
	case "Minimum":
		return a.min, true
	case "Maximum":
		return a.max, true
	case "Average":
		if a.count == 0 {
			return 0, false
		}
		return a.sum / a.count, true
	}
	p, ok := percentileOf(s)
	if !ok || !a.exact || len(a.values) == 0 {
		return 0, false
	}
	return a.percentile(p), true
}

// percentile is the nearest-rank percentile of the weighted values.
func (a *agg) percentile(p float64) float64 {
	idx := make([]int, len(a.values))
	var total float64
	for i := range idx {
		idx[i] = i
		total += a.counts[i]
	}
	sort.Slice(idx, func(i, j int) bool { return a.values[idx[i]] < a.values[idx[j]] })
	rank := math.Ceil(p / 100 * total)
	if rank < 1 {
		rank = 1
	}
	var seen float64
	for _, i := range idx {
		seen += a.counts[i]
		if seen >= rank {
			return a.values[i]
		}
	}
	return a.values[idx[len(idx)-1]]
}

// bucket groups points into periods starting at start and returns the
// periods in time order.
func bucket(points []events.StoredPoint, start time.Time, period time.Duration, unit string) ([]time.Time, map[time.Time]*agg) {
	out := map[time.Time]*agg{}
	var order []time.Time
	for _, p := range points {
		if unit != "" && p.Unit != unit && !(unit == "None" && p.Unit == "") {
			continue
		}
		k := start.Add(p.Time.Sub(start) / period * period)
		a := out[k]
		if a == nil {
			a = newAgg()
			out[k] = a
			order = append(order, k)
		}
		a.add(p)
	}
	sort.Slice(order, func(i, j int) bool { return order[i].Before(order[j]) })
	return order, out
}

// alignStart rounds a query's start the way CloudWatch does: to the second
// for high-resolution periods, to the minute below an hour, to the hour for
// hourly or longer periods (relative to the epoch).
func alignStart(t time.Time, period time.Duration) time.Time {
	switch {
	case period < time.Minute:
		return t.Truncate(time.Second)
	case period < time.Hour:
		return t.Truncate(time.Minute)
	default:
		return t.Truncate(time.Hour)
	}
}

// validPeriod reports whether period (seconds) is allowed: 1, 5, 10, 30 or
// a multiple of 60.
func validPeriod(p int64) bool {
	switch p {
	case 1, 5, 10, 30:
		return true
	}
	return p >= 60 && p%60 == 0
}

// retentionFloor is the oldest datapoint a period may read, as CloudWatch
// keeps them: high-resolution (sub-minute) periods only see the last 3
// hours.
func retentionFloor(now time.Time, period time.Duration) time.Time {
	if period < time.Minute {
		return now.Add(-3 * time.Hour)
	}
	return now.Add(-15 * 24 * time.Hour)
}
