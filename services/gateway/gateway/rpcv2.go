package gateway

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/apierr"
	"github.com/berth-project/berth/internal/ids"
	"github.com/berth-project/berth/internal/natsutil"
)

// cborDec decodes request bodies: maps with string keys, timestamps (tag 1)
// as time.Time.
var cborDec, _ = cbor.DecOptions{
	DefaultMapType: reflect.TypeOf(map[string]any(nil)),
	TimeTag:        cbor.DecTagOptional,
}.DecMode()

// serveRPCv2 answers Smithy RPC v2 CBOR calls
// (POST /service/<service>/operation/<op>, smithy-protocol: rpc-v2-cbor),
// which the newest SDKs send for CloudWatch: the CBOR body becomes the
// service's JSON request and its JSON reply CBOR again.
func (g *Gateway) serveRPCv2(w http.ResponseWriter, r *http.Request) {
	reqID := ids.UUID()
	route := g.routeByTarget(r.PathValue("service"))
	op := r.PathValue("operation")
	if route == nil || !strings.EqualFold(r.Header.Get("Smithy-Protocol"), "rpc-v2-cbor") {
		writeCBORError(w, reqID, apierr.New(events.CodeUnknownOperation, "Unknown operation %s.%s.", r.PathValue("service"), op), events.CodeServer)
		return
	}
	data, _, err := g.call(w, r, reqID, route, func(body []byte) (string, []byte, error) {
		req, err := CBORToJSON(body)
		return op, req, err
	})
	if err != nil {
		if _, ok := apierr.As(err); !ok {
			g.cfg.Log.Error("api call failed", "request_id", reqID, "err", err)
		}
		writeCBORError(w, reqID, err, route.Fault)
		return
	}
	out, err := JSONToCBOR(data)
	if err != nil {
		writeCBORError(w, reqID, err, route.Fault)
		return
	}
	w.Header().Set("Content-Type", "application/cbor")
	w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
	w.Header().Set("x-amzn-RequestId", reqID)
	w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
}

// CBORToJSON turns an RPC v2 CBOR request body into the JSON request:
// timestamps become epoch seconds, blobs base64.
func CBORToJSON(body []byte) ([]byte, error) {
	if len(body) == 0 {
		return []byte("{}"), nil
	}
	var v any
	if err := cborDec.Unmarshal(body, &v); err != nil {
		return nil, apierr.Serialization("The request body is not valid CBOR: %s", err.Error())
	}
	out, err := json.Marshal(fromCBOR(v))
	if err != nil {
		return nil, apierr.Serialization("The request body cannot be represented: %s", err.Error())
	}
	return out, nil
}

func fromCBOR(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = fromCBOR(e)
		}
		return x
	case map[any]any:
		m := map[string]any{}
		for k, e := range x {
			m[fmt.Sprint(k)] = fromCBOR(e)
		}
		return m
	case []any:
		for i, e := range x {
			x[i] = fromCBOR(e)
		}
		return x
	case time.Time:
		return json.Number(strconv.FormatFloat(float64(x.UnixMilli())/1000, 'f', -1, 64))
	case cbor.Tag:
		if x.Number == 1 {
			return x.Content
		}
		return fromCBOR(x.Content)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil
		}
	}
	return v
}

// JSONToCBOR turns a service's JSON reply into CBOR: integers stay
// integers, other numbers float64, timestamp members (by name) tag 1.
func JSONToCBOR(data []byte) ([]byte, error) {
	var v any
	if len(bytes.TrimSpace(data)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("gateway: reply is not JSON: %w", err)
		}
	} else {
		v = map[string]any{}
	}
	out, err := cbor.Marshal(toCBOR("", v))
	if err != nil {
		return nil, fmt.Errorf("gateway: cbor: %w", err)
	}
	return out, nil
}

func toCBOR(key string, v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = toCBOR(k, e)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = toCBOR(key, e)
		}
		return x
	case json.Number:
		if events.MetricsTimestampMembers[key] {
			f, _ := x.Float64()
			return cbor.Tag{Number: 1, Content: f}
		}
		if n, err := x.Int64(); err == nil {
			return n
		}
		f, _ := x.Float64()
		return f
	}
	return v
}

// writeCBORError answers with an RPC v2 CBOR error: {__type, message},
// plus x-amzn-query-error for awsQuery-compatible services.
func writeCBORError(w http.ResponseWriter, reqID string, err error, fault events.Code) {
	code, msg, _ := natsutil.ErrorReply(err, fault)
	body, _ := cbor.Marshal(map[string]string{"__type": string(code), "message": msg})
	if q, ok := events.QueryErrorCodes[code]; ok {
		w.Header().Set("x-amzn-query-error", q)
	}
	w.Header().Set("Content-Type", "application/cbor")
	w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
	w.Header().Set("x-amzn-RequestId", reqID)
	status := code.HTTPStatus()
	if code == events.CodeCWInternalServiceFault {
		status = http.StatusInternalServerError
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
