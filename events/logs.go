package events

import (
	"bytes"
	"errors"
	"strconv"
	"time"
)

// CloudWatch Logs storage contract.
//
// Log events live in the LOGS stream, one message per accepted PutLogEvents
// batch (a "chunk"), on the subject logs.<group>.<stream> (both names
// encoded with Token). The same subject is the live feed: `nats sub
// 'logs.>'` follows every log, `nats sub 'logs.<group>.>'` one group. A
// chunk's body is the events in chronological order, each written as
//
//	<timestamp ms> <message length in bytes>\n<message>\n
//
// (see AppendLogChunk / ParseLogChunk). The JetStream timestamp of the
// message is the events' ingestionTime.

// StreamLogs holds the log events of every group.
var StreamLogs = StreamDef{
	Name:        "LOGS",
	Writer:      ServiceLogs,
	Description: "CloudWatch Logs events: logs.<group>.<stream>, one message per PutLogEvents batch",
	Subjects:    []string{SubjLogsAll},
	Retention:   RetentionLimits,
	Duplicates:  2 * time.Minute,
	Compressed:  true,
}

// BucketLogs holds log groups and streams. Keys:
//
//	g.<group>            LogGroupRecord
//	s.<group>.<stream>   LogStreamRecord
var BucketLogs = BucketDef{
	Name:        "logs_groups",
	Writer:      ServiceLogs,
	Description: "CloudWatch Logs groups and streams: g.<group>, s.<group>.<stream>",
	History:     1,
}

// SubjLogsAll matches every log event chunk: logs.>
const SubjLogsAll = "logs.>"

// SubjLogs is the subject of the events of one log stream:
// logs.<group>.<stream>. Wildcard form: logs.<group>.*
func SubjLogs(group, stream string) string {
	return "logs." + Token(group) + "." + Token(stream)
}

// SubjLogsGroup matches every stream of one group: logs.<group>.*
func SubjLogsGroup(group string) string { return "logs." + Token(group) + ".*" }

// Log chunk headers.
const (
	// HeaderLogCursor, on chunks shipped by an agent, is the source position
	// (LogCursor) of the chunk's last event: a shipper that resends after a
	// crash is de-duplicated against it.
	HeaderLogCursor = "Berth-Log-Cursor"
	// HeaderLogCount is the number of events in a chunk.
	HeaderLogCount = "Berth-Log-Count"
)

// LogGroupRecord is the value of g.<group> in BucketLogs.
type LogGroupRecord struct {
	Name            string            `json:"name"`
	CreationTime    int64             `json:"creationTime"`
	RetentionInDays int32             `json:"retentionInDays,omitempty"`
	KmsKeyID        string            `json:"kmsKeyId,omitempty"`
	Class           string            `json:"logGroupClass,omitempty"`
	Tags            map[string]string `json:"tags,omitempty"`
}

// LogStreamRecord is the value of s.<group>.<stream> in BucketLogs.
// Event statistics are kept up to date after each stored batch.
type LogStreamRecord struct {
	Name                string `json:"name"`
	CreationTime        int64  `json:"creationTime"`
	FirstEventTimestamp int64  `json:"firstEventTimestamp,omitempty"`
	LastEventTimestamp  int64  `json:"lastEventTimestamp,omitempty"`
	LastIngestionTime   int64  `json:"lastIngestionTime,omitempty"`
	StoredBytes         int64  `json:"storedBytes,omitempty"`
}

// LogShipRequest is the body of berth.internal.logs.Ship: an agent ships a
// container's output. Events carry their source Cursor (strictly increasing
// within a stream); events at or before the stream's last stored cursor are
// dropped, so a resend after a crash stores nothing twice.
type LogShipRequest struct {
	LogGroupName  string         `json:"logGroupName"`
	LogStreamName string         `json:"logStreamName"`
	CreateGroup   bool           `json:"createGroup,omitempty"`
	Events        []LogShipEvent `json:"events"`
}

// LogShipEvent is one line of container output.
type LogShipEvent struct {
	Timestamp int64  `json:"timestamp"`
	Message   string `json:"message"`
	Cursor    string `json:"cursor"`
}

// LogShipResponse answers a LogShipRequest.
type LogShipResponse struct {
	// Stored is how many events were stored (the others were duplicates or
	// rejected as too old or too new).
	Stored int `json:"stored"`
	// Cursor is the stream's last stored cursor.
	Cursor string `json:"cursor"`
}

// LogEvent is one event of a chunk.
type LogEvent struct {
	Timestamp int64
	Message   string
}

// AppendLogChunk appends ev to a chunk body.
func AppendLogChunk(b []byte, ev LogEvent) []byte {
	b = strconv.AppendInt(b, ev.Timestamp, 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(len(ev.Message)), 10)
	b = append(b, '\n')
	b = append(b, ev.Message...)
	return append(b, '\n')
}

// ErrBadLogChunk reports a chunk body that does not follow the format.
var ErrBadLogChunk = errors.New("events: malformed log chunk")

// ParseLogChunk calls fn for every event of a chunk body, in order, until fn
// returns false.
func ParseLogChunk(b []byte, fn func(i int, ev LogEvent) bool) error {
	for i := 0; len(b) > 0; i++ {
		nl := bytes.IndexByte(b, '\n')
		sp := bytes.IndexByte(b, ' ')
		if nl < 0 || sp < 0 || sp > nl {
			return ErrBadLogChunk
		}
		ts, err1 := strconv.ParseInt(string(b[:sp]), 10, 64)
		n, err2 := strconv.Atoi(string(b[sp+1 : nl]))
		if err1 != nil || err2 != nil || n < 0 || nl+1+n+1 > len(b) || b[nl+1+n] != '\n' {
			return ErrBadLogChunk
		}
		if !fn(i, LogEvent{Timestamp: ts, Message: string(b[nl+1 : nl+1+n])}) {
			return nil
		}
		b = b[nl+1+n+1:]
	}
	return nil
}
