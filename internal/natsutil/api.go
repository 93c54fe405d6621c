package natsutil

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/apierr"
	"github.com/berth-project/berth/internal/tracing"
)

// Request is one API call as a handler sees it.
type Request struct {
	// Operation is the AWS operation name, e.g. "RegisterTaskDefinition".
	Operation string
	// Data is the AWS JSON request body.
	Data []byte
	// Headers are the NATS headers of the request (events.HeaderRequestID, ...).
	Headers micro.Headers
}

// RequestID returns the request id the gateway assigned, if any.
func (r *Request) RequestID() string { return r.Headers.Get(events.HeaderRequestID) }

// Decode unmarshals the body into v with AWS JSON 1.1 strictness: the body
// must be one JSON object (empty means {}), and every member must have its
// modelled type. Violations are SerializationExceptions.
func (r *Request) Decode(v any) error { return Decode(r.Data, v) }

// Decode is Request.Decode for a raw body.
func Decode(data []byte, v any) error {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		data = []byte("{}")
	}
	if data[0] != '{' {
		return apierr.Serialization("The request body must be a JSON object.")
	}
	err := json.Unmarshal(data, v)
	if err == nil {
		return nil
	}
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			field = "(root)"
		}
		return apierr.Serialization("Invalid type for member '%s': expected %s, got JSON %s.", field, wireType(typeErr.Type.String()), typeErr.Value)
	case errors.As(err, &syntaxErr):
		return apierr.Serialization("The request body is not valid JSON: %s at offset %d.", syntaxErr.Error(), syntaxErr.Offset)
	}
	return apierr.Serialization("Unable to parse the request body: %s", err.Error())
}

// wireType names a Go type the way the AWS models do.
func wireType(goType string) string {
	t := strings.TrimPrefix(goType, "*")
	switch {
	case t == "string":
		return "string"
	case strings.HasPrefix(t, "int") || strings.HasPrefix(t, "uint"):
		return "integer"
	case strings.HasPrefix(t, "float"):
		return "number"
	case t == "bool":
		return "boolean"
	case strings.HasPrefix(t, "[]"):
		return "list"
	case strings.HasPrefix(t, "map["):
		return "map"
	case strings.HasSuffix(t, "awsjson.Time"):
		return "timestamp"
	}
	return "structure"
}

// Handler answers one operation. It returns the response (marshalled to
// JSON; nil means {}) or an error: an *apierr.Error is the caller's mistake,
// anything else a server fault.
type Handler func(ctx context.Context, req *Request) (any, error)

// APIConfig configures an API.
type APIConfig struct {
	// API is the AWS API name (events.APIECS, ...).
	API string
	// FaultCode answers unexpected errors: ServerException for ECS and ECR,
	// ServiceUnavailableException for Logs.
	FaultCode events.Code
	// MaxInFlight bounds concurrent handlers per replica (default 256).
	MaxInFlight int
	// Timeout bounds each handler (default 60 s).
	Timeout time.Duration
	Log     *slog.Logger
}

// API registers AWS operations as micro endpoints on berth.api.<api>.<Op>,
// in the shared queue group, and runs each request in its own goroutine so a
// slow call never holds up the others.
type API struct {
	cfg   APIConfig
	svc   micro.Service
	sem   chan struct{}
	wg    sync.WaitGroup
	group micro.Group
}

// NewAPI prepares endpoints for cfg.API on svc.
func NewAPI(svc micro.Service, cfg APIConfig) *API {
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 256
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 60 * time.Second
	}
	if cfg.FaultCode == "" {
		cfg.FaultCode = events.CodeServer
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &API{
		cfg:   cfg,
		svc:   svc,
		sem:   make(chan struct{}, cfg.MaxInFlight),
		group: svc.AddGroup("berth.api."+cfg.API, micro.WithGroupQueueGroup(events.QueueGroup)),
	}
}

// Handle registers h for operation op.
func (a *API) Handle(op string, h Handler) error {
	err := a.group.AddEndpoint(op, micro.HandlerFunc(func(r micro.Request) {
		a.sem <- struct{}{}
		a.wg.Add(1)
		go func() {
			defer func() { <-a.sem; a.wg.Done() }()
			a.serve(op, h, r)
		}()
	}))
	if err != nil {
		return fmt.Errorf("endpoint %s.%s: %w", a.cfg.API, op, err)
	}
	return nil
}

// Wait blocks until every running handler has answered; call it after
// stopping the micro service and before draining the connection.
func (a *API) Wait() { a.wg.Wait() }

func (a *API) serve(op string, h Handler, r micro.Request) {
	// The caller's trace (traceparent header) continues in a server span
	// named after the operation.
	ctx := tracing.Extract(context.Background(), nats.Header(r.Headers()))
	ctx, span := tracing.Tracer().Start(ctx, a.cfg.API+"."+op, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("rpc.system", "nats"), attribute.String("rpc.method", op)))
	defer span.End()
	ctx, cancel := context.WithTimeout(ctx, a.cfg.Timeout)
	defer cancel()
	req := &Request{Operation: op, Data: r.Data(), Headers: r.Headers()}
	resp, err := a.call(ctx, h, req)
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
		a.respondError(r, op, req.RequestID(), err)
		return
	}
	var body []byte
	switch v := resp.(type) {
	case nil:
		body = []byte("{}")
	case json.RawMessage:
		body = v
	default:
		body, err = json.Marshal(v)
		if err != nil {
			a.respondError(r, op, req.RequestID(), fmt.Errorf("marshal %s response: %w", op, err))
			return
		}
	}
	if err := r.Respond(body); err != nil {
		a.cfg.Log.Warn("respond", "operation", op, "err", err)
	}
}

func (a *API) call(ctx context.Context, h Handler, req *Request) (resp any, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic in %s: %v", req.Operation, p)
		}
	}()
	return h(ctx, req)
}

func (a *API) respondError(r micro.Request, op, requestID string, err error) {
	code, msg, data := ErrorReply(err, a.cfg.FaultCode)
	if !apierrIs(err) {
		a.cfg.Log.Error("operation failed", "operation", op, "request_id", requestID, "err", err)
	}
	// Reply with micro's error headers directly: micro.Request.Error records
	// stats that micro's own goroutine reads once Handle returns, which races
	// with a reply sent from the handler goroutine.
	hdr := micro.Headers{micro.ErrorHeader: {msg}, micro.ErrorCodeHeader: {string(code)}}
	if rerr := r.Respond(data, micro.WithHeaders(hdr)); rerr != nil {
		a.cfg.Log.Warn("respond error", "operation", op, "err", rerr)
	}
}

func apierrIs(err error) bool {
	_, ok := apierr.As(err)
	return ok
}

// ErrorReply maps err to what goes on the wire: the code, the message and the
// extra members as JSON. Errors that are not *apierr.Error become fault with a
// generic message, so internal details never reach a caller.
func ErrorReply(err error, fault events.Code) (events.Code, string, []byte) {
	e, ok := apierr.As(err)
	if !ok {
		return fault, "An internal error occurred. Try again.", nil
	}
	var data []byte
	if len(e.Extra) > 0 {
		data, _ = json.Marshal(e.Extra)
	}
	return e.Code, e.Message, data
}
