package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/apierr"
	"github.com/berth-project/berth/internal/ids"
	"github.com/berth-project/berth/internal/natsutil"
)

// REST-JSON APIs (EventBridge Scheduler) are routed by method and path.
// The gateway turns each request into the JSON body the service expects:
// the request body's members, plus the path parameters and the query
// parameters under their member names; it then makes the same NATS call as
// for JSON 1.1 and maps errors the REST-JSON way (status per error code,
// X-Amzn-ErrorType header, body {"Message": …}).

// restRoutes registers every REST-JSON operation on mux.
func (g *Gateway) restRoutes(mux *http.ServeMux) {
	for _, rt := range events.RESTRoutes() {
		for _, op := range rt.Operations {
			mux.HandleFunc(op.Method+" "+op.Path, g.serveREST(rt, op))
		}
	}
}

func (g *Gateway) serveREST(rt events.RESTRoute, op events.RESTOperation) http.HandlerFunc {
	signing := &events.APIRoute{API: rt.API, SigningName: rt.SigningName}
	return func(w http.ResponseWriter, r *http.Request) {
		reqID := ids.UUID()
		select {
		case g.slots <- struct{}{}:
			defer func() { <-g.slots }()
		default:
			g.writeRESTError(w, reqID, rt, apierr.New(events.CodeThrottling, "Rate exceeded"))
			return
		}
		body, key, err := g.authenticate(w, r, signing)
		if err != nil {
			g.writeRESTError(w, reqID, rt, err)
			return
		}
		in, err := restInput(r, body, op)
		if err != nil {
			g.writeRESTError(w, reqID, rt, err)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), g.cfg.RequestTimeout)
		defer cancel()
		subj := events.SubjAPI(rt.API, op.Operation)
		reply, err := natsutil.RequestRaw(ctx, g.nc, subj, in, g.apiHeader(reqID, key, subj, in))
		if err != nil {
			if errors.Is(err, natsutil.ErrUnavailable) {
				err = apierr.Wrap(err, rt.Fault, "The %s service is not available. Try again.", rt.Service)
			}
			g.writeRESTError(w, reqID, rt, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("x-amzn-RequestId", reqID)
		w.Header().Set("Content-Length", fmt.Sprint(len(reply.Data)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(reply.Data)
	}
}

// restInput merges the body, the path parameters and the query parameters
// of a REST-JSON request into one JSON object.
func restInput(r *http.Request, body []byte, op events.RESTOperation) ([]byte, error) {
	in := map[string]any{}
	if len(bytes.TrimSpace(body)) > 0 {
		if err := json.Unmarshal(body, &in); err != nil {
			return nil, apierr.New(events.CodeValidation, "The request body is not a valid JSON object.")
		}
	}
	for _, seg := range strings.Split(op.Path, "/") {
		if name, ok := strings.CutPrefix(seg, "{"); ok {
			name = strings.TrimSuffix(name, "}")
			in[name] = r.PathValue(name)
		}
	}
	q := r.URL.Query()
	for param, member := range op.Query {
		vals, ok := q[param]
		if !ok {
			continue
		}
		if op.Lists[param] {
			in[member] = vals
		} else {
			in[member] = vals[0]
		}
	}
	return json.Marshal(in)
}

// writeRESTError is writeError for REST-JSON APIs.
func (g *Gateway) writeRESTError(w http.ResponseWriter, reqID string, rt events.RESTRoute, err error) {
	code, msg, _ := natsutil.ErrorReply(err, rt.Fault)
	if _, ok := apierr.As(err); !ok || code.Fault() {
		g.cfg.Log.Error("api call failed", "request_id", reqID, "err", err)
	}
	status, ok := rt.Status[code]
	if !ok {
		status = code.HTTPStatus()
	}
	var buf bytes.Buffer
	_ = json.NewEncoder(&buf).Encode(map[string]string{"Message": msg})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", string(code))
	w.Header().Set("x-amzn-RequestId", reqID)
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
