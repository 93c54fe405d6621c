// Package logs is Berth's CloudWatch Logs service: log groups, log streams
// and log events, served as the AWS JSON 1.1 operations Logs_20140328.*
// (SigV4 service "logs") on berth.api.logs.<Operation>, and as the internal
// berth.internal.logs.Ship endpoint through which agents ship container
// output exactly once.
//
// # Storage
//
// Groups and streams are records in the KV bucket logs_groups
// (events.BucketLogs): g.<group> and s.<group>.<stream>, names encoded with
// events.Token. Events are in the LOGS stream (events.StreamLogs): every
// accepted PutLogEvents batch is ONE message (a chunk) on
// logs.<group>.<stream>, so a batch is stored whole or not at all, and the
// subject doubles as the live feed (`nats sub 'logs.>'`). A chunk's
// JetStream timestamp is its events' ingestionTime.
//
// Reads never load a group: GetLogEvents and FilterLogEvents read through a
// throw-away JetStream consumer filtered on the stream's (or group's)
// subjects, one fetch of at most 64 chunks at a time. A position is (chunk
// sequence, index in chunk); tokens and eventIds are built from it, so they
// are stable. Backward pages (GetLogEvents without startFromHead) find
// their first chunk by binary search over consumer pending counts.
//
// # Ordering
//
// Events come back in storage order: chunk by chunk, and within a chunk in
// the batch's (chronological) order. For one writer per stream (the agent,
// Docker's awslogs driver) that is timestamp order; AWS additionally sorts
// batches of several writers by timestamp.
//
// # Retention
//
// Reads hide events older than the group's retention; a loop purges chunks
// ingested before the retention window (plus the 2 h an event may be ahead
// of its ingestion).
//
// # Agent shipping
//
// Ship requests carry a cursor per event (a position in the container's
// output). The last chunk of the stream carries the cursor of its last
// event; Ship drops events at or before it and writes with
// Nats-Expected-Last-Subject-Sequence, so a resend after an agent crash
// stores nothing twice and two shippers cannot interleave.
package logs
