package events

import (
	"bytes"
	"fmt"
	"strconv"
	"time"

	"github.com/berth-project/berth/events/awsjson"
)

// Amazon CloudWatch (metrics) on the wire. The API is served on
// SubjAPI(APIMetrics, op) with JSON 1.0 request and response bodies
// (PascalCase members, timestamps as epoch seconds); the gateway translates
// the query protocol (form in, XML out) and Smithy RPC v2 CBOR to and from
// it.
const (
	APIMetrics              = "cloudwatch"
	MetricsTargetPrefix     = "GraniteServiceVersion20100801"
	MetricsSigningName      = "monitoring"
	MetricsAPIVersion       = "2010-08-01"
	MetricsXMLNamespace     = "http://monitoring.amazonaws.com/doc/2010-08-01/"
	NamespaceInsights       = "ECS/ContainerInsights"
	NamespaceECS            = "AWS/ECS"
	HeaderTelemetryInterval = "Berth-Telemetry-Interval"
)

// CloudWatch error codes (the modelled exception names; QueryErrorCodes gives
// the awsQuery code each one has in XML errors and x-amzn-query-error).
const (
	CodeCWInvalidParameterValue       Code = "InvalidParameterValueException"
	CodeCWInvalidParameterCombination Code = "InvalidParameterCombinationException"
	CodeCWMissingParameter            Code = "MissingRequiredParameterException"
	CodeCWInvalidNextToken            Code = "InvalidNextToken"
	CodeCWInternalServiceFault        Code = "InternalServiceFault"
	CodeCWInvalidFormat               Code = "InvalidFormatFault"
	CodeCWValidationError             Code = "ValidationError"
)

// QueryErrorCodes maps a code to its awsQuery error code and whether the
// fault is the Sender's or the Receiver's.
var QueryErrorCodes = map[Code]string{
	CodeCWInvalidParameterValue:       "InvalidParameterValue;Sender",
	CodeCWInvalidParameterCombination: "InvalidParameterCombination;Sender",
	CodeCWMissingParameter:            "MissingParameter;Sender",
	CodeCWInvalidNextToken:            "InvalidNextToken;Sender",
	CodeCWInternalServiceFault:        "InternalServiceError;Receiver",
	CodeCWInvalidFormat:               "InvalidFormat;Sender",
	CodeCWValidationError:             "ValidationError;Sender",
	CodeServiceUnavailable:            "ServiceUnavailable;Receiver",
	CodeInternalFailure:               "InternalFailure;Receiver",
	CodeThrottling:                    "Throttling;Sender",
}

// MetricsOperations lists every operation of the CloudWatch model.
var MetricsOperations = func() map[string][]string {
	ops := map[string][]string{}
	for _, op := range []string{"AssociateDatasetKmsKey", "CreateResourceMetricsConfiguration", "DeleteAlarmMuteRule",
		"DeleteAlarms", "DeleteAnomalyDetector", "DeleteDashboards", "DeleteInsightRules", "DeleteMetricDataQueryDefinition",
		"DeleteMetricStream", "DeleteResourceMetricsConfiguration", "DescribeAlarmContributors", "DescribeAlarmHistory",
		"DescribeAlarms", "DescribeAlarmsForMetric", "DescribeAnomalyDetectors", "DescribeInsightRules", "DisableAlarmActions",
		"DisableInsightRules", "DisassociateDatasetKmsKey", "EnableAlarmActions", "EnableInsightRules", "GetAlarmMuteRule",
		"GetDashboard", "GetDataset", "GetInsightRuleReport", "GetMetricData", "GetMetricDataQueryDefinition",
		"GetMetricStatistics", "GetMetricStream", "GetMetricWidgetImage", "GetOTelEnrichment", "GetResourceMetricsConfiguration",
		"ListAlarmMuteRules", "ListDashboards", "ListManagedInsightRules", "ListMetricDataQueryDefinitions", "ListMetricStreams",
		"ListMetrics", "ListTagsForResource", "PutAlarmMuteRule", "PutAnomalyDetector", "PutCompositeAlarm", "PutDashboard",
		"PutInsightRule", "PutLogAlarm", "PutManagedInsightRules", "PutMetricAlarm", "PutMetricData",
		"PutMetricDataQueryDefinition", "PutMetricStream", "SetAlarmState", "StartMetricStreams", "StartOTelEnrichment",
		"StopMetricStreams", "StopOTelEnrichment", "TagResource", "UntagResource", "UpdateOTelEnrichment",
		"UpdateResourceMetricsConfiguration"} {
		ops[op] = nil
	}
	return ops
}()

// MetricsRoute is Amazon CloudWatch metrics (JSON 1.0 by X-Amz-Target; the
// gateway also accepts the query protocol and RPC v2 CBOR for it).
var MetricsRoute = APIRoute{
	TargetPrefix: MetricsTargetPrefix,
	API:          APIMetrics,
	SigningName:  MetricsSigningName,
	Fault:        CodeCWInternalServiceFault,
	Modelled:     MetricsOperations,
	Implemented: map[string]string{
		"PutMetricData":       ServiceMetrics,
		"ListMetrics":         ServiceMetrics,
		"GetMetricStatistics": ServiceMetrics,
		"GetMetricData":       ServiceMetrics,
	},
}

// MetricsTimestampMembers are the members that hold timestamps in
// CloudWatch responses (the XML and CBOR fronts format them).
var MetricsTimestampMembers = map[string]bool{"Timestamp": true, "Timestamps": true, "StartTime": true, "EndTime": true}

// Num is a JSON number that also accepts a string (the query protocol's
// form values reach the service as strings).
type Num float64

// UnmarshalJSON reads a number or a numeric string.
func (n *Num) UnmarshalJSON(b []byte) error {
	b = bytes.Trim(b, `"`)
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("not a number: %s", b)
	}
	*n = Num(f)
	return nil
}

// Int is a JSON integer that also accepts a string.
type Int int64

// UnmarshalJSON reads an integer or an integer string.
func (n *Int) UnmarshalJSON(b []byte) error {
	b = bytes.Trim(b, `"`)
	v, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("not an integer: %s", b)
	}
	*n = Int(v)
	return nil
}

// Flag is a JSON boolean that also accepts "true"/"false".
type Flag bool

// UnmarshalJSON reads a boolean or a boolean string.
func (f *Flag) UnmarshalJSON(b []byte) error {
	v, err := strconv.ParseBool(string(bytes.Trim(b, `"`)))
	if err != nil {
		return fmt.Errorf("not a boolean: %s", b)
	}
	*f = Flag(v)
	return nil
}

// Dimension is a CloudWatch dimension.
type Dimension struct {
	Name  string `json:"Name"`
	Value string `json:"Value"`
}

// DimensionFilter filters ListMetrics by dimension (Value optional).
type DimensionFilter struct {
	Name  string  `json:"Name"`
	Value *string `json:"Value,omitempty"`
}

// StatisticSet is a pre-aggregated datapoint.
type StatisticSet struct {
	SampleCount *Num `json:"SampleCount"`
	Sum         *Num `json:"Sum"`
	Minimum     *Num `json:"Minimum"`
	Maximum     *Num `json:"Maximum"`
}

// MetricDatum is one PutMetricData entry.
type MetricDatum struct {
	MetricName        string        `json:"MetricName"`
	Dimensions        []Dimension   `json:"Dimensions,omitempty"`
	Timestamp         *awsjson.Time `json:"Timestamp,omitempty"`
	Value             *Num          `json:"Value,omitempty"`
	StatisticValues   *StatisticSet `json:"StatisticValues,omitempty"`
	Values            []Num         `json:"Values,omitempty"`
	Counts            []Num         `json:"Counts,omitempty"`
	Unit              string        `json:"Unit,omitempty"`
	StorageResolution *Int          `json:"StorageResolution,omitempty"`
}

// PutMetricDataRequest is the PutMetricData input.
type PutMetricDataRequest struct {
	Namespace  string        `json:"Namespace"`
	MetricData []MetricDatum `json:"MetricData"`
}

// Metric names one metric.
type Metric struct {
	Namespace  string      `json:"Namespace,omitempty"`
	MetricName string      `json:"MetricName,omitempty"`
	Dimensions []Dimension `json:"Dimensions"`
}

// ListMetricsRequest is the ListMetrics input.
type ListMetricsRequest struct {
	Namespace      *string           `json:"Namespace,omitempty"`
	MetricName     *string           `json:"MetricName,omitempty"`
	Dimensions     []DimensionFilter `json:"Dimensions,omitempty"`
	NextToken      *string           `json:"NextToken,omitempty"`
	RecentlyActive *string           `json:"RecentlyActive,omitempty"`
}

// ListMetricsResponse is the ListMetrics output.
type ListMetricsResponse struct {
	Metrics   []Metric `json:"Metrics"`
	NextToken *string  `json:"NextToken,omitempty"`
}

// GetMetricStatisticsRequest is the GetMetricStatistics input.
type GetMetricStatisticsRequest struct {
	Namespace          string        `json:"Namespace"`
	MetricName         string        `json:"MetricName"`
	Dimensions         []Dimension   `json:"Dimensions,omitempty"`
	StartTime          *awsjson.Time `json:"StartTime"`
	EndTime            *awsjson.Time `json:"EndTime"`
	Period             *Int          `json:"Period"`
	Statistics         []string      `json:"Statistics,omitempty"`
	ExtendedStatistics []string      `json:"ExtendedStatistics,omitempty"`
	Unit               string        `json:"Unit,omitempty"`
}

// Datapoint is one GetMetricStatistics datapoint.
type Datapoint struct {
	Timestamp          awsjson.Time       `json:"Timestamp"`
	SampleCount        *float64           `json:"SampleCount,omitempty"`
	Average            *float64           `json:"Average,omitempty"`
	Sum                *float64           `json:"Sum,omitempty"`
	Minimum            *float64           `json:"Minimum,omitempty"`
	Maximum            *float64           `json:"Maximum,omitempty"`
	Unit               string             `json:"Unit,omitempty"`
	ExtendedStatistics map[string]float64 `json:"ExtendedStatistics,omitempty"`
}

// GetMetricStatisticsResponse is the GetMetricStatistics output.
type GetMetricStatisticsResponse struct {
	Label      string      `json:"Label"`
	Datapoints []Datapoint `json:"Datapoints"`
}

// MetricStat is a GetMetricData metric query.
type MetricStat struct {
	Metric Metric `json:"Metric"`
	Period *Int   `json:"Period"`
	Stat   string `json:"Stat"`
	Unit   string `json:"Unit,omitempty"`
}

// MetricDataQuery is one GetMetricData query.
type MetricDataQuery struct {
	Id         string      `json:"Id"`
	MetricStat *MetricStat `json:"MetricStat,omitempty"`
	Expression *string     `json:"Expression,omitempty"`
	Label      *string     `json:"Label,omitempty"`
	ReturnData *Flag       `json:"ReturnData,omitempty"`
	Period     *Int        `json:"Period,omitempty"`
	AccountId  *string     `json:"AccountId,omitempty"`
}

// GetMetricDataRequest is the GetMetricData input.
type GetMetricDataRequest struct {
	MetricDataQueries []MetricDataQuery `json:"MetricDataQueries"`
	StartTime         *awsjson.Time     `json:"StartTime"`
	EndTime           *awsjson.Time     `json:"EndTime"`
	NextToken         *string           `json:"NextToken,omitempty"`
	ScanBy            string            `json:"ScanBy,omitempty"`
	MaxDatapoints     *Int              `json:"MaxDatapoints,omitempty"`
}

// MessageData is a GetMetricData message.
type MessageData struct {
	Code  string `json:"Code"`
	Value string `json:"Value"`
}

// MetricDataResult is one GetMetricData result.
type MetricDataResult struct {
	Id         string         `json:"Id"`
	Label      string         `json:"Label"`
	Timestamps []awsjson.Time `json:"Timestamps"`
	Values     []float64      `json:"Values"`
	StatusCode string         `json:"StatusCode"`
	Messages   []MessageData  `json:"Messages,omitempty"`
}

// GetMetricDataResponse is the GetMetricData output.
type GetMetricDataResponse struct {
	MetricDataResults []MetricDataResult `json:"MetricDataResults"`
	NextToken         *string            `json:"NextToken,omitempty"`
	Messages          []MessageData      `json:"Messages"`
}

// StreamTelemetry carries the agents' Container Insights samples to the
// metrics service: berth.telemetry.<cluster>.<instanceID>. Writers: agents
// (each its own subject), only for clusters with containerInsights enabled.
// Work queue: a sample is gone once a metrics replica has turned it into
// datapoints.
var StreamTelemetry = StreamDef{
	Name:        "TELEMETRY",
	Writer:      ServiceAgent,
	Description: "Container Insights samples: berth.telemetry.<cluster>.<instanceID>",
	Subjects:    []string{"berth.telemetry.*.*"},
	Retention:   RetentionWorkQueue,
	MaxAge:      time.Hour,
	Duplicates:  2 * time.Minute,
}

// SubjTelemetry is where an agent publishes its samples.
func SubjTelemetry(cluster, instanceID string) string {
	return "berth.telemetry." + Token(cluster) + "." + instanceID
}

// StreamMetricData holds every stored datapoint (PutMetricData and the
// datapoints derived from telemetry and the control plane's counts), one
// message per batch. The duplicate window makes each batch count once.
var StreamMetricData = StreamDef{
	Name:        "CW_METRICS",
	Writer:      ServiceMetrics,
	Description: "CloudWatch datapoints: berth.metrics.data.<namespace-token>",
	Subjects:    []string{"berth.metrics.data.>"},
	Retention:   RetentionLimits,
	MaxAge:      15 * 24 * time.Hour,
	MaxBytes:    1 << 30,
	Duplicates:  10 * time.Minute,
	Compressed:  true,
}

// SubjMetricData is the subject of a datapoint batch of namespace ns.
func SubjMetricData(ns string) string { return "berth.metrics.data." + Token(ns) }

// StoredPoint is one datapoint as stored in StreamMetricData: a statistic
// set (a single value has Count 1 and Min = Max = Sum) with its values for
// percentiles when known.
type StoredPoint struct {
	Namespace  string      `json:"ns"`
	MetricName string      `json:"m"`
	Dimensions []Dimension `json:"d,omitempty"`
	Unit       string      `json:"u,omitempty"`
	Time       time.Time   `json:"t"`
	HighRes    bool        `json:"hr,omitempty"`
	Count      float64     `json:"n"`
	Sum        float64     `json:"s"`
	Min        float64     `json:"lo"`
	Max        float64     `json:"hi"`
	// Values and Counts are the distribution (for percentiles); empty for a
	// statistic set without values.
	Values []float64 `json:"v,omitempty"`
	Counts []float64 `json:"c,omitempty"`
}

// StoredBatch is one message of StreamMetricData.
type StoredBatch struct {
	Points []StoredPoint `json:"points"`
}

// TelemetrySample is one agent's sample of its tasks over one interval.
type TelemetrySample struct {
	Cluster              string    `json:"cluster"`
	ClusterArn           string    `json:"clusterArn"`
	ContainerInstanceArn string    `json:"containerInstanceArn"`
	InstanceID           string    `json:"instanceId"`
	Timestamp            time.Time `json:"timestamp"`
	// RegisteredCPU and RegisteredMemory are the host's capacity (units,
	// MiB), for the AWS/ECS utilisation metrics.
	RegisteredCPU    float64      `json:"registeredCpu"`
	RegisteredMemory float64      `json:"registeredMemory"`
	Tasks            []TaskSample `json:"tasks"`
}

// TaskSample holds one task's values over the interval, in Container
// Insights units: CPU units (1024 = 1 vCPU), megabytes (2^20 bytes),
// bytes/second for the network, cumulative bytes for storage.
type TaskSample struct {
	TaskArn           string            `json:"taskArn"`
	Family            string            `json:"family"`
	Revision          int32             `json:"revision"`
	ServiceName       string            `json:"serviceName,omitempty"`
	KnownStatus       string            `json:"knownStatus"`
	LaunchType        string            `json:"launchType"`
	CreatedAt         time.Time         `json:"createdAt,omitzero"`
	StartedAt         time.Time         `json:"startedAt,omitzero"`
	PullStartedAt     time.Time         `json:"pullStartedAt,omitzero"`
	PullStoppedAt     time.Time         `json:"pullStoppedAt,omitzero"`
	CpuUtilized       float64           `json:"cpuUtilized"`
	CpuReserved       float64           `json:"cpuReserved"`
	MemoryUtilized    float64           `json:"memoryUtilized"`
	MemoryReserved    float64           `json:"memoryReserved"`
	HasNetwork        bool              `json:"hasNetwork"`
	NetworkRxBytes    float64           `json:"networkRxBytes"`
	NetworkTxBytes    float64           `json:"networkTxBytes"`
	NetworkRxPackets  float64           `json:"networkRxPackets"`
	NetworkTxPackets  float64           `json:"networkTxPackets"`
	NetworkRxDropped  float64           `json:"networkRxDropped"`
	NetworkTxDropped  float64           `json:"networkTxDropped"`
	NetworkRxErrors   float64           `json:"networkRxErrors"`
	NetworkTxErrors   float64           `json:"networkTxErrors"`
	StorageReadBytes  float64           `json:"storageReadBytes"`
	StorageWriteBytes float64           `json:"storageWriteBytes"`
	Containers        []ContainerSample `json:"containers"`
}

// ContainerSample holds one container's values over the interval.
type ContainerSample struct {
	Name           string  `json:"name"`
	DockerID       string  `json:"dockerId"`
	Image          string  `json:"image"`
	CpuUtilized    float64 `json:"cpuUtilized"`
	CpuReserved    float64 `json:"cpuReserved"`
	MemoryUtilized float64 `json:"memoryUtilized"`
	MemoryReserved float64 `json:"memoryReserved"`
}
