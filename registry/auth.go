package registry

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/berth-project/berth/events"
)

// Registry credentials are HTTP Basic, as with ECR: user "AWS" and a token
// from GetAuthorizationToken, or an access key id and its secret.
//
// A token is base64url(payload) "." base64url(HMAC-SHA256(secret, payload))
// where payload is {"k": access key id, "e": expiry (Unix seconds)}. Any
// replica verifies it against the access keys, so deleting or disabling the
// key revokes its tokens. The alphabet has no ':', which `aws ecr
// get-login-password` needs.

// tokenUser is the user name that goes with a token.
const tokenUser = "AWS"

type tokenPayload struct {
	Key     string `json:"k"`
	Expires int64  `json:"e"`
}

var (
	errNoCredentials = errors.New("authentication required")
	errBadToken      = errors.New("invalid authorization token")
	errExpiredToken  = errors.New("authorization token has expired")
	errBadKey        = errors.New("invalid access key or secret")
)

// newToken issues a registry password for key, valid until exp.
func newToken(key events.AccessKey, exp time.Time) string {
	payload := base64.RawURLEncoding.EncodeToString(mustJSON(tokenPayload{Key: key.AccessKeyID, Expires: exp.Unix()}))
	return payload + "." + base64.RawURLEncoding.EncodeToString(tokenMAC(key.SecretAccessKey, payload))
}

func tokenMAC(secret, payload string) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("berth-registry-token-v1."))
	m.Write([]byte(payload))
	return m.Sum(nil)
}

// checkToken verifies a token and returns the access key id it was issued
// for.
func checkToken(keys KeyStore, token string, now time.Time) (string, error) {
	payload, sig, ok := strings.Cut(token, ".")
	if !ok {
		return "", errBadToken
	}
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return "", errBadToken
	}
	var p tokenPayload
	if err := json.Unmarshal(raw, &p); err != nil || p.Key == "" {
		return "", errBadToken
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		return "", errBadToken
	}
	k, ok := keys.Lookup(p.Key)
	if !ok || !hmac.Equal(got, tokenMAC(k.SecretAccessKey, payload)) {
		return "", errBadToken
	}
	if now.Unix() >= p.Expires {
		return "", errExpiredToken
	}
	return p.Key, nil
}

// authenticate checks the request's Basic credentials and returns the
// access key id they belong to.
func (s *Service) authenticate(r *http.Request) (string, error) {
	user, pass, ok := r.BasicAuth()
	if !ok {
		return "", errNoCredentials
	}
	if user == tokenUser {
		return checkToken(s.keys, pass, s.cfg.Now())
	}
	k, found := s.keys.Lookup(user)
	if !found || subtle.ConstantTimeCompare([]byte(pass), []byte(k.SecretAccessKey)) != 1 {
		return "", errBadKey
	}
	return k.AccessKeyID, nil
}

// authMessage is what a 401 tells the client.
func authMessage(err error) string {
	switch err {
	case errExpiredToken:
		return "Your authorization token has expired. Reauthenticate and try again."
	case errNoCredentials:
		return "authentication required"
	}
	return "Your authorization token is invalid. Reauthenticate and try again."
}

// challenge is the WWW-Authenticate header of a 401, in ECR's form.
func (s *Service) challenge() string {
	return `Basic realm="` + s.scheme() + `://` + s.host() + `/",service="ecr.amazonaws.com"`
}
