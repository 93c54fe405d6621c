package registry

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/berth-project/berth/events"
)

// Registry credentials are HTTP Basic, as with ECR: user "AWS" and a token.
// A raw access key secret is never a password.
//
// A token is base64url(payload) "." base64url(HMAC-SHA256(secret, payload)).
// There are two kinds:
//
//   - GetAuthorizationToken tokens, payload {"k": access key id, "e": expiry
//     (Unix seconds)}, MAC keyed with that key's secret. Any replica verifies
//     them against the access keys, so deleting or disabling the key revokes
//     its tokens. They allow everything.
//   - Pull tokens (events.SubjRegistryPullToken, for agents), payload
//     {"s": "pull", "e": expiry}, MAC keyed with the registry's own pull key
//     (pullkey.go). They allow reads (GET, HEAD) only.
//
// The alphabet has no ':', which `aws ecr get-login-password` needs.

// tokenUser is the user name that goes with a token.
const tokenUser = "AWS"

// scopePull is the scope of a pull token.
const scopePull = "pull"

type tokenPayload struct {
	Key     string `json:"k,omitempty"`
	Scope   string `json:"s,omitempty"`
	Expires int64  `json:"e"`
}

// principal is who a request's credentials stand for.
type principal struct {
	key      string // access key id; "" for a pull token
	pullOnly bool
}

var (
	errNoCredentials = errors.New("authentication required")
	errBadToken      = errors.New("invalid authorization token")
	errExpiredToken  = errors.New("authorization token has expired")
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

// newPullToken issues a pull-only registry password, valid until exp,
// signed with the registry's pull key.
func newPullToken(pullKey []byte, exp time.Time) string {
	payload := base64.RawURLEncoding.EncodeToString(mustJSON(tokenPayload{Scope: scopePull, Expires: exp.Unix()}))
	return payload + "." + base64.RawURLEncoding.EncodeToString(pullMAC(pullKey, payload))
}

func pullMAC(pullKey []byte, payload string) []byte {
	m := hmac.New(sha256.New, pullKey)
	m.Write([]byte("berth-registry-pull-token-v1."))
	m.Write([]byte(payload))
	return m.Sum(nil)
}

// checkToken verifies a token and returns whom it was issued for.
func checkToken(keys KeyStore, pullKey []byte, token string, now time.Time) (principal, error) {
	payload, sig, ok := strings.Cut(token, ".")
	if !ok {
		return principal{}, errBadToken
	}
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return principal{}, errBadToken
	}
	var p tokenPayload
	if err := json.Unmarshal(raw, &p); err != nil {
		return principal{}, errBadToken
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		return principal{}, errBadToken
	}
	var who principal
	switch {
	case p.Scope == scopePull && p.Key == "":
		if len(pullKey) == 0 || !hmac.Equal(got, pullMAC(pullKey, payload)) {
			return principal{}, errBadToken
		}
		who = principal{pullOnly: true}
	case p.Scope == "" && p.Key != "":
		k, ok := keys.Lookup(p.Key)
		if !ok || !hmac.Equal(got, tokenMAC(k.SecretAccessKey, payload)) {
			return principal{}, errBadToken
		}
		who = principal{key: p.Key}
	default:
		return principal{}, errBadToken
	}
	if now.Unix() >= p.Expires {
		return principal{}, errExpiredToken
	}
	return who, nil
}

// authenticate checks the request's Basic credentials: user "AWS" and a
// token. Anything else, an access key id and its secret included, is
// refused.
func (s *Service) authenticate(r *http.Request) (principal, error) {
	user, pass, ok := r.BasicAuth()
	if !ok {
		return principal{}, errNoCredentials
	}
	if user != tokenUser {
		return principal{}, errBadToken
	}
	return checkToken(s.keys, s.pullKey, pass, s.cfg.Now())
}

// allowed refuses a pull-only principal anything but reads, with ECR's
// answer to a push without permission (403 DENIED).
func (s *Service) allowed(who principal, r *http.Request, rt route) error {
	if !who.pullOnly || r.Method == http.MethodGet || r.Method == http.MethodHead {
		return nil
	}
	action := "PutImage"
	switch {
	case rt.kind == routeUploads && r.Method == http.MethodPost:
		action = "InitiateLayerUpload"
	case rt.kind == routeUploads && r.Method == http.MethodPatch:
		action = "UploadLayerPart"
	case rt.kind == routeUploads && r.Method == http.MethodPut:
		action = "CompleteLayerUpload"
	case r.Method == http.MethodDelete:
		action = "BatchDeleteImage"
	}
	return newErr(kindDenied, "User: arn:aws:sts::%s:assumed-role/berth-agent/pull-token is not authorized to perform: ecr:%s on resource: %s because the credentials are a pull-only token",
		s.cfg.Account, action, s.repositoryARN(rt.name))
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
