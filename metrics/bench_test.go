package metrics_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/natstest"
	"github.com/berth-project/berth/metrics"
)

// BenchmarkPutMetricData: PutMetricData calls of 1,000 datapoints (the
// per-call maximum) through the gateway with the Go SDK (RPC v2 CBOR);
// reports datapoints/s.
func BenchmarkPutMetricData(b *testing.B) {
	e := newEnv(b, metrics.Config{})
	data := make([]types.MetricDatum, 1000)
	now := time.Now()
	for i := range data {
		data[i] = types.MetricDatum{MetricName: aws.String(fmt.Sprintf("m%d", i%50)), Value: aws.Float64(float64(i)),
			Timestamp: aws.Time(now), Dimensions: []types.Dimension{{Name: aws.String("Host"), Value: aws.String(fmt.Sprint(i % 20))}}}
	}
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		if _, err := e.cw.PutMetricData(b.Context(), &cloudwatch.PutMetricDataInput{Namespace: aws.String("Bench"), MetricData: data}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(data))/time.Since(start).Seconds(), "datapoints/s")
}

// BenchmarkGetMetricData_1000Series1Day: 1,000 series of one day at one
// datapoint a minute (1.44 million datapoints, stored directly in
// CW_METRICS), read with GetMetricData at a 15-minute period: two calls of
// 500 MetricStat queries (the per-call maximum). One op is the whole scan.
func BenchmarkGetMetricData_1000Series1Day(b *testing.B) {
	e := newEnv(b, metrics.Config{})
	end := time.Now().UTC().Truncate(time.Hour)
	start := end.Add(-24 * time.Hour)
	for m := start; m.Before(end); m = m.Add(time.Minute) {
		batch := events.StoredBatch{Points: make([]events.StoredPoint, 0, 1000)}
		for s := range 1000 {
			v := float64(s)
			batch.Points = append(batch.Points, events.StoredPoint{Namespace: "Bench", MetricName: "Series", Time: m,
				Dimensions: []events.Dimension{{Name: "Id", Value: fmt.Sprint(s)}}, Count: 1, Sum: v, Min: v, Max: v})
		}
		raw, _ := json.Marshal(batch)
		if _, err := e.JS.PublishAsync(events.SubjMetricData("Bench"), raw); err != nil {
			b.Fatal(err)
		}
	}
	<-e.JS.PublishAsyncComplete()
	queries := func(from int) []types.MetricDataQuery {
		q := make([]types.MetricDataQuery, 500)
		for i := range q {
			q[i] = types.MetricDataQuery{Id: aws.String(fmt.Sprintf("q%d", from+i)), MetricStat: &types.MetricStat{
				Metric: &types.Metric{Namespace: aws.String("Bench"), MetricName: aws.String("Series"),
					Dimensions: []types.Dimension{{Name: aws.String("Id"), Value: aws.String(fmt.Sprint(from + i))}}},
				Period: aws.Int32(900), Stat: aws.String("Average")}}
		}
		return q
	}
	halves := [][]types.MetricDataQuery{queries(0), queries(500)}
	// Warm up: the service's view replays the stream first (a read
	// answers InternalServiceError while the view is more than 10 s behind).
	natstest.Eventually(b, 3*time.Minute, time.Second, func() error {
		_, err := e.cw.GetMetricData(b.Context(), &cloudwatch.GetMetricDataInput{StartTime: aws.Time(start), EndTime: aws.Time(end), MetricDataQueries: halves[0][:1]})
		return err
	})
	b.ResetTimer()
	for b.Loop() {
		for _, q := range halves {
			out, err := e.cw.GetMetricData(b.Context(), &cloudwatch.GetMetricDataInput{StartTime: aws.Time(start), EndTime: aws.Time(end), MetricDataQueries: q})
			if err != nil {
				b.Fatal(err)
			}
			if len(out.MetricDataResults) != 500 || len(out.MetricDataResults[0].Values) != 96 {
				b.Fatalf("%d results, %d values", len(out.MetricDataResults), len(out.MetricDataResults[0].Values))
			}
		}
	}
}
