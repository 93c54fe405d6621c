// Package jsonx is encoding/json's Marshal and Unmarshal, made faster by
// github.com/bytedance/sonic in its encoding/json-compatible configuration
// (HTML escaped, map keys sorted, Marshaler output validated; sonic falls
// back to encoding/json itself on platforms its compiler does not cover).
//
// The scheduler's hot path uses it: state records, event details, the
// outbox header and NATS API calls between services, where encoding/json
// was a fifth of the one-replica placement benchmark's CPU. Request bodies
// from users are still decoded with encoding/json, whose errors become the
// SerializationException messages (natsutil.Decode). jsonx_test.go checks
// that both write the same bytes for the records and events it carries.
package jsonx
