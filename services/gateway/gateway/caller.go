package gateway

import (
	"github.com/nats-io/nats.go"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/callerauth"
)

// apiHeader is the header of the NATS request of an API call that the
// access key keyID signed: the request id, the key id and the caller
// assertion for subject and body (internal/callerauth), which lets the
// service check that the gateway, not any NATS client, names the caller.
func (g *Gateway) apiHeader(reqID, keyID, subject string, body []byte) nats.Header {
	hdr := nats.Header{}
	hdr.Set(events.HeaderRequestID, reqID)
	hdr.Set(events.HeaderAccessKey, keyID)
	if k, ok := g.cfg.Keys.Lookup(keyID); ok {
		callerauth.Set(hdr, k, subject, body, g.cfg.Now())
	}
	return hdr
}
