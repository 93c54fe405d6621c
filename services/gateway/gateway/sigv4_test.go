package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/apierr"
)

var testCreds = aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}

func signedRequest(t *testing.T, body string, at time.Time, service string) *http.Request {
	t.Helper()
	return signedRequestIn(t, body, at, service, "us-east-1")
}

func signedRequestIn(t *testing.T, body string, at time.Time, service, region string) *http.Request {
	t.Helper()
	r, err := http.NewRequest("POST", "http://127.0.0.1:4566/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Content-Type", "application/x-amz-json-1.1")
	r.Header.Set("X-Amz-Target", "AmazonEC2ContainerServiceV20141113.ListClusters")
	r.Header.Set("Amz-Sdk-Request", "attempt=1")
	sum := sha256.Sum256([]byte(body))
	if err := v4.NewSigner().SignHTTP(context.Background(), testCreds, r, hex.EncodeToString(sum[:]), service, region, at); err != nil {
		t.Fatal(err)
	}
	// What a server sees: Host moved out of the header map.
	r.Host = r.URL.Host
	return r
}

func verify(r *http.Request, body string, secret string, now time.Time) error {
	c, err := parseAuthorization(r.Header.Get("Authorization"))
	if err != nil {
		return err
	}
	if err := checkScope(r, c, "us-east-1", "ecs", now); err != nil {
		return err
	}
	return verifySignature(r, []byte(body), c, secret)
}

func TestVerifySigV4_SDKSigner(t *testing.T) {
	now := time.Date(2026, 11, 21, 18, 40, 27, 0, time.UTC)
	body := `{"maxResults": 10}`
	cases := []struct {
		name    string
		req     *http.Request
		body    string
		secret  string
		now     time.Time
		code    events.Code
		message string
	}{
		{name: "valid", req: signedRequest(t, body, now, "ecs"), body: body, secret: testCreds.SecretAccessKey, now: now},
		{name: "valid within skew", req: signedRequest(t, body, now, "ecs"), body: body, secret: testCreds.SecretAccessKey, now: now.Add(4 * time.Minute)},
		{name: "skew 14 min late", req: signedRequest(t, body, now, "ecs"), body: body, secret: testCreds.SecretAccessKey, now: now.Add(14 * time.Minute)},
		{name: "skew 14 min early", req: signedRequest(t, body, now, "ecs"), body: body, secret: testCreds.SecretAccessKey, now: now.Add(-14 * time.Minute)},
		{name: "wrong region", req: signedRequestIn(t, body, now, "ecs", "eu-west-1"), body: body, secret: testCreds.SecretAccessKey, now: now, code: events.CodeInvalidSignature, message: "Credential should be scoped to a valid region, not 'eu-west-1'. "},
		{name: "wrong service", req: signedRequest(t, body, now, "ecr"), body: body, secret: testCreds.SecretAccessKey, now: now, code: events.CodeInvalidSignature, message: "Credential should be scoped to correct service: 'ecs'. "},
		{name: "tampered body", req: signedRequest(t, body, now, "ecs"), body: `{"maxResults": 11}`, secret: testCreds.SecretAccessKey, now: now, code: events.CodeInvalidSignature, message: "does not match"},
		{name: "wrong secret", req: signedRequest(t, body, now, "ecs"), body: body, secret: "other", now: now, code: events.CodeInvalidSignature, message: "does not match"},
		{name: "expired", req: signedRequest(t, body, now, "ecs"), body: body, secret: testCreds.SecretAccessKey, now: now.Add(16 * time.Minute), code: events.CodeInvalidSignature, message: "Signature expired: 20261121T184027Z is now earlier than 20261121T184127Z (20261121T185627Z - 15 min.)"},
		{name: "not yet current", req: signedRequest(t, body, now, "ecs"), body: body, secret: testCreds.SecretAccessKey, now: now.Add(-16 * time.Minute), code: events.CodeInvalidSignature, message: "Signature not yet current: 20261121T184027Z is still later than 20261121T183927Z (20261121T182427Z + 15 min.)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := verify(tc.req, tc.body, tc.secret, tc.now)
			if tc.code == "" {
				if err != nil {
					t.Fatalf("want ok, got %v", err)
				}
				return
			}
			e, ok := apierr.As(err)
			if !ok || e.Code != tc.code || !strings.Contains(e.Message, tc.message) {
				t.Fatalf("want %s %q, got %v", tc.code, tc.message, err)
			}
		})
	}
}

func TestVerifySigV4_TamperedSignedHeader(t *testing.T) {
	now := time.Now()
	r := signedRequest(t, "{}", now, "ecs")
	r.Header.Set("X-Amz-Target", "AmazonEC2ContainerServiceV20141113.DeleteCluster")
	if err := verify(r, "{}", testCreds.SecretAccessKey, now); !apierr.HasCode(err, events.CodeInvalidSignature) {
		t.Fatalf("tampered target accepted: %v", err)
	}
}

func TestParseAuthorization_Malformed(t *testing.T) {
	for _, h := range []string{
		"Basic abc",
		"AWS4-HMAC-SHA256 Credential=AKID/20261121/us-east-1/ecs/aws4_request",
		"AWS4-HMAC-SHA256 Credential=AKID/20261121/ecs, SignedHeaders=host, Signature=00",
	} {
		if _, err := parseAuthorization(h); !apierr.HasCode(err, events.CodeIncompleteSignature) {
			t.Errorf("%q: %v", h, err)
		}
	}
}
