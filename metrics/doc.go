// Package metrics is Berth's CloudWatch metrics service and the Container
// Insights pipeline.
//
// # API
//
// It answers PutMetricData, ListMetrics, GetMetricStatistics and
// GetMetricData on berth.api.cloudwatch.<Op> with JSON 1.0 bodies (the
// gateway translates the query protocol and RPC v2 CBOR). Datapoints are
// stored in the CW_METRICS stream (one message per batch, with a message id
// so a retried batch counts once); every replica follows the stream with
// an ordered consumer into an in-memory view and, before answering a read,
// waits until the view has reached the stream's last sequence, so replicas
// are stateless and read their writes. Periods are 1, 5, 10, 30 or a
// multiple of 60 seconds; sub-minute periods read only the last 3 hours
// (high-resolution retention); datapoints are kept 15 days (CloudWatch
// keeps 1-minute data 15 days, then 5-minute 63 days and hourly 455 days:
// Berth does not roll up, so nothing older than 15 days is returned).
//
// # Container Insights
//
// Agents of clusters with containerInsights enabled publish one
// events.TelemetrySample per interval on the TELEMETRY work-queue stream.
// A durable consumer shared by the replicas turns each sample into
// datapoints (stored with the sample's message id, so a redelivered sample
// counts once), EMF performance events for the logs service, and the latest
// values for the Prometheus/OTLP exporters.
//
// Which reading of the seed's "8 / 6 / 11 metrics": Berth publishes AWS's
// current standard set, not the seed's counts. Per task (the Task
// performance event) and at [ClusterName], [ClusterName,
// TaskDefinitionFamily] and [ClusterName, ServiceName]: the 8 resource
// metrics CpuUtilized, CpuReserved (None = CPU units), MemoryUtilized,
// MemoryReserved (Megabytes), NetworkRxBytes, NetworkTxBytes (Bytes/Second,
// only for tasks with a network: bridge or awsvpc), StorageReadBytes,
// StorageWriteBytes (declared Bytes/Second, cumulative bytes as AWS notes).
// At [ClusterName] also TaskCount, ContainerInstanceCount and ServiceCount
// (Count) from the scheduler's DescribeClusters, so a cluster has 11. A
// service's tasks (group "service:<name>") get the 8 resource metrics at
// [ClusterName, ServiceName], and each ACTIVE service the 5 counts
// DesiredTaskCount, RunningTaskCount, PendingTaskCount, DeploymentCount and
// TaskSetCount (Count; from the supervisor's ListServices and
// DescribeServices; TaskSetCount is 0, as ECS reports for the ECS deployment
// controller), so a service has 13. Each task contributes one datapoint
// per sample interval (60 s by default), as CloudWatch derives its
// datapoints from one Task event per task and minute: Sum over a level adds
// the tasks up, Average is per task.
//
// AWS/ECS (free): CPUReservation, MemoryReservation, CPUUtilization,
// MemoryUtilization in Percent at [ClusterName] (one datapoint per instance
// and interval: task totals over the instance's registered CPU and memory)
// and CPUUtilization, MemoryUtilization at [ClusterName, ServiceName]
// (used over reserved).
//
// # Performance log events
//
// Each sample also becomes EMF events of Type Task (with the
// CloudWatchMetrics block) and Container in
// /aws/ecs/containerinsights/<cluster>/performance, stream
// AgentTelemetry-<container instance id>, and each counts round a Cluster
// event (stream ClusterTelemetry) and one Service event per ACTIVE service
// (stream ServiceTelemetry), written with CreateLogGroup, CreateLogStream
// and PutLogEvents over NATS (events/logsapi shapes). Without a logs service the
// events are dropped (the datapoints are stored regardless).
//
// # Prometheus and OTLP
//
// Exporter (go.opentelemetry.io/otel) keeps the latest values of every task
// and exports them as gauges (ecs.task.cpu.utilized in {cpu_unit},
// ecs.task.memory.utilized in MiBy, ... with ClusterName,
// TaskDefinitionFamily, TaskId and ServiceName attributes) through a
// Prometheus registry served on /metrics and an OTLP/HTTP periodic push.
// Other components record through Exporter.Meter (the gateway's
// berth.gateway.requests and berth.gateway.request.duration), and
// RegisterNATSHealth adds JetStream consumer lag and connected agents.
// Traces (one RunTask from the gateway to the agent) are internal/tracing's:
// the same OTLP endpoint receives them on /v1/traces.
package metrics
