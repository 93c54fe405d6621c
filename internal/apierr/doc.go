// Package apierr is the error type every Berth API handler returns for a
// caller's mistake: an AWS error code from events (ClusterNotFoundException,
// ClientException, ...) with AWS's message, and optional extra members for the
// error body. Any other error reaching a boundary is a server fault: it is
// logged and answered as the API's generic fault code, never with its text.
//
// Errors cross NATS as micro errors (code = the AWS code, description = the
// message, data = extra members as JSON) and are rebuilt by natsutil on the
// caller's side, so errors.As works across a request/reply hop.
package apierr
