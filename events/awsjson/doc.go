// Package awsjson holds the small pieces of the AWS JSON 1.1 wire format that
// the generated API types share: timestamps as epoch-second numbers, and
// helpers for the pointer-typed scalars of those types.
package awsjson
