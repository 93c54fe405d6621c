package gateway

import (
	"context"
	"errors"
	"net/http"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/apierr"
	"github.com/berth-project/berth/internal/natsutil"
)

// call is one API call of a non-JSON-1.1 front (query, RPC v2 CBOR) once
// its route is known: the concurrency cap, the signature, the operation
// checks and the NATS request, as serveAPI does them. decode turns the
// signed body into the service's JSON request. It returns the service's
// JSON reply.
func (g *Gateway) call(w http.ResponseWriter, r *http.Request, reqID string, route *events.APIRoute, opOf func(body []byte) (string, []byte, error)) ([]byte, string, error) {
	select {
	case g.slots <- struct{}{}:
		defer func() { <-g.slots }()
	default:
		return nil, "", apierr.New(events.CodeThrottling, "Rate exceeded")
	}
	body, key, err := g.authenticate(w, r, route)
	if err != nil {
		return nil, "", err
	}
	op, req, err := opOf(body)
	if err != nil {
		return nil, op, err
	}
	if _, known := route.Modelled[op]; !known {
		return nil, op, apierr.New(events.CodeUnknownOperation, "Unknown operation %s.", op)
	}
	if _, ok := route.Implemented[op]; !ok {
		return nil, op, apierr.New(events.CodeUnknownOperation, "Berth does not implement %s.", op)
	}
	ctx, cancel := context.WithTimeout(r.Context(), g.cfg.RequestTimeout)
	defer cancel()
	subj := events.SubjAPI(route.API, op)
	reply, err := natsutil.RequestRaw(ctx, g.nc, subj, req, g.apiHeader(reqID, key, subj, req))
	if err != nil {
		if errors.Is(err, natsutil.ErrUnavailable) {
			err = apierr.Wrap(err, route.Fault, "The %s service is not available. Try again.", route.Implemented[op])
		}
		return nil, op, err
	}
	return reply.Data, op, nil
}

// routeBySigningName is the route whose SigV4 service name the request's
// credential scope names (the query protocol carries no target header).
func (g *Gateway) routeBySigningName(r *http.Request) *events.APIRoute {
	c, err := parseAuthorization(r.Header.Get("Authorization"))
	if err != nil {
		return nil
	}
	for i := range g.cfg.Routes {
		if g.cfg.Routes[i].SigningName == c.Service {
			return &g.cfg.Routes[i]
		}
	}
	return nil
}

// routeByTarget is the route whose target prefix (Smithy service name) is
// name.
func (g *Gateway) routeByTarget(name string) *events.APIRoute {
	return g.targets[name]
}
