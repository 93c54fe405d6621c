package registry

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// errKind classifies the caller mistakes the registry's logic reports. Each
// boundary maps them once: ociError for the distribution API, ecrError for
// the ECR operations.
type errKind int

const (
	kindRepoNotFound errKind = iota + 1
	kindNameInvalid
	kindManifestUnknown
	kindBlobUnknown
	kindUploadUnknown
	kindDigestInvalid
	kindManifestInvalid
	kindManifestBlobUnknown  // config or layers not in the repository
	kindManifestChildUnknown // index children not in the repository
	kindTagInvalid
	kindTagImmutable
	kindRangeInvalid
	kindSizeInvalid
	kindTooLarge
	kindUnsupported
	kindImageAlreadyExists
	kindDenied
	kindRepoExists
	kindRepoNotEmpty
	kindRangeUnsatisfiable // a blob GET's Range
)

// regError is a caller mistake with the message the caller sees.
type regError struct {
	kind    errKind
	msg     string
	digests []string // missing blobs or manifests, for MANIFEST_BLOB_UNKNOWN and ECR
	repo    string
	tag     string
}

func (e *regError) Error() string { return e.msg }

func newErr(kind errKind, format string, args ...any) *regError {
	return &regError{kind: kind, msg: fmt.Sprintf(format, args...)}
}

func asRegError(err error) (*regError, bool) {
	var e *regError
	ok := errors.As(err, &e)
	return e, ok
}

func isKind(err error, k errKind) bool {
	e, ok := asRegError(err)
	return ok && e.kind == k
}

// Messages shared by both boundaries (ECR wording where ECR has one).

func errRepoNotFound(repo, account string) *regError {
	e := newErr(kindRepoNotFound, "The repository with name '%s' does not exist in the registry with id '%s'", repo, account)
	e.repo = repo
	return e
}

func errTagImmutable(repo, tag string) *regError {
	e := newErr(kindTagImmutable, "The image tag '%s' already exists in the '%s' repository and cannot be overwritten because the repository is immutable.", tag, repo)
	e.repo, e.tag = repo, tag
	return e
}

// ociCode is an OCI distribution error code with its HTTP status.
type ociCode struct {
	Code   string
	Status int
}

var ociCodes = map[errKind]ociCode{
	kindRepoNotFound:         {"NAME_UNKNOWN", http.StatusNotFound},
	kindNameInvalid:          {"NAME_INVALID", http.StatusBadRequest},
	kindManifestUnknown:      {"MANIFEST_UNKNOWN", http.StatusNotFound},
	kindBlobUnknown:          {"BLOB_UNKNOWN", http.StatusNotFound},
	kindUploadUnknown:        {"BLOB_UPLOAD_UNKNOWN", http.StatusNotFound},
	kindDigestInvalid:        {"DIGEST_INVALID", http.StatusBadRequest},
	kindManifestInvalid:      {"MANIFEST_INVALID", http.StatusBadRequest},
	kindManifestBlobUnknown:  {"MANIFEST_BLOB_UNKNOWN", http.StatusBadRequest},
	kindManifestChildUnknown: {"MANIFEST_BLOB_UNKNOWN", http.StatusBadRequest},
	kindTagInvalid:           {"MANIFEST_INVALID", http.StatusBadRequest},
	// ECR answers a push over an immutable tag with TAG_INVALID, which docker
	// shows as "tag invalid: ...".
	kindTagImmutable:       {"TAG_INVALID", http.StatusBadRequest},
	kindRangeInvalid:       {"BLOB_UPLOAD_INVALID", http.StatusRequestedRangeNotSatisfiable},
	kindSizeInvalid:        {"SIZE_INVALID", http.StatusBadRequest},
	kindTooLarge:           {"MANIFEST_INVALID", http.StatusRequestEntityTooLarge},
	kindUnsupported:        {"UNSUPPORTED", http.StatusMethodNotAllowed},
	kindImageAlreadyExists: {"MANIFEST_INVALID", http.StatusBadRequest},
	kindDenied:             {"DENIED", http.StatusForbidden},
	kindRepoExists:         {"UNSUPPORTED", http.StatusBadRequest},
	kindRepoNotEmpty:       {"UNSUPPORTED", http.StatusBadRequest},
	kindRangeUnsatisfiable: {"UNSUPPORTED", http.StatusRequestedRangeNotSatisfiable},
}

// ociBody is the spec's error body.
type ociBody struct {
	Errors []ociErrorEntry `json:"errors"`
}

type ociErrorEntry struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Detail  any    `json:"detail,omitempty"`
}

// ociError maps err to the distribution API: status and body. Anything that
// is not a regError is a server fault whose details stay in the logs.
func ociError(err error) (int, ociBody) {
	e, ok := asRegError(err)
	if !ok {
		return http.StatusInternalServerError, ociBody{Errors: []ociErrorEntry{{Code: "UNKNOWN", Message: "internal server error"}}}
	}
	c := ociCodes[e.kind]
	if len(e.digests) > 0 {
		entries := make([]ociErrorEntry, 0, len(e.digests))
		for _, d := range e.digests {
			entries = append(entries, ociErrorEntry{Code: c.Code, Message: e.msg, Detail: map[string]string{"digest": d}})
		}
		return c.Status, ociBody{Errors: entries}
	}
	return c.Status, ociBody{Errors: []ociErrorEntry{{Code: c.Code, Message: e.msg}}}
}

// quoteList formats digests as ECR does in its messages: [a, b].
func quoteList(ds []string) string { return "[" + strings.Join(ds, ", ") + "]" }
