package events

import "time"

// Retention is a stream's retention policy.
type Retention string

// Retention policies.
const (
	RetentionLimits    Retention = "limits"
	RetentionWorkQueue Retention = "workqueue"
	RetentionInterest  Retention = "interest"
)

// StreamDef describes a JetStream stream as plain data; internal/natsutil
// turns it into a stream configuration. Replicas are chosen at run time (1 on
// one machine, 3 in a cluster).
type StreamDef struct {
	Name              string
	Writer            string // the only service that publishes into it
	Description       string
	Subjects          []string
	Retention         Retention
	MaxAge            time.Duration
	MaxBytes          int64
	MaxMsgsPerSubject int64
	Duplicates        time.Duration
	AllowAtomic       bool // atomic batch publish (ADR-50)
	AllowMsgTTL       bool
	Compressed        bool
}

// BucketDef describes a JetStream KV bucket as plain data.
type BucketDef struct {
	Name         string
	Writer       string // the only service that writes it
	Description  string
	History      uint8
	TTL          time.Duration
	MaxValueSize int32
	// LimitMarkerTTL enables per-key TTLs (and purge markers on expiry).
	LimitMarkerTTL time.Duration
	AllowAtomic    bool // atomic batch publish across keys (ADR-50)
}

// StreamEvents is the public event stream: EventBridge envelopes, seven days.
var StreamEvents = StreamDef{
	Name:        "EVENTS",
	Writer:      "every service that owns state (one writer per subject)",
	Description: "public EventBridge-format events: events.<source>.<scope>.<kind>.<id>",
	Subjects:    []string{SubjEventsAll},
	Retention:   RetentionLimits,
	MaxAge:      7 * 24 * time.Hour,
	MaxBytes:    1 << 30,
	Duplicates:  2 * time.Minute,
	Compressed:  true,
}

// BucketAccessKeys holds the access keys that sign API calls, keyed by access
// key id; the value is an AccessKey. Written by the bootstrap of services/berth
// (or `gateway --bootstrap`), read by the gateway and the registry.
var BucketAccessKeys = BucketDef{
	Name:        "berth_access_keys",
	Writer:      "bootstrap",
	Description: "access keys: <accessKeyId> -> AccessKey",
	History:     1,
}

// BucketTaskDefs holds task definitions. Keys:
//
//	fam.<family>          FamilyRecord: the highest revision ever registered
//	                      and the revisions by status (an index)
//	rev.<family>.<rev>    one task definition revision (never reused)
//
// A registration creates the revision record (the commit point), then
// updates the family index.
var BucketTaskDefs = BucketDef{
	Name:        "ecs_taskdefs",
	Writer:      ServiceTaskDefs,
	Description: "ECS task definitions: fam.<family>, rev.<family>.<revision>",
	History:     1,
}

// BucketClusters holds ECS clusters keyed by cluster name token.
var BucketClusters = BucketDef{
	Name:        "ecs_clusters",
	Writer:      ServiceScheduler,
	Description: "ECS clusters: <cluster> -> cluster record",
	History:     1,
	AllowAtomic: true,
}

// AccessKey is the value stored in BucketAccessKeys.
type AccessKey struct {
	AccessKeyID     string    `json:"accessKeyId"`
	SecretAccessKey string    `json:"secretAccessKey"`
	UserName        string    `json:"userName"`
	Status          string    `json:"status"` // Active | Inactive
	CreatedAt       time.Time `json:"createdAt"`
}
