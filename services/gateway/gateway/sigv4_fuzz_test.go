package gateway

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/apierr"
)

// FuzzAuthorization feeds arbitrary Authorization and X-Amz-Date headers
// through the checks the gateway runs before reading a body: each input is
// accepted or refused with an AWS error (never a panic), and nothing with a
// malformed header reaches the signature check.
func FuzzAuthorization(f *testing.F) {
	now := time.Date(2026, 11, 21, 18, 40, 27, 0, time.UTC)
	for _, tc := range []struct{ auth, date string }{
		{"AWS4-HMAC-SHA256 Credential=AKID/20261121/us-east-1/ecs/aws4_request, SignedHeaders=host;x-amz-date, Signature=abcd", "20261121T184027Z"},
		{"AWS4-HMAC-SHA256 Credential=AKID/20261121/us-east-1/ecs/aws4_request, SignedHeaders=, Signature=", "20261121T184027Z"},
		{"AWS4-HMAC-SHA256 Credential=/////, SignedHeaders=host, Signature=00", "Sat, 21 Nov 2026 18:40:27 GMT"},
		{"Basic dXNlcjpwYXNz", ""},
		{"AWS4-HMAC-SHA256 ,,,,==", "x"},
	} {
		f.Add(tc.auth, tc.date)
	}
	f.Fuzz(func(t *testing.T, auth, date string) {
		r, err := http.NewRequest("POST", "http://127.0.0.1:4566/", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		r.Header.Set("Authorization", auth)
		r.Header.Set("X-Amz-Date", date)
		c, err := parseAuthorization(auth)
		if err != nil {
			if _, ok := apierr.As(err); !ok {
				t.Fatalf("parseAuthorization(%q): %v is not an AWS error", auth, err)
			}
			return
		}
		if c.AccessKey == "" || c.Signature == "" {
			t.Fatalf("parseAuthorization(%q) accepted %+v", auth, c)
		}
		if err := checkScope(r, c, "us-east-1", "ecs", now); err != nil {
			if _, ok := apierr.As(err); !ok {
				t.Fatalf("checkScope: %v is not an AWS error", err)
			}
			return
		}
		if err := verifySignature(r, []byte("{}"), c, "secret"); err == nil && !strings.EqualFold(c.Signature, "") {
			// A random signature matching is a 2^-256 event: treat it as a bug.
			t.Fatalf("signature %q accepted with a made-up secret", c.Signature)
		}
	})
}
