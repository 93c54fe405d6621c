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
	r, err := http.NewRequest("POST", "http://127.0.0.1:4566/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Content-Type", "application/x-amz-json-1.1")
	r.Header.Set("X-Amz-Target", "AmazonEC2ContainerServiceV20141113.ListClusters")
	r.Header.Set("Amz-Sdk-Request", "attempt=1")
	sum := sha256.Sum256([]byte(body))
	if err := v4.NewSigner().SignHTTP(context.Background(), testCreds, r, hex.EncodeToString(sum[:]), service, "us-east-1", at); err != nil {
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
	return verifySigV4(r, []byte(body), c, secret, now)
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
		{name: "tampered body", req: signedRequest(t, body, now, "ecs"), body: `{"maxResults": 11}`, secret: testCreds.SecretAccessKey, now: now, code: events.CodeInvalidSignature, message: "does not match"},
		{name: "wrong secret", req: signedRequest(t, body, now, "ecs"), body: body, secret: "other", now: now, code: events.CodeInvalidSignature, message: "does not match"},
		{name: "expired", req: signedRequest(t, body, now, "ecs"), body: body, secret: testCreds.SecretAccessKey, now: now.Add(6 * time.Minute), code: events.CodeInvalidSignature, message: "Signature expired: 20261121T184027Z is now earlier than 20261121T184127Z (20261121T184627Z - 5 min.)"},
		{name: "not yet current", req: signedRequest(t, body, now, "ecs"), body: body, secret: testCreds.SecretAccessKey, now: now.Add(-6 * time.Minute), code: events.CodeInvalidSignature, message: "Signature not yet current"},
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
