package natsutil

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"go.opentelemetry.io/otel/trace"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/apierr"
	"github.com/berth-project/berth/internal/jsonx"
	"github.com/berth-project/berth/internal/tracing"
)

// ErrUnavailable reports that nobody answers a subject: the service is down
// or not deployed.
var ErrUnavailable = errors.New("natsutil: no service answers")

// RequestRaw sends body to subject and returns the reply. A reply carrying a
// micro error comes back as an *apierr.Error; no responders as ErrUnavailable.
//
// The trace context of ctx, if any, travels in the headers (W3C traceparent).
func RequestRaw(ctx context.Context, nc *nats.Conn, subject string, body []byte, hdr nats.Header) (*nats.Msg, error) {
	if trace.SpanContextFromContext(ctx).IsValid() {
		if hdr == nil {
			hdr = nats.Header{}
		}
		tracing.Inject(ctx, hdr)
	}
	msg := &nats.Msg{Subject: subject, Data: body, Header: hdr}
	reply, err := nc.RequestMsgWithContext(ctx, msg)
	if err != nil {
		if errors.Is(err, nats.ErrNoResponders) {
			return nil, fmt.Errorf("%s: %w", subject, ErrUnavailable)
		}
		return nil, fmt.Errorf("%s: %w", subject, err)
	}
	if err := ReplyError(reply); err != nil {
		return nil, err
	}
	return reply, nil
}

// ReplyError rebuilds the *apierr.Error a micro error reply carries, or
// returns nil for a success.
func ReplyError(reply *nats.Msg) error {
	code := reply.Header.Get(micro.ErrorCodeHeader)
	if code == "" {
		return nil
	}
	e := &apierr.Error{Code: events.Code(code), Message: reply.Header.Get(micro.ErrorHeader)}
	if len(reply.Data) > 0 {
		_ = jsonx.Unmarshal(reply.Data, &e.Extra)
	}
	return e
}

// Call sends in as JSON to subject and decodes the reply into out (out may be
// nil).
func Call(ctx context.Context, nc *nats.Conn, subject string, in, out any) error {
	body, err := jsonx.Marshal(in)
	if err != nil {
		return fmt.Errorf("%s: marshal: %w", subject, err)
	}
	reply, err := RequestRaw(ctx, nc, subject, body, nil)
	if err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	if err := jsonx.Unmarshal(reply.Data, out); err != nil {
		return fmt.Errorf("%s: decode reply: %w", subject, err)
	}
	return nil
}
