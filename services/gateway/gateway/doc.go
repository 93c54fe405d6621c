// Package gateway is Berth's AWS front door: one HTTP listener for every AWS
// JSON 1.1 API (ECS, ECR, CloudWatch Logs). It routes each POST by its
// X-Amz-Target header to the NATS subject events.SubjAPI(api, operation),
// verifies the SigV4 signature against the access keys in JetStream, and
// turns replies into AWS responses: 200 with the JSON body, or the AWS error
// shape ({"__type", "message"} plus X-Amzn-ErrorType, 400 for client errors
// and 500 for faults). It holds no state; run as many replicas as you like.
// Each NATS request carries the signing key's id and a caller assertion
// (internal/callerauth) that a service handing out credentials checks.
//
// Flow:
//
//	HTTP POST / --X-Amz-Target--> route (events.Routes) --SigV4--> NATS request
//	  berth.api.<api>.<Operation> --reply--> 200 JSON | AWS error
//
// GET /healthz answers 200 once every service the routes name answers its
// micro PING.
//
// CloudWatch metrics (events.MetricsRoute) also arrives in two other
// protocols, translated to and from the service's JSON 1.0 (query.go,
// rpcv2.go): the query protocol the Debian aws CLI 2.9 sends (form-encoded
// POST / with Action and Version, routed by the SigV4 scope's service
// "monitoring"; XML <Op>Response or ErrorResponse), and Smithy RPC v2 CBOR
// the Go SDK v2 sends (POST /service/GraniteServiceVersion20100801/operation/<Op>,
// smithy-protocol: rpc-v2-cbor; CBOR errors with x-amzn-query-error).
// JSON 1.0 (newer botocore) is the X-Amz-Target route itself. Bodies with
// Content-Encoding: gzip are decoded after the signature check. With
// Config.Meter set, every call is counted and timed by API, operation and
// status class (telemetry.go).
//
// Every API call runs in a server span "gateway <api>.<Operation>"
// (tracing.go), the child of the caller's W3C traceparent header if it sent
// one; its context travels to the service in the NATS request headers, so
// one call can be followed to the services and the agent. Spans are
// recorded only when a TracerProvider is installed (internal/tracing.Setup,
// the all-in-one's --otlp-endpoint).
package gateway
