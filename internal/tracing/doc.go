// Package tracing carries W3C trace context (traceparent, tracestate)
// through NATS so that one API call can be followed from the gateway to the
// services it reaches and to the agent that runs its task.
//
// Inject writes the context's span into NATS headers (natsutil.RequestRaw
// does it for every request); Extract reads it back (natsutil's micro
// handler wrapper does it before starting the operation's server span).
// Where a hop has no headers (a KV watch), the trace travels in the record
// as a traceparent string (TraceParent, ContextWithTraceParent): the
// scheduler writes it in the agent's events.TaskAssignment.
//
// Spans come from the global TracerProvider (otel.GetTracerProvider):
// a no-op unless Setup installed one, so nothing is recorded or sent when no
// OTLP endpoint is configured; an incoming traceparent still travels on.
package tracing
