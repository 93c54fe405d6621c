package gateway

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/apierr"
)

const (
	sigAlgorithm = "AWS4-HMAC-SHA256"
	amzDate      = "20060102T150405Z"
	// maxSkew is how far X-Amz-Date may be from the server's clock: AWS
	// allows 15 minutes either way.
	maxSkew = 15 * time.Minute
)

// credential is the parsed Authorization header.
type credential struct {
	AccessKey     string
	Date          string // yyyymmdd
	Region        string
	Service       string
	SignedHeaders []string
	Signature     string
}

// parseAuthorization splits an AWS4-HMAC-SHA256 Authorization header.
func parseAuthorization(h string) (credential, error) {
	var c credential
	algo, rest, _ := strings.Cut(strings.TrimSpace(h), " ")
	if algo != sigAlgorithm {
		return c, apierr.New(events.CodeIncompleteSignature, "Unsupported AWS 'algorithm': %q. Authorization header must use AWS4-HMAC-SHA256.", algo)
	}
	var missing []string
	params := map[string]string{}
	for _, part := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if ok {
			params[k] = v
		}
	}
	for _, k := range []string{"Credential", "Signature", "SignedHeaders"} {
		if params[k] == "" {
			missing = append(missing, fmt.Sprintf("Authorization header requires '%s' parameter.", k))
		}
	}
	if len(missing) > 0 {
		return c, apierr.New(events.CodeIncompleteSignature, "%s Authorization=%s", strings.Join(missing, " "), h)
	}
	scope := strings.Split(params["Credential"], "/")
	if len(scope) != 5 || scope[4] != "aws4_request" || scope[0] == "" {
		return c, apierr.New(events.CodeIncompleteSignature, "Credential should be scoped to a valid region and service, e.g. '<key>/<yyyymmdd>/<region>/<service>/aws4_request'. Credential=%s", params["Credential"])
	}
	c.AccessKey, c.Date, c.Region, c.Service = scope[0], scope[1], scope[2], scope[3]
	c.SignedHeaders = strings.Split(params["SignedHeaders"], ";")
	c.Signature = params["Signature"]
	return c, nil
}

// checkScope checks what a signature claims before the body is read: the
// date (within AWS's 15-minute skew, and the scope's date), the scope's
// region and service, and that Host is signed. A request that fails here is
// answered without reading its body.
func checkScope(r *http.Request, c credential, region, service string, now time.Time) error {
	dateHdr := r.Header.Get("X-Amz-Date")
	if dateHdr == "" {
		dateHdr = r.Header.Get("Date")
	}
	t, err := time.Parse(amzDate, dateHdr)
	if err != nil {
		if t2, err2 := http.ParseTime(dateHdr); err2 == nil {
			t = t2
		} else {
			return apierr.New(events.CodeIncompleteSignature, "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
		}
	}
	switch {
	case t.Before(now.Add(-maxSkew)):
		return apierr.New(events.CodeInvalidSignature, "Signature expired: %s is now earlier than %s (%s - 15 min.)",
			t.UTC().Format(amzDate), now.Add(-maxSkew).UTC().Format(amzDate), now.UTC().Format(amzDate))
	case t.After(now.Add(maxSkew)):
		return apierr.New(events.CodeInvalidSignature, "Signature not yet current: %s is still later than %s (%s + 15 min.)",
			t.UTC().Format(amzDate), now.Add(maxSkew).UTC().Format(amzDate), now.UTC().Format(amzDate))
	}
	if t.UTC().Format("20060102") != c.Date {
		return apierr.New(events.CodeInvalidSignature, "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.", c.Date, t.UTC().Format("20060102"), dateHdr)
	}
	if region != "" && c.Region != region {
		return apierr.New(events.CodeInvalidSignature, "Credential should be scoped to a valid region, not '%s'. ", c.Region)
	}
	if c.Service != service {
		return apierr.New(events.CodeInvalidSignature, "Credential should be scoped to correct service: '%s'. ", service)
	}
	if !slices.Contains(c.SignedHeaders, "host") {
		return apierr.New(events.CodeInvalidSignature, "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
	}
	return nil
}

// verifySignature checks r's signature against secret once checkScope has
// passed. body is the full request body. It replays the client's algorithm:
// canonical request, string to sign, derived key, HMAC; the comparison is
// constant time.
func verifySignature(r *http.Request, body []byte, c credential, secret string) error {
	dateHdr := r.Header.Get("X-Amz-Date")
	if dateHdr == "" {
		dateHdr = r.Header.Get("Date")
	}
	bodyHash := sha256Hex(body)
	if claimed := r.Header.Get("X-Amz-Content-Sha256"); claimed != "" && claimed != bodyHash {
		return apierr.New(events.CodeInvalidSignature, "The provided 'x-amz-content-sha256' header does not match what was computed.")
	}
	canonical := strings.Join([]string{
		r.Method,
		canonicalURI(r.URL),
		canonicalQuery(r.URL.Query()),
		canonicalHeaders(r, c.SignedHeaders),
		strings.Join(c.SignedHeaders, ";"),
		bodyHash,
	}, "\n")
	scope := strings.Join([]string{c.Date, c.Region, c.Service, "aws4_request"}, "/")
	toSign := strings.Join([]string{sigAlgorithm, dateHdr, scope, sha256Hex([]byte(canonical))}, "\n")
	key := hmacSHA256([]byte("AWS4"+secret), c.Date)
	key = hmacSHA256(key, c.Region)
	key = hmacSHA256(key, c.Service)
	key = hmacSHA256(key, "aws4_request")
	want := hex.EncodeToString(hmacSHA256(key, toSign))
	if !hmac.Equal([]byte(want), []byte(strings.ToLower(c.Signature))) {
		return apierr.New(events.CodeInvalidSignature, "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
	}
	return nil
}

func canonicalHeaders(r *http.Request, names []string) string {
	var b strings.Builder
	for _, name := range names {
		var vals []string
		switch name {
		case "host":
			vals = []string{r.Host}
		case "content-length":
			vals = r.Header.Values("Content-Length")
			if len(vals) == 0 {
				vals = []string{strconv.FormatInt(r.ContentLength, 10)}
			}
		default:
			vals = r.Header.Values(name)
		}
		for i, v := range vals {
			vals[i] = strings.Join(strings.Fields(v), " ")
		}
		b.WriteString(name)
		b.WriteByte(':')
		b.WriteString(strings.Join(vals, ","))
		b.WriteByte('\n')
	}
	return b.String()
}

// canonicalURI encodes the (already escaped) path once more, segment by
// segment, as SigV4 does for every service but S3.
func canonicalURI(u *url.URL) string {
	p := u.EscapedPath()
	if p == "" {
		return "/"
	}
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = uriEncode(s)
	}
	return strings.Join(segs, "/")
}

func canonicalQuery(q url.Values) string {
	pairs := make([]string, 0, len(q))
	for k, vs := range q {
		for _, v := range vs {
			pairs = append(pairs, uriEncode(k)+"="+uriEncode(v))
		}
	}
	slices.Sort(pairs)
	return strings.Join(pairs, "&")
}

// uriEncode is SigV4's UriEncode: everything but A-Z a-z 0-9 - _ . ~ as %XX.
func uriEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}
