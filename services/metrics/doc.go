// Command metrics runs Berth's CloudWatch metrics service alone against an
// external NATS server: the metrics API (PutMetricData, ListMetrics,
// GetMetricStatistics, GetMetricData) and the Container Insights pipeline
// (package metrics). Run any number of replicas.
package main
