// Package ids makes the identifiers Berth hands out: request ids and event
// ids (UUID v4), ECS task and container-instance ids (32 hex digits), and
// secrets.
package ids
