package outbox

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/berth-project/berth/internal/ids"
	"github.com/berth-project/berth/internal/jsonx"
)

// Header is the header of a KV write that carries events to publish once
// the write is committed, one JSON-encoded Event per value.
const Header = "Berth-Outbox"

// Event is one message for the EVENTS stream.
type Event struct {
	Subject string `json:"s"`
	// MsgID is the Nats-Msg-Id: derived from the change, never random.
	MsgID string `json:"id"`
	// At is when the change was committed (at the latest): no copy of
	// this event was published before it.
	At   time.Time       `json:"at"`
	Data json.RawMessage `json:"d"`
}

// Attach adds evs to the headers of a KV write.
func Attach(h nats.Header, evs ...Event) {
	for _, ev := range evs {
		if ev.Subject == "" {
			continue
		}
		raw, err := jsonx.Marshal(ev)
		if err != nil {
			continue // json.RawMessage that is not JSON: nothing to carry
		}
		h.Add(Header, string(raw))
	}
}

// Attached returns the events a committed write carries.
func Attached(h nats.Header) ([]Event, error) {
	vals := h.Values(Header)
	if len(vals) == 0 {
		return nil, nil
	}
	out := make([]Event, 0, len(vals))
	for _, v := range vals {
		var ev Event
		if err := jsonx.Unmarshal([]byte(v), &ev); err != nil {
			return out, fmt.Errorf("outbox: bad %s header: %w", Header, err)
		}
		out = append(out, ev)
	}
	return out, nil
}

// EventID is the EventBridge event id of the event with Nats-Msg-Id msgID:
// a version-4-shaped UUID from a hash of it, so every copy of an event has
// the same id.
func EventID(msgID string) string {
	b := sha256.Sum256([]byte(msgID))
	return ids.UUIDFrom([16]byte(b[:16]))
}
