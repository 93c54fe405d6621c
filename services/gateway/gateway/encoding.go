package gateway

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/apierr"
)

// decodeBody undoes a request's Content-Encoding once its signature (over
// the encoded bytes) has been checked: the SDKs gzip large PutMetricData
// bodies (request compression, above 10 KiB by default). The decoded body
// is bounded by MaxBody as the encoded one is.
func decodeBody(r *http.Request, body []byte) ([]byte, error) {
	enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding")))
	switch enc {
	case "", "identity", "aws-chunked":
		return body, nil
	case "gzip":
	default:
		return nil, apierr.New(events.CodeSerialization, "Content-Encoding %q is not supported.", enc)
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		return nil, apierr.Serialization("The gzip request body is not valid: %s", err.Error())
	}
	out, err := io.ReadAll(io.LimitReader(zr, MaxBody+1))
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, apierr.Serialization("The gzip request body is not valid: %s", err.Error())
	}
	if len(out) > MaxBody {
		return nil, tooLarge()
	}
	return out, nil
}
