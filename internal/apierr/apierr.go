package apierr

import (
	"errors"
	"fmt"

	"github.com/berth-project/berth/events"
)

// Error is an error with a stable wire code and a message meant for the
// caller.
type Error struct {
	Code    events.Code
	Message string
	// Extra holds additional members of the AWS error body, such as
	// "resourceIds" of an ECS ConflictException.
	Extra map[string]any
	// Err is an optional cause kept for logs; it never reaches the wire.
	Err error
}

func (e *Error) Error() string {
	if e.Message == "" {
		return string(e.Code)
	}
	return string(e.Code) + ": " + e.Message
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// New returns an Error with a formatted message.
func New(code events.Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an Error carrying cause for the logs.
func Wrap(cause error, code events.Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Err: cause}
}

// As returns the *Error in err's chain, if any.
func As(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	return nil, false
}

// HasCode reports whether err carries code.
func HasCode(err error, code events.Code) bool {
	e, ok := As(err)
	return ok && e.Code == code
}

// Shorthands for the codes every API uses.

// InvalidParameter is an InvalidParameterException.
func InvalidParameter(format string, args ...any) *Error {
	return New(events.CodeInvalidParameter, format, args...)
}

// Client is an ECS ClientException.
func Client(format string, args ...any) *Error {
	return New(events.CodeClient, format, args...)
}

// Serialization is a SerializationException for a body that is not the JSON
// the operation expects.
func Serialization(format string, args ...any) *Error {
	return New(events.CodeSerialization, format, args...)
}
