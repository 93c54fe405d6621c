package metrics

import (
	"context"
	"encoding/base64"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/awsjson"
	"github.com/berth-project/berth/internal/apierr"
	"github.com/berth-project/berth/internal/natsutil"
)

// Limits CloudWatch applies.
const (
	maxDatumsPerPut     = 1000
	maxValuesPerDatum   = 150
	maxDimensions       = 30
	maxStatDatapoints   = 1440
	maxDataDatapoints   = 100800
	maxQueries          = 500
	listPageSize        = 500
	maxDimensionLength  = 1024
	maxNamespaceLength  = 255
	maxMetricNameLength = 255
)

func missing(param string) error {
	return apierr.New(events.CodeCWMissingParameter, "The parameter %s is required.", param)
}

func invalidValue(format string, args ...any) error {
	return apierr.New(events.CodeCWInvalidParameterValue, format, args...)
}

func invalidCombination(format string, args ...any) error {
	return apierr.New(events.CodeCWInvalidParameterCombination, format, args...)
}

var validUnits = map[string]bool{}

func init() {
	for _, u := range strings.Split("Seconds Microseconds Milliseconds Bytes Kilobytes Megabytes Gigabytes Terabytes Bits Kilobits Megabits Gigabits Terabits Percent Count Bytes/Second Kilobytes/Second Megabytes/Second Gigabytes/Second Terabytes/Second Bits/Second Kilobits/Second Megabits/Second Gigabits/Second Terabits/Second Count/Second None", " ") {
		validUnits[u] = true
	}
}

func checkUnit(param, unit string) error {
	if unit != "" && !validUnits[unit] {
		return apierr.New(events.CodeCWValidationError, "1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must satisfy enum value set: [Megabits, Terabits, Gigabits, Count, Bytes, Gigabytes, Gigabytes/Second, Kilobytes, Kilobits/Second, Terabytes, Terabits/Second, Bytes/Second, Percent, Megabytes, Megabits/Second, Milliseconds, Microseconds, Kilobytes/Second, Gigabits/Second, Megabytes/Second, Bits, Bits/Second, Count/Second, Seconds, Kilobits, Terabytes/Second, None]", unit, param)
	}
	return nil
}

// checkDimensions validates a metric's dimensions (param is the member
// path, e.g. MetricData.member.1.Dimensions).
func checkDimensions(param string, dims []events.Dimension) error {
	if len(dims) > maxDimensions {
		return invalidValue("The collection %s must not have a size greater than %d.", param, maxDimensions)
	}
	seen := map[string]bool{}
	for i, d := range dims {
		p := fmt.Sprintf("%s.member.%d", param, i+1)
		switch {
		case d.Name == "":
			return missing(p + ".Name")
		case d.Value == "":
			return missing(p + ".Value")
		case len(d.Name) > 255 || len(d.Value) > maxDimensionLength:
			return invalidValue("The parameter %s must be shorter than %d characters.", p, maxDimensionLength+1)
		case seen[d.Name]:
			return invalidValue("No metric may have duplicate dimension names: %s.", d.Name)
		}
		seen[d.Name] = true
	}
	return nil
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func (s *Service) putMetricData(ctx context.Context, req *natsutil.Request) (any, error) {
	var in events.PutMetricDataRequest
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	now := s.cfg.Now()
	pts, err := toStored(in, now)
	if err != nil {
		return nil, err
	}
	if err := s.publish(ctx, in.Namespace, pts, "put-"+req.RequestID()); err != nil {
		return nil, err
	}
	s.obs.putDatapoints(len(pts))
	return struct{}{}, nil
}

// toStored validates a PutMetricData request and converts it.
func toStored(in events.PutMetricDataRequest, now time.Time) ([]events.StoredPoint, error) {
	switch {
	case in.Namespace == "":
		return nil, missing("Namespace")
	case len(in.Namespace) > maxNamespaceLength:
		return nil, invalidValue("The parameter Namespace must be shorter than %d characters.", maxNamespaceLength+1)
	case strings.HasPrefix(in.Namespace, "AWS/"):
		return nil, invalidValue("The value %s for parameter Namespace is invalid.", in.Namespace)
	case len(in.MetricData) == 0:
		return nil, missing("MetricData")
	case len(in.MetricData) > maxDatumsPerPut:
		return nil, invalidValue("The collection MetricData must not have a size greater than %d.", maxDatumsPerPut)
	}
	pts := make([]events.StoredPoint, 0, len(in.MetricData))
	for i, d := range in.MetricData {
		p, err := datum(fmt.Sprintf("MetricData.member.%d", i+1), in.Namespace, d, now)
		if err != nil {
			return nil, err
		}
		pts = append(pts, p)
	}
	return pts, nil
}

func datum(param, ns string, d events.MetricDatum, now time.Time) (events.StoredPoint, error) {
	p := events.StoredPoint{Namespace: ns, MetricName: d.MetricName, Dimensions: d.Dimensions, Unit: d.Unit, Time: now}
	if d.MetricName == "" {
		return p, missing(param + ".MetricName")
	}
	if len(d.MetricName) > maxMetricNameLength {
		return p, invalidValue("The parameter %s.MetricName must be shorter than %d characters.", param, maxMetricNameLength+1)
	}
	if err := checkDimensions(param+".Dimensions", d.Dimensions); err != nil {
		return p, err
	}
	if err := checkUnit(param+".Unit", d.Unit); err != nil {
		return p, err
	}
	if d.Timestamp != nil {
		p.Time = d.Timestamp.Time.UTC()
		if p.Time.Before(now.Add(-14 * 24 * time.Hour)) {
			return p, invalidValue("The parameter %s.Timestamp must specify a time no more than two weeks in the past.", param)
		}
		if p.Time.After(now.Add(2 * time.Hour)) {
			return p, invalidValue("The parameter %s.Timestamp must specify a time no more than two hours in the future.", param)
		}
	}
	if d.StorageResolution != nil {
		switch *d.StorageResolution {
		case 1:
			p.HighRes = true
		case 60:
		default:
			return p, invalidValue("The parameter %s.StorageResolution must be 1 or 60.", param)
		}
	}
	if !p.HighRes {
		p.Time = p.Time.Truncate(time.Second)
	}
	return fillValues(param, p, d)
}

func fillValues(param string, p events.StoredPoint, d events.MetricDatum) (events.StoredPoint, error) {
	set := 0
	for _, b := range []bool{d.Value != nil, d.StatisticValues != nil, len(d.Values) > 0} {
		if b {
			set++
		}
	}
	switch {
	case set == 0:
		return p, invalidCombination("At least one of the parameters %s.Value, %[1]s.StatisticValues or %[1]s.Values must be specified.", param)
	case set > 1:
		return p, invalidCombination("The parameters %s.Value, %[1]s.StatisticValues and %[1]s.Values are mutually exclusive and you have specified more than one.", param)
	case d.Value != nil:
		v := float64(*d.Value)
		if !finite(v) {
			return p, invalidValue("The value %s for parameter %s.Value is invalid.", strconv.FormatFloat(v, 'g', -1, 64), param)
		}
		p.Count, p.Sum, p.Min, p.Max, p.Values = 1, v, v, v, []float64{v}
	case d.StatisticValues != nil:
		sv := d.StatisticValues
		for name, x := range map[string]*events.Num{"SampleCount": sv.SampleCount, "Sum": sv.Sum, "Minimum": sv.Minimum, "Maximum": sv.Maximum} {
			if x == nil {
				return p, missing(param + ".StatisticValues." + name)
			}
			if !finite(float64(*x)) {
				return p, invalidValue("The value for parameter %s.StatisticValues.%s is invalid.", param, name)
			}
		}
		if *sv.SampleCount <= 0 || *sv.Minimum > *sv.Maximum {
			return p, invalidValue("The parameter %s.StatisticValues is invalid: SampleCount must be positive and Minimum at most Maximum.", param)
		}
		p.Count, p.Sum, p.Min, p.Max = float64(*sv.SampleCount), float64(*sv.Sum), float64(*sv.Minimum), float64(*sv.Maximum)
	default:
		if len(d.Values) > maxValuesPerDatum {
			return p, invalidValue("The collection %s.Values must not have a size greater than %d.", param, maxValuesPerDatum)
		}
		if len(d.Counts) > 0 && len(d.Counts) != len(d.Values) {
			return p, invalidCombination("The parameters %s.Values and %[1]s.Counts must be of the same size.", param)
		}
		p.Min, p.Max = math.Inf(1), math.Inf(-1)
		for i, x := range d.Values {
			v, c := float64(x), 1.0
			if len(d.Counts) > 0 {
				c = float64(d.Counts[i])
			}
			if !finite(v) || !finite(c) || c < 0 {
				return p, invalidValue("The parameter %s.Values.member.%d is invalid.", param, i+1)
			}
			p.Values, p.Counts = append(p.Values, v), append(p.Counts, c)
			p.Count += c
			p.Sum += v * c
			p.Min, p.Max = math.Min(p.Min, v), math.Max(p.Max, v)
		}
	}
	return p, nil
}

func (s *Service) listMetrics(ctx context.Context, req *natsutil.Request) (any, error) {
	var in events.ListMetricsRequest
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	if len(in.Dimensions) > 10 {
		return nil, invalidValue("The collection Dimensions must not have a size greater than 10.")
	}
	for i, f := range in.Dimensions {
		if f.Name == "" {
			return nil, missing(fmt.Sprintf("Dimensions.member.%d.Name", i+1))
		}
	}
	since := s.cfg.Now().Add(-14 * 24 * time.Hour)
	if in.RecentlyActive != nil {
		if *in.RecentlyActive != "PT3H" {
			return nil, apierr.New(events.CodeCWValidationError, "1 validation error detected: Value '%s' at 'recentlyActive' failed to satisfy constraint: Member must satisfy enum value set: [PT3H]", *in.RecentlyActive)
		}
		since = s.cfg.Now().Add(-3 * time.Hour)
	}
	offset := 0
	if in.NextToken != nil {
		b, err := base64.RawURLEncoding.DecodeString(*in.NextToken)
		n, err2 := strconv.Atoi(string(b))
		if err != nil || err2 != nil || n < 0 {
			return nil, apierr.New(events.CodeCWInvalidNextToken, "The service couldn't process your request because the NextToken is invalid.")
		}
		offset = n
	}
	if err := s.st.sync(ctx); err != nil {
		return nil, err
	}
	var match []events.Metric
	for _, m := range s.st.metrics(since) {
		if matches(m, in) {
			match = append(match, m)
		}
	}
	out := events.ListMetricsResponse{Metrics: []events.Metric{}}
	if offset < len(match) {
		end := min(offset+listPageSize, len(match))
		out.Metrics = match[offset:end]
		if end < len(match) {
			tok := base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(end)))
			out.NextToken = &tok
		}
	}
	return out, nil
}

func matches(m events.Metric, in events.ListMetricsRequest) bool {
	if in.Namespace != nil && *in.Namespace != m.Namespace {
		return false
	}
	if in.MetricName != nil && *in.MetricName != m.MetricName {
		return false
	}
	for _, f := range in.Dimensions {
		found := false
		for _, d := range m.Dimensions {
			if d.Name == f.Name && (f.Value == nil || *f.Value == d.Value) {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// window is a validated time range and period.
type window struct {
	start, end time.Time
	period     time.Duration
}

func checkWindow(start, end *awsjson.Time, period *events.Int, periodParam string) (window, error) {
	switch {
	case start == nil:
		return window{}, missing("StartTime")
	case end == nil:
		return window{}, missing("EndTime")
	case period == nil:
		return window{}, missing(periodParam)
	case *period <= 0:
		return window{}, invalidValue("The parameter %s must be greater than 0.", periodParam)
	case !validPeriod(int64(*period)):
		return window{}, invalidValue("The parameter %s must be a multiple of 60.", periodParam)
	case !end.Time.After(start.Time):
		return window{}, invalidValue("The parameter StartTime must be less than the parameter EndTime.")
	}
	p := time.Duration(*period) * time.Second
	return window{start: alignStart(start.Time.UTC(), p), end: end.Time.UTC(), period: p}, nil
}

func (w window) datapoints() int64 {
	span := w.end.Truncate(time.Second).Sub(w.start)
	return int64((span + w.period - 1) / w.period)
}

func (s *Service) getMetricStatistics(ctx context.Context, req *natsutil.Request) (any, error) {
	var in events.GetMetricStatisticsRequest
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	switch {
	case in.Namespace == "":
		return nil, missing("Namespace")
	case in.MetricName == "":
		return nil, missing("MetricName")
	}
	if err := checkDimensions("Dimensions", in.Dimensions); err != nil {
		return nil, err
	}
	if err := checkUnit("unit", in.Unit); err != nil {
		return nil, err
	}
	w, err := checkWindow(in.StartTime, in.EndTime, in.Period, "Period")
	if err != nil {
		return nil, err
	}
	if err := checkStatistics(in.Statistics, in.ExtendedStatistics); err != nil {
		return nil, err
	}
	if n := w.datapoints(); n > maxStatDatapoints {
		return nil, invalidCombination("You have requested up to %s datapoints, which exceeds the limit of 1,440. You may reduce the datapoints requested by increasing Period, or decreasing the time range.", commas(n))
	}
	if err := s.st.sync(ctx); err != nil {
		return nil, err
	}
	from := maxTime(w.start, retentionFloor(s.cfg.Now(), w.period))
	var order []time.Time
	var aggs map[time.Time]*agg
	s.st.points(seriesKey(in.Namespace, in.MetricName, in.Dimensions), from, w.end, func(pts []events.StoredPoint) {
		order, aggs = bucket(pts, w.start, w.period, in.Unit)
	})
	out := events.GetMetricStatisticsResponse{Label: in.MetricName, Datapoints: []events.Datapoint{}}
	for _, t := range order {
		a := aggs[t]
		dp := events.Datapoint{Timestamp: awsjson.Time{Time: t}, Unit: a.unit}
		if dp.Unit == "" {
			dp.Unit = "None"
		}
		for _, st := range in.Statistics {
			v, _ := a.stat(st)
			switch st {
			case "SampleCount":
				dp.SampleCount = &v
			case "Average":
				dp.Average = &v
			case "Sum":
				dp.Sum = &v
			case "Minimum":
				dp.Minimum = &v
			case "Maximum":
				dp.Maximum = &v
			}
		}
		for _, st := range in.ExtendedStatistics {
			if v, ok := a.stat(st); ok {
				if dp.ExtendedStatistics == nil {
					dp.ExtendedStatistics = map[string]float64{}
				}
				dp.ExtendedStatistics[st] = v
			}
		}
		out.Datapoints = append(out.Datapoints, dp)
	}
	return out, nil
}

func checkStatistics(stats, ext []string) error {
	switch {
	case len(stats) == 0 && len(ext) == 0:
		return invalidCombination("Must specify either Statistics or ExtendedStatistics, but not both.")
	case len(stats) > 0 && len(ext) > 0:
		return invalidCombination("Must specify either Statistics or ExtendedStatistics, but not both.")
	case len(stats) > 5 || len(ext) > 10:
		return invalidValue("The collection Statistics must not have a size greater than 5, ExtendedStatistics 10.")
	}
	for _, st := range stats {
		if !isStandard(st) {
			return apierr.New(events.CodeCWValidationError, "1 validation error detected: Value '[%s]' at 'statistics' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: [Maximum, SampleCount, Sum, Minimum, Average]]", strings.Join(stats, ", "))
		}
	}
	for _, st := range ext {
		if _, ok := percentileOf(st); !ok {
			return invalidValue("The value %s for parameter ExtendedStatistics is not supported.", st)
		}
	}
	return nil
}

func commas(n int64) string {
	s := strconv.FormatInt(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
