package registry_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/nats-io/nats.go"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/ecrapi"
	"github.com/berth-project/berth/internal/apierr"
	"github.com/berth-project/berth/internal/callerauth"
	"github.com/berth-project/berth/internal/natsutil"
)

// token is the root key's registry password from ECR GetAuthorizationToken
// through the real gateway, fetched once per env.
func (e *env) token(t testing.TB) string {
	t.Helper()
	e.tokenMu.Lock()
	defer e.tokenMu.Unlock()
	if e.tok == "" {
		out, err := e.ECR().GetAuthorizationToken(context.Background(), &ecr.GetAuthorizationTokenInput{})
		if err != nil || len(out.AuthorizationData) == 0 {
			t.Fatalf("GetAuthorizationToken: %v", err)
		}
		e.tok = password(t, aws.ToString(out.AuthorizationData[0].AuthorizationToken))
	}
	return e.tok
}

// password is the password of an ECR authorization token, base64("AWS:" + password).
func password(t testing.TB, authorizationToken string) string {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(authorizationToken)
	user, pw, ok := strings.Cut(string(raw), ":")
	if err != nil || !ok || user != "AWS" || pw == "" {
		t.Fatalf("authorization token %q: not base64(AWS:<password>)", authorizationToken)
	}
	return pw
}

// tokenOverNATS gets key's registry password from GetAuthorizationToken
// over NATS with the caller assertion the gateway makes (for tests that
// run a registry without a gateway).
func tokenOverNATS(t testing.TB, nc *nats.Conn, key events.AccessKey) string {
	t.Helper()
	subj := events.SubjAPI(events.APIECR, "GetAuthorizationToken")
	body := []byte("{}")
	hdr := nats.Header{}
	callerauth.Set(hdr, key, subj, body, time.Now())
	out, err := getAuthorizationToken(t.Context(), nc, body, hdr)
	if err != nil {
		t.Fatalf("GetAuthorizationToken: %v", err)
	}
	return password(t, out.AuthorizationData[0].AuthorizationToken)
}

func getAuthorizationToken(ctx context.Context, nc *nats.Conn, body []byte, hdr nats.Header) (*ecrapi.GetAuthorizationTokenResponse, error) {
	reply, err := natsutil.RequestRaw(ctx, nc, events.SubjAPI(events.APIECR, "GetAuthorizationToken"), body, hdr)
	if err != nil {
		return nil, err
	}
	var out ecrapi.GetAuthorizationTokenResponse
	if err := json.Unmarshal(reply.Data, &out); err != nil {
		return nil, err
	}
	if len(out.AuthorizationData) == 0 {
		return nil, errors.New("no authorization data")
	}
	return &out, nil
}

// pullToken asks the registry for an agent pull token over NATS and
// returns its password.
func pullToken(t testing.TB, nc *nats.Conn) (string, events.RegistryPullTokenReply) {
	t.Helper()
	var out events.RegistryPullTokenReply
	if err := natsutil.Call(t.Context(), nc, events.SubjRegistryPullToken, events.RegistryPullTokenRequest{Requester: "test"}, &out); err != nil {
		t.Fatalf("PullToken: %v", err)
	}
	return password(t, out.AuthorizationToken), out
}

func basicAuth(user, pw string) map[string]string {
	return map[string]string{"Authorization": "Basic " + b64(user+":"+pw)}
}

// A NATS client that sets the access key header itself, without the
// gateway's assertion (or with one it made up), gets no token; the
// assertion the gateway makes, for this subject and body, gets one.
func TestAuth_GetAuthorizationTokenNeedsTheGatewaysAssertion(t *testing.T) {
	e := newEnv(t, nil)
	subj := events.SubjAPI(events.APIECR, "GetAuthorizationToken")
	body := []byte("{}")
	now := time.Now()
	guessed := events.AccessKey{AccessKeyID: e.Key.AccessKeyID, SecretAccessKey: "not-the-secret"}
	for name, hdr := range map[string]nats.Header{
		"no headers":        {},
		"key header only":   {events.HeaderAccessKey: {e.Key.AccessKeyID}},
		"made-up assertion": {events.HeaderAccessKey: {e.Key.AccessKeyID}, events.HeaderCaller: {"v1." + strconv.FormatInt(now.Unix(), 10) + ".AAAA"}},
		"guessed secret":    {events.HeaderAccessKey: {e.Key.AccessKeyID}, events.HeaderCaller: {callerauth.Assert(guessed, subj, body, now)}},
		"other operation":   {events.HeaderAccessKey: {e.Key.AccessKeyID}, events.HeaderCaller: {callerauth.Assert(e.Key, events.SubjAPI(events.APIECR, "ListImages"), body, now)}},
		"other body":        {events.HeaderAccessKey: {e.Key.AccessKeyID}, events.HeaderCaller: {callerauth.Assert(e.Key, subj, []byte(`{"registryIds":[]}`), now)}},
		"stale":             {events.HeaderAccessKey: {e.Key.AccessKeyID}, events.HeaderCaller: {callerauth.Assert(e.Key, subj, body, now.Add(-callerauth.MaxAge-time.Minute))}},
	} {
		out, err := getAuthorizationToken(t.Context(), e.NC, body, hdr)
		if !apierr.HasCode(err, events.CodeUnrecognizedClient) || out != nil {
			t.Errorf("%s: got %+v, %v; want %s and no token", name, out, err, events.CodeUnrecognizedClient)
		}
	}
	// The gateway's assertion works, and its token is a registry password.
	pw := tokenOverNATS(t, e.NC, e.Key)
	want(t, e.do(t, req{Method: "GET", Path: "/v2/", Headers: basicAuth("AWS", pw)}), http.StatusOK)
}

// An access key id and its secret are not registry credentials, for
// reads or writes.
func TestAuth_SecretIsNotAPassword(t *testing.T) {
	e := newEnv(t, nil)
	creds := basicAuth(e.Key.AccessKeyID, e.Key.SecretAccessKey)
	for _, r := range []req{
		{Method: "GET", Path: "/v2/"},
		{Method: "GET", Path: "/v2/_catalog"},
		{Method: "POST", Path: "/v2/secret/app/blobs/uploads/"},
		{Method: "GET", Path: "/v2/secret/app/tags/list"},
	} {
		r.Headers = creds
		res := e.do(t, r)
		want(t, res, http.StatusUnauthorized, "UNAUTHORIZED")
		if res.Header.Get("WWW-Authenticate") == "" {
			t.Fatalf("%s %s: no challenge", r.Method, r.Path)
		}
	}
	// With user AWS the secret is no token either.
	want(t, e.do(t, req{Method: "GET", Path: "/v2/", Headers: basicAuth("AWS", e.Key.SecretAccessKey)}), http.StatusUnauthorized, "UNAUTHORIZED")
}

// An agent's pull token reads from any replica but cannot push or delete:
// 403 DENIED, nothing changed. It expires, and a tampered one is refused.
func TestAuth_PullTokenPullsButCannotPush(t *testing.T) {
	var clock atomicTime
	clock.Set(time.Now())
	e := newEnv(t, func(c *registryConfig) { c.Now = clock.Get; c.PullTokenTTL = time.Hour })
	_, url2 := e.startReplica(t, func(c *registryConfig) { c.Now = clock.Get })
	img := e.pushImage(t, "pull/app", 2, nil)
	want(t, e.pushManifest(t, "pull/app", "v1", mtOCIManifest, img.Manifest), http.StatusCreated)

	pw, reply := pullToken(t, e.NC)
	if reply.ProxyEndpoint == "" || reply.ExpiresAt.Sub(clock.Get()) < 59*time.Minute || reply.ExpiresAt.Sub(clock.Get()) > time.Hour {
		t.Fatalf("pull token reply %+v", reply)
	}
	pull := basicAuth("AWS", pw)
	for _, base := range []string{"", url2} {
		want(t, e.do(t, req{Method: "GET", Path: "/v2/", Headers: pull, Base: base}), http.StatusOK)
		r := e.do(t, req{Method: "GET", Path: "/v2/pull/app/manifests/v1", Headers: withAccept(pull, mtOCIManifest), Base: base})
		want(t, r, http.StatusOK)
		want(t, e.do(t, req{Method: "HEAD", Path: "/v2/pull/app/blobs/" + img.Layers[0], Headers: pull, Base: base}), http.StatusOK)
		want(t, e.do(t, req{Method: "GET", Path: "/v2/pull/app/blobs/" + img.Layers[0], Headers: pull, Base: base}), http.StatusOK)
	}
	blob := []byte("pushed with a pull token")
	for _, r := range []req{
		{Method: "POST", Path: "/v2/pull/app/blobs/uploads/"},
		{Method: "POST", Path: "/v2/pull/app/blobs/uploads/?digest=" + sha256Digest(blob), Body: blob},
		{Method: "PUT", Path: "/v2/pull/app/manifests/v2", Body: img.Manifest, Headers: map[string]string{"Content-Type": mtOCIManifest}},
		{Method: "DELETE", Path: "/v2/pull/app/manifests/" + img.Digest},
		{Method: "DELETE", Path: "/v2/pull/app/blobs/" + img.Layers[0]},
	} {
		h := map[string]string{}
		for k, v := range r.Headers {
			h[k] = v
		}
		h["Authorization"] = pull["Authorization"]
		r.Headers = h
		res := e.do(t, r)
		want(t, res, http.StatusForbidden, "DENIED")
		if !strings.Contains(string(res.Body), "not authorized to perform: ecr:") {
			t.Fatalf("%s %s: %s", r.Method, r.Path, res)
		}
	}
	// Nothing changed: v2 does not exist, v1 and the layer are still there.
	want(t, e.do(t, req{Method: "GET", Path: "/v2/pull/app/manifests/v2", Headers: map[string]string{"Accept": mtOCIManifest}}), http.StatusNotFound, "MANIFEST_UNKNOWN")
	want(t, e.do(t, req{Method: "GET", Path: "/v2/pull/app/manifests/v1", Headers: map[string]string{"Accept": mtOCIManifest}}), http.StatusOK)
	want(t, e.do(t, req{Method: "HEAD", Path: "/v2/pull/app/blobs/" + sha256Digest(blob)}), http.StatusNotFound)

	// A tampered token, and a pull token's payload with the signature of
	// another, are refused.
	payload, sig, _ := strings.Cut(pw, ".")
	other, _ := pullToken(t, e.NC)
	_, otherSig, _ := strings.Cut(other, ".")
	for _, bad := range []string{payload + "." + strings.Repeat("A", len(sig)), payload + "x." + sig} {
		want(t, e.do(t, req{Method: "GET", Path: "/v2/", Headers: basicAuth("AWS", bad)}), http.StatusUnauthorized, "UNAUTHORIZED")
	}
	if otherSig == sig && other != pw {
		t.Fatal("two pull tokens with different payloads share a signature")
	}
	// Expired an hour later.
	clock.Set(time.Now().Add(61 * time.Minute))
	r := e.do(t, req{Method: "GET", Path: "/v2/", Headers: pull})
	want(t, r, http.StatusUnauthorized, "UNAUTHORIZED")
	if !strings.Contains(string(r.Body), "expired") {
		t.Fatalf("expired pull token: %s", r)
	}
}

func withAccept(h map[string]string, mediaType string) map[string]string {
	out := map[string]string{"Accept": mediaType}
	for k, v := range h {
		out[k] = v
	}
	return out
}

// The pull key survives a restart: a token from before still verifies on
// a registry started later on the same JetStream.
func TestAuth_PullKeyIsSharedAndKept(t *testing.T) {
	e := newEnv(t, nil)
	pw, _ := pullToken(t, e.NC)
	_, url2 := e.startReplica(t, nil)
	want(t, e.do(t, req{Method: "GET", Path: "/v2/", Headers: basicAuth("AWS", pw), Base: url2}), http.StatusOK)
	kv, err := e.JS.KeyValue(t.Context(), events.BucketRegistry.Name)
	if err != nil {
		t.Fatal(err)
	}
	entry, err := kv.Get(t.Context(), "auth.pull")
	if err != nil || len(entry.Value()) != 32 || entry.Revision() == 0 {
		t.Fatalf("pull key: %v", err)
	}
}
