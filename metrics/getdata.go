package metrics

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"time"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/awsjson"
	"github.com/berth-project/berth/internal/apierr"
	"github.com/berth-project/berth/internal/natsutil"
)

var queryIDRE = regexp.MustCompile(`^[a-z][a-zA-Z0-9_]*$`)

// ts is a time series: values by timestamp.
type ts struct {
	label  string
	values map[time.Time]float64
}

func (s *Service) getMetricData(ctx context.Context, req *natsutil.Request) (any, error) {
	var in events.GetMetricDataRequest
	if err := req.Decode(&in); err != nil {
		return nil, err
	}
	if err := checkQueries(in); err != nil {
		return nil, err
	}
	if in.StartTime == nil {
		return nil, missing("StartTime")
	}
	if in.EndTime == nil {
		return nil, missing("EndTime")
	}
	if !in.EndTime.Time.After(in.StartTime.Time) {
		return nil, invalidValue("The parameter StartTime must be less than the parameter EndTime.")
	}
	if in.ScanBy != "" && in.ScanBy != "TimestampDescending" && in.ScanBy != "TimestampAscending" {
		return nil, apierr.New(events.CodeCWValidationError, "1 validation error detected: Value '%s' at 'scanBy' failed to satisfy constraint: Member must satisfy enum value set: [TimestampDescending, TimestampAscending]", in.ScanBy)
	}
	if err := s.st.sync(ctx); err != nil {
		return nil, err
	}
	env := map[string]value{}
	var statIDs []string
	var total int64
	for i, q := range in.MetricDataQueries {
		if q.MetricStat == nil {
			continue
		}
		param := fmt.Sprintf("MetricDataQueries.member.%d.MetricStat", i+1)
		series, n, err := s.metricStat(param, q.MetricStat, in.StartTime, in.EndTime)
		if err != nil {
			return nil, err
		}
		total += n
		if q.Label != nil {
			series.label = *q.Label
		}
		env[q.Id] = value{series: &series}
		statIDs = append(statIDs, q.Id)
	}
	if total > maxDataDatapoints {
		return nil, invalidCombination("You have requested up to %s datapoints, which exceeds the limit of 100,800.", commas(total))
	}
	out := events.GetMetricDataResponse{MetricDataResults: []events.MetricDataResult{}, Messages: []events.MessageData{}}
	desc := in.ScanBy != "TimestampAscending"
	for i, q := range in.MetricDataQueries {
		if q.Expression != nil {
			v, err := evaluate(*q.Expression, env, statIDs)
			if err != nil {
				return nil, invalidValue("Error in expression %s (MetricDataQueries.member.%d.Expression): %s", q.Id, i+1, err.Error())
			}
			if v.scalar != nil {
				v = value{series: &ts{label: q.Id, values: map[time.Time]float64{in.StartTime.Time.UTC(): *v.scalar}}}
			}
			env[q.Id] = v
		}
		if q.ReturnData != nil && !*q.ReturnData {
			continue
		}
		for j, sr := range env[q.Id].list() {
			label := sr.label
			if q.Label != nil {
				label = *q.Label
			} else if q.Expression != nil && env[q.Id].series != nil {
				label = q.Id
			}
			_ = j
			out.MetricDataResults = append(out.MetricDataResults, result(q.Id, label, sr, desc))
		}
	}
	return out, nil
}

func checkQueries(in events.GetMetricDataRequest) error {
	if len(in.MetricDataQueries) == 0 {
		return missing("MetricDataQueries")
	}
	if len(in.MetricDataQueries) > maxQueries {
		return invalidValue("The collection MetricDataQueries must not have a size greater than %d.", maxQueries)
	}
	seen := map[string]bool{}
	for i, q := range in.MetricDataQueries {
		p := fmt.Sprintf("MetricDataQueries.member.%d", i+1)
		switch {
		case q.Id == "":
			return missing(p + ".Id")
		case !queryIDRE.MatchString(q.Id):
			return invalidValue("The value %s for parameter %s.Id is invalid: it must start with a lowercase letter and contain only letters, numbers and underscores.", q.Id, p)
		case seen[q.Id]:
			return invalidValue("The value %s for parameter %s.Id is not unique.", q.Id, p)
		case (q.MetricStat == nil) == (q.Expression == nil):
			return invalidCombination("Exactly one of the parameters %s.MetricStat and %[1]s.Expression must be specified.", p)
		}
		seen[q.Id] = true
	}
	return nil
}

func (s *Service) metricStat(param string, ms *events.MetricStat, start, end *awsjson.Time) (ts, int64, error) {
	if ms.Metric.Namespace == "" {
		return ts{}, 0, missing(param + ".Metric.Namespace")
	}
	if ms.Metric.MetricName == "" {
		return ts{}, 0, missing(param + ".Metric.MetricName")
	}
	if err := checkDimensions(param+".Metric.Dimensions", ms.Metric.Dimensions); err != nil {
		return ts{}, 0, err
	}
	if ms.Stat == "" {
		return ts{}, 0, missing(param + ".Stat")
	}
	if _, ok := percentileOf(ms.Stat); !ok && !isStandard(ms.Stat) {
		return ts{}, 0, invalidValue("The value %s for parameter %s.Stat is not supported.", ms.Stat, param)
	}
	if err := checkUnit(param+".Unit", ms.Unit); err != nil {
		return ts{}, 0, err
	}
	w, err := checkWindow(start, end, ms.Period, param+".Period")
	if err != nil {
		return ts{}, 0, err
	}
	from := maxTime(w.start, retentionFloor(s.cfg.Now(), w.period))
	var order []time.Time
	var aggs map[time.Time]*agg
	s.st.points(seriesKey(ms.Metric.Namespace, ms.Metric.MetricName, ms.Metric.Dimensions), from, w.end, func(pts []events.StoredPoint) {
		order, aggs = bucket(pts, w.start, w.period, ms.Unit)
	})
	out := ts{label: ms.Metric.MetricName, values: map[time.Time]float64{}}
	for _, t := range order {
		if v, ok := aggs[t].stat(ms.Stat); ok {
			out.values[t] = v
		}
	}
	return out, w.datapoints(), nil
}

func result(id, label string, sr *ts, desc bool) events.MetricDataResult {
	times := make([]time.Time, 0, len(sr.values))
	for t := range sr.values {
		times = append(times, t)
	}
	sort.Slice(times, func(i, j int) bool {
		if desc {
			return times[i].After(times[j])
		}
		return times[i].Before(times[j])
	})
	r := events.MetricDataResult{Id: id, Label: label, StatusCode: "Complete", Timestamps: []awsjson.Time{}, Values: []float64{}}
	for _, t := range times {
		r.Timestamps = append(r.Timestamps, awsjson.Time{Time: t})
		r.Values = append(r.Values, sr.values[t])
	}
	return r
}
