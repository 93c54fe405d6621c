// Package jsonx is encoding/json's Marshal and Unmarshal, made faster by
// github.com/bytedance/sonic in its encoding/json-compatible configuration
// (HTML escaped, map keys sorted, strings validated; sonic falls back to
// encoding/json itself on platforms its compiler does not cover), with one
// difference: a json.RawMessage (any json.Marshaler's output) is validated
// and HTML-escaped but not compacted. The raw messages Berth
// carries (event details, events in the outbox header, task definitions in
// assignments) are all JSON that encoding/json or jsonx wrote, already
// compact and escaped, so the bytes are the same; recompacting them was
// 1.5 % of the placement benchmark's CPU.
//
// The scheduler's hot path uses it: state records, event details, the
// outbox header and NATS API calls between services, where encoding/json
// was a fifth of the one-replica placement benchmark's CPU; so does the
// agent protocol (internal/agentproto: assignments, heartbeats, reports).
// Request bodies from users are still decoded with encoding/json, whose
// errors become the SerializationException messages (natsutil.Decode).
// jsonx_test.go checks that both write the same bytes for the records and
// events it carries.
package jsonx
