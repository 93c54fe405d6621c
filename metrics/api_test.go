package metrics_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/smithy-go"

	"github.com/berth-project/berth/metrics"
)

// putValues stores 1..10 for metric name in namespace App at one minute.
func putValues(t *testing.T, e *env, name string, at time.Time) {
	t.Helper()
	var data []types.MetricDatum
	for i := 1; i <= 10; i++ {
		data = append(data, types.MetricDatum{
			MetricName: aws.String(name), Value: aws.Float64(float64(i)), Unit: types.StandardUnitCount,
			Timestamp:  aws.Time(at.Add(time.Duration(i) * time.Second)),
			Dimensions: []types.Dimension{{Name: aws.String("Host"), Value: aws.String("a")}},
		})
	}
	if _, err := e.cw.PutMetricData(ctx(t), &cloudwatch.PutMetricDataInput{Namespace: aws.String("App"), MetricData: data}); err != nil {
		t.Fatalf("PutMetricData: %v", err)
	}
}

func TestSDK_PutThenGetEveryStatistic(t *testing.T) {
	e := newEnv(t, metrics.Config{})
	at := time.Now().UTC().Truncate(time.Minute).Add(-5 * time.Minute)
	putValues(t, e, "Requests", at)
	dims := []types.Dimension{{Name: aws.String("Host"), Value: aws.String("a")}}
	metric := &types.Metric{Namespace: aws.String("App"), MetricName: aws.String("Requests"), Dimensions: dims}
	want := map[string]float64{"SampleCount": 10, "Sum": 55, "Average": 5.5, "Minimum": 1, "Maximum": 10, "p50": 5, "p90": 9, "p99": 10}
	var queries []types.MetricDataQuery
	for stat := range want {
		queries = append(queries, types.MetricDataQuery{Id: aws.String("q" + strings.ToLower(stat)),
			MetricStat: &types.MetricStat{Metric: metric, Period: aws.Int32(60), Stat: aws.String(stat)}})
	}
	queries = append(queries,
		types.MetricDataQuery{Id: aws.String("e1"), Expression: aws.String("qsum / qsamplecount * 2 + 1")},
		types.MetricDataQuery{Id: aws.String("e2"), Expression: aws.String("SUM(METRICS())")},
		types.MetricDataQuery{Id: aws.String("e3"), Expression: aws.String("MAX([qminimum, qmaximum])")},
	)
	out, err := e.cw.GetMetricData(ctx(t), &cloudwatch.GetMetricDataInput{
		StartTime: aws.Time(at.Add(-time.Hour)), EndTime: aws.Time(at.Add(time.Hour)), MetricDataQueries: queries,
	})
	if err != nil {
		t.Fatalf("GetMetricData: %v", err)
	}
	got := map[string]float64{}
	for _, r := range out.MetricDataResults {
		if len(r.Values) != 1 || !r.Timestamps[0].Equal(at) {
			t.Fatalf("%s: values %v at %v, want one at %v", *r.Id, r.Values, r.Timestamps, at)
		}
		got[*r.Id] = r.Values[0]
	}
	for stat, v := range want {
		if got["q"+strings.ToLower(stat)] != v {
			t.Errorf("%s = %v, want %v", stat, got["q"+strings.ToLower(stat)], v)
		}
	}
	var total float64
	for _, v := range want {
		total += v
	}
	if got["e1"] != 12 || got["e2"] != total || got["e3"] != 10 {
		t.Errorf("expressions: e1 %v (want 12), e2 %v (want %v), e3 %v (want 10)", got["e1"], got["e2"], total, got["e3"])
	}

	gs, err := e.cw.GetMetricStatistics(ctx(t), &cloudwatch.GetMetricStatisticsInput{
		Namespace: aws.String("App"), MetricName: aws.String("Requests"), Dimensions: dims,
		StartTime: aws.Time(at.Add(-time.Hour)), EndTime: aws.Time(at.Add(time.Hour)), Period: aws.Int32(300),
		Statistics: []types.Statistic{types.StatisticAverage, types.StatisticSum, types.StatisticSampleCount, types.StatisticMinimum, types.StatisticMaximum},
	})
	if err != nil {
		t.Fatalf("GetMetricStatistics: %v", err)
	}
	if len(gs.Datapoints) != 1 || *gs.Datapoints[0].Average != 5.5 || *gs.Datapoints[0].Sum != 55 || gs.Datapoints[0].Unit != types.StandardUnitCount {
		t.Fatalf("GetMetricStatistics: %+v", gs.Datapoints)
	}
	pc, err := e.cw.GetMetricStatistics(ctx(t), &cloudwatch.GetMetricStatisticsInput{
		Namespace: aws.String("App"), MetricName: aws.String("Requests"), Dimensions: dims,
		StartTime: aws.Time(at.Add(-time.Hour)), EndTime: aws.Time(at.Add(time.Hour)), Period: aws.Int32(60),
		ExtendedStatistics: []string{"p99", "p50"},
	})
	if err != nil || len(pc.Datapoints) != 1 || pc.Datapoints[0].ExtendedStatistics["p99"] != 10 || pc.Datapoints[0].ExtendedStatistics["p50"] != 5 {
		t.Fatalf("percentiles: %v %+v", err, pc)
	}
	lm, err := e.cw.ListMetrics(ctx(t), &cloudwatch.ListMetricsInput{Namespace: aws.String("App")})
	if err != nil || len(lm.Metrics) != 1 || *lm.Metrics[0].MetricName != "Requests" || *lm.Metrics[0].Dimensions[0].Value != "a" {
		t.Fatalf("ListMetrics: %v %+v", err, lm)
	}
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode() + ": " + ae.ErrorMessage()
	}
	return fmt.Sprint(err)
}

func TestSDK_BadInput(t *testing.T) {
	e := newEnv(t, metrics.Config{})
	now := time.Now()
	stats := func(period int32, stat types.Statistic, end time.Time) error {
		_, err := e.cw.GetMetricStatistics(ctx(t), &cloudwatch.GetMetricStatisticsInput{
			Namespace: aws.String("App"), MetricName: aws.String("X"), StartTime: aws.Time(now.Add(-time.Hour)), EndTime: aws.Time(end),
			Period: aws.Int32(period), Statistics: []types.Statistic{stat},
		})
		return err
	}
	cases := []struct {
		name string
		err  error
		want string
	}{
		{"period", stats(61, types.StatisticSum, now), "InvalidParameterValue: The parameter Period must be a multiple of 60."},
		{"statistic", stats(60, "Median", now), "ValidationError: 1 validation error detected: Value '[Median]' at 'statistics'"},
		{"too many datapoints", stats(1, types.StatisticSum, now.Add(time.Hour)), "InvalidParameterCombination: You have requested up to 7,200 datapoints, which exceeds the limit of 1,440."},
	}
	_, err := e.cw.PutMetricData(ctx(t), &cloudwatch.PutMetricDataInput{Namespace: aws.String("App"), MetricData: []types.MetricDatum{{
		MetricName: aws.String("X"), Value: aws.Float64(1), Dimensions: []types.Dimension{{Name: aws.String("Host"), Value: aws.String("a")}, {Name: aws.String("Host"), Value: aws.String("b")}},
	}}})
	cases = append(cases, struct {
		name string
		err  error
		want string
	}{"duplicate dimension", err, "InvalidParameterValue: No metric may have duplicate dimension names: Host."})
	for _, c := range cases {
		if got := apiCode(c.err); !strings.HasPrefix(got, c.want) {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
}

func TestCLI_PutThenGet(t *testing.T) {
	e := newEnv(t, metrics.Config{})
	at := time.Now().UTC().Truncate(time.Minute).Add(-5 * time.Minute)
	ts := at.Add(10 * time.Second).Format(time.RFC3339)
	if res := e.cli(t, nil, "put-metric-data", "--namespace", "App", "--metric-name", "Latency", "--unit", "Milliseconds",
		"--dimensions", "Host=a,Zone=z1", "--timestamp", ts, "--statistic-values", "SampleCount=4,Sum=40,Minimum=1,Maximum=20"); res.Exit != 0 {
		t.Fatalf("put-metric-data: %s", res.Stderr)
	}
	if res := e.cli(t, nil, "put-metric-data", "--namespace", "App", "--metric-data",
		fmt.Sprintf(`[{"MetricName":"Latency","Dimensions":[{"Name":"Host","Value":"a"},{"Name":"Zone","Value":"z1"}],"Timestamp":"%s","Values":[5,50],"Counts":[1,1],"Unit":"Milliseconds"}]`, ts)); res.Exit != 0 {
		t.Fatalf("put-metric-data values: %s", res.Stderr)
	}
	var gs struct {
		Label      string
		Datapoints []map[string]any
	}
	res := e.cli(t, &gs, "get-metric-statistics", "--namespace", "App", "--metric-name", "Latency",
		"--dimensions", "Name=Host,Value=a", "Name=Zone,Value=z1",
		"--start-time", at.Add(-time.Hour).Format(time.RFC3339), "--end-time", at.Add(time.Hour).Format(time.RFC3339),
		"--period", "60", "--statistics", "Average", "Sum", "SampleCount", "Minimum", "Maximum")
	if res.Exit != 0 {
		t.Fatalf("get-metric-statistics: %s", res.Stderr)
	}
	if gs.Label != "Latency" || len(gs.Datapoints) != 1 {
		t.Fatalf("get-metric-statistics: %+v", gs)
	}
	dp := gs.Datapoints[0]
	if dp["SampleCount"] != 6.0 || dp["Sum"] != 95.0 || dp["Minimum"] != 1.0 || dp["Maximum"] != 50.0 || dp["Unit"] != "Milliseconds" {
		t.Fatalf("datapoint %v", dp)
	}
	if avg := dp["Average"].(float64); avg < 15.83 || avg > 15.84 {
		t.Fatalf("average %v", avg)
	}
	if tsv, _ := dp["Timestamp"].(string); !strings.HasPrefix(tsv, at.Format("2006-01-02T15:04:05")) {
		t.Fatalf("timestamp %v, want %v", dp["Timestamp"], at)
	}
	var gd struct {
		MetricDataResults []struct {
			Id     string
			Values []float64
		}
	}
	q := `[{"Id":"m","MetricStat":{"Metric":{"Namespace":"App","MetricName":"Latency","Dimensions":[{"Name":"Host","Value":"a"},{"Name":"Zone","Value":"z1"}]},"Period":60,"Stat":"Maximum"}},{"Id":"e","Expression":"m*2"}]`
	res = e.cli(t, &gd, "get-metric-data", "--metric-data-queries", q,
		"--start-time", at.Add(-time.Hour).Format(time.RFC3339), "--end-time", at.Add(time.Hour).Format(time.RFC3339))
	if res.Exit != 0 || len(gd.MetricDataResults) != 2 || gd.MetricDataResults[0].Values[0] != 50 || gd.MetricDataResults[1].Values[0] != 100 {
		t.Fatalf("get-metric-data: %s %+v", res.Stderr, gd)
	}
	var lm struct{ Metrics []map[string]any }
	if res := e.cli(t, &lm, "list-metrics", "--namespace", "App"); res.Exit != 0 || len(lm.Metrics) != 1 {
		t.Fatalf("list-metrics: %s %+v", res.Stderr, lm)
	}
}

func TestCLI_BadInput(t *testing.T) {
	e := newEnv(t, metrics.Config{})
	now := time.Now().UTC()
	base := []string{"get-metric-statistics", "--namespace", "App", "--metric-name", "X",
		"--start-time", now.Add(-time.Hour).Format(time.RFC3339), "--end-time", now.Format(time.RFC3339)}
	cases := []struct {
		args []string
		want string
	}{
		{append(base, "--period", "90", "--statistics", "Sum"), "(InvalidParameterValue) when calling the GetMetricStatistics operation: The parameter Period must be a multiple of 60."},
		{append(base, "--period", "60", "--statistics", "Median"), "(ValidationError) when calling the GetMetricStatistics operation: 1 validation error detected: Value '[Median]'"},
		{append(base[:len(base)-1], now.Add(2*time.Hour).Format(time.RFC3339), "--period", "1", "--statistics", "Sum"), "(InvalidParameterCombination) when calling the GetMetricStatistics operation: You have requested up to 10,800 datapoints"},
		{[]string{"put-metric-data", "--namespace", "App", "--metric-name", "X", "--value", "1", "--dimensions", "Host=a,Host=b"}, "(InvalidParameterValue) when calling the PutMetricData operation: No metric may have duplicate dimension names: Host."},
		{[]string{"put-metric-data", "--namespace", "AWS/ECS", "--metric-name", "X", "--value", "1"}, "(InvalidParameterValue) when calling the PutMetricData operation: The value AWS/ECS for parameter Namespace is invalid."},
	}
	for _, c := range cases {
		res := e.cli(t, nil, c.args...)
		if res.Exit == 0 || !strings.Contains(res.Stderr, c.want) {
			t.Errorf("aws %v: exit %d, stderr %q, want %q", c.args, res.Exit, res.Stderr, c.want)
		}
	}
}

// TestSDK_GzipPut: the SDK gzips PutMetricData bodies above 10 KiB
// (Content-Encoding: gzip); the gateway decodes them after the signature.
func TestSDK_GzipPut(t *testing.T) {
	e := newEnv(t, metrics.Config{})
	data := make([]types.MetricDatum, 1000)
	for i := range data {
		data[i] = types.MetricDatum{MetricName: aws.String(fmt.Sprintf("m%03d", i)), Value: aws.Float64(float64(i))}
	}
	if _, err := e.cw.PutMetricData(ctx(t), &cloudwatch.PutMetricDataInput{Namespace: aws.String("Big"), MetricData: data}); err != nil {
		t.Fatalf("PutMetricData of 1,000 datums: %v", err)
	}
	out, err := e.cw.ListMetrics(ctx(t), &cloudwatch.ListMetricsInput{Namespace: aws.String("Big")})
	if err != nil || len(out.Metrics) != 500 || out.NextToken == nil {
		t.Fatalf("ListMetrics page 1: %v, %d metrics", err, len(out.Metrics))
	}
	out2, err := e.cw.ListMetrics(ctx(t), &cloudwatch.ListMetricsInput{Namespace: aws.String("Big"), NextToken: out.NextToken})
	if err != nil || len(out2.Metrics) != 500 || out2.NextToken != nil {
		t.Fatalf("ListMetrics page 2: %v, %d metrics", err, len(out2.Metrics))
	}
}
