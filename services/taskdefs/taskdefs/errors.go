package taskdefs

import (
	"fmt"
	"strings"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/apierr"
)

// Every caller-facing error of the service is built here, so the AWS codes
// and wording live in one place. Messages marked "AWS" were seen from the
// real service (issue trackers, AWS docs); "moto" ones are moto's copy of
// the AWS text; the rest are Berth's wording in the same style.

// errClient is a ClientException.
func errClient(format string, args ...any) error { return apierr.Client(format, args...) }

// errInvalid is an InvalidParameterException.
func errInvalid(format string, args ...any) error {
	return apierr.InvalidParameter(format, args...)
}

// errNotFound: unknown task definition (AWS).
func errNotFound() error { return errClient("Unable to describe task definition.") }

// errContainerSetting: AWS uses "Invalid '<field>' setting for container
// '<name>'." (seen for containerPort); Berth uses it for every
// container-level field.
func errContainerSetting(field, container string) error {
	return errClient("Invalid '%s' setting for container '%s'.", field, container)
}

// errEnum: a value outside the model's enum (Berth wording in the Smithy
// validation style).
func errEnum(member, value, enum string) error {
	return errClient("Invalid value '%s' for '%s'. Valid values: %s.", value, member, strings.Join(enumValues(enum), ", "))
}

// errTooLarge: the request is over the 64 KiB task definition limit (AWS).
func errTooLarge(n int) error {
	return errClient("Actual length: '%d'. Max allowed length is '%d' bytes.", n, maxDefinitionBytes)
}

// errRevision: a revision that is not a number (moto).
func errRevision(rev string) error { return errInvalid("Invalid revision number. Number: %s", rev) }

// errBadToken: a nextToken Berth did not issue (Berth wording).
func errBadToken() error { return errInvalid("Invalid nextToken.") }

// errMaxResults: maxResults outside 1..100 (Berth wording).
func errMaxResults(n int32) error {
	return errInvalid("maxResults must be between 1 and 100, got %d.", n)
}

// errInvalidARN: a resource ARN that is not a task definition ARN (moto).
func errInvalidARN() error { return errInvalid("The ARN provided is invalid.") }

// Failure reasons of DeleteTaskDefinitions (moto's copy of AWS).
const (
	reasonInvalidIdentifier = "The specified task definition identifier is invalid. Specify a valid name or ARN and try again."
	reasonDoesNotExist      = "The specified task definition does not exist. Specify a valid account, family, revision and try again."
	reasonStillActive       = "The specified task definition is still in ACTIVE status. Please deregister the target and try again."
)

// wrapStore marks a storage failure as a server fault, keeping the cause for
// the logs.
func wrapStore(op string, err error) error {
	return fmt.Errorf("taskdefs: %s: %w", op, err)
}

// codeOf returns the code of an apierr error ("" for anything else).
func codeOf(err error) events.Code {
	if e, ok := apierr.As(err); ok {
		return e.Code
	}
	return ""
}
