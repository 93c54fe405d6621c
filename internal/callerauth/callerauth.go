package callerauth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/berth-project/berth/events"
)

// MaxAge is how far an assertion's time may be from the verifier's clock,
// either way (gateway and service clocks differ by a little).
const MaxAge = 5 * time.Minute

const version = "v1"

// Keys looks up an active access key; *accesskeys.Cache is one.
type Keys interface {
	Lookup(accessKeyID string) (events.AccessKey, bool)
}

// Errors of Verify; each means the caller is not proven.
var (
	ErrMissing    = errors.New("callerauth: no caller assertion")
	ErrMalformed  = errors.New("callerauth: malformed caller assertion")
	ErrUnknownKey = errors.New("callerauth: unknown or inactive access key")
	ErrBadMAC     = errors.New("callerauth: caller assertion does not match")
	ErrStale      = errors.New("callerauth: caller assertion is too old or too new")
)

// Set puts key's id (events.HeaderAccessKey) and an assertion for subject
// and body made at now (events.HeaderCaller) on hdr.
func Set(hdr nats.Header, key events.AccessKey, subject string, body []byte, now time.Time) {
	hdr.Set(events.HeaderAccessKey, key.AccessKeyID)
	hdr.Set(events.HeaderCaller, Assert(key, subject, body, now))
}

// Assert is the events.HeaderCaller value for a call on subject with body,
// signed by key, made at now.
func Assert(key events.AccessKey, subject string, body []byte, now time.Time) string {
	ts := strconv.FormatInt(now.Unix(), 10)
	return version + "." + ts + "." + base64.RawURLEncoding.EncodeToString(mac(key, subject, ts, body))
}

// Verify checks the assertion of a call on subject with body that claims
// access key keyID, at now, and returns that key.
func Verify(keys Keys, keyID, assertion, subject string, body []byte, now time.Time) (events.AccessKey, error) {
	if keyID == "" || assertion == "" {
		return events.AccessKey{}, ErrMissing
	}
	v, rest, ok := strings.Cut(assertion, ".")
	ts, sig, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 || v != version {
		return events.AccessKey{}, ErrMalformed
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || strconv.FormatInt(unix, 10) != ts {
		return events.AccessKey{}, ErrMalformed
	}
	// The decoder skips CR and LF even when strict: an assertion with one
	// is not the one Assert made.
	got, err := base64.RawURLEncoding.Strict().DecodeString(sig)
	if err != nil || strings.ContainsAny(sig, "\r\n") {
		return events.AccessKey{}, ErrMalformed
	}
	key, ok := keys.Lookup(keyID)
	if !ok {
		return events.AccessKey{}, ErrUnknownKey
	}
	if !hmac.Equal(got, mac(key, subject, ts, body)) {
		return events.AccessKey{}, ErrBadMAC
	}
	if d := now.Sub(time.Unix(unix, 0)); d > MaxAge || d < -MaxAge {
		return events.AccessKey{}, ErrStale
	}
	return key, nil
}

// mac is HMAC-SHA256(secret, "berth-caller-v1\n" id "\n" subject "\n" ts
// "\n" hex(SHA-256(body))). Neither the id nor the subject holds a
// newline, so the fields cannot run into each other.
func mac(key events.AccessKey, subject, ts string, body []byte) []byte {
	sum := sha256.Sum256(body)
	m := hmac.New(sha256.New, []byte(key.SecretAccessKey))
	m.Write([]byte("berth-caller-" + version + "\n"))
	m.Write([]byte(key.AccessKeyID + "\n" + subject + "\n" + ts + "\n"))
	m.Write([]byte(hex.EncodeToString(sum[:])))
	return m.Sum(nil)
}
