package natsutil_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/micro"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/ecsapi"
	"github.com/berth-project/berth/internal/apierr"
	"github.com/berth-project/berth/internal/natstest"
	"github.com/berth-project/berth/internal/natsutil"
)

func TestAPI_RoundTripAndErrors(t *testing.T) {
	s := natstest.Start(t)
	nc := natstest.Connect(t, s)
	svc, err := micro.AddService(nc, micro.Config{Name: "apitest", Version: "0.0.1", QueueGroup: events.QueueGroup})
	if err != nil {
		t.Fatal(err)
	}
	api := natsutil.NewAPI(svc, natsutil.APIConfig{API: "test"})
	must(t, api.Handle("Echo", func(_ context.Context, r *natsutil.Request) (any, error) {
		var in ecsapi.DescribeClustersRequest
		if err := r.Decode(&in); err != nil {
			return nil, err
		}
		return ecsapi.DescribeClustersResponse{Failures: []ecsapi.Failure{}, Clusters: []ecsapi.Cluster{{ClusterName: strings.Join(in.Clusters, ",")}}}, nil
	}))
	must(t, api.Handle("Fail", func(context.Context, *natsutil.Request) (any, error) {
		return nil, &apierr.Error{Code: events.CodeConflict, Message: "nope", Extra: map[string]any{"resourceIds": []string{"x"}}}
	}))
	must(t, api.Handle("Boom", func(context.Context, *natsutil.Request) (any, error) {
		return nil, errors.New("secret internal detail")
	}))
	must(t, api.Handle("Panic", func(context.Context, *natsutil.Request) (any, error) { panic("oh") }))

	ctx := t.Context()
	var out ecsapi.DescribeClustersResponse
	must(t, natsutil.Call(ctx, nc, events.SubjAPI("test", "Echo"), map[string]any{"clusters": []string{"a", "b"}}, &out))
	if out.Clusters[0].ClusterName != "a,b" || out.Failures == nil {
		t.Fatalf("echo: %+v", out)
	}

	err = natsutil.Call(ctx, nc, events.SubjAPI("test", "Echo"), map[string]any{"clusters": "notalist"}, &out)
	if e, ok := apierr.As(err); !ok || e.Code != events.CodeSerialization || !strings.Contains(e.Message, "clusters") {
		t.Fatalf("wrong type: %v", err)
	}
	err = natsutil.Call(ctx, nc, events.SubjAPI("test", "Fail"), struct{}{}, nil)
	if e, ok := apierr.As(err); !ok || e.Code != events.CodeConflict || e.Message != "nope" || e.Extra["resourceIds"] == nil {
		t.Fatalf("fail: %#v", err)
	}
	for _, op := range []string{"Boom", "Panic"} {
		err = natsutil.Call(ctx, nc, events.SubjAPI("test", op), struct{}{}, nil)
		if e, ok := apierr.As(err); !ok || e.Code != events.CodeServer || strings.Contains(e.Message, "secret") {
			t.Fatalf("%s: %#v", op, err)
		}
	}
	err = natsutil.Call(ctx, nc, events.SubjAPI("test", "Missing"), struct{}{}, nil)
	if !errors.Is(err, natsutil.ErrUnavailable) {
		t.Fatalf("missing: %v", err)
	}
}

func TestDecode_Strict(t *testing.T) {
	var v ecsapi.RegisterTaskDefinitionRequest
	for _, body := range []string{`[1]`, `{"family": 1}`, `{"family":"x"`, `{"containerDefinitions":[{"cpu":"1"}]}`, `{"containerDefinitions":[{"cpu":1.5}]}`, `{} {}`} {
		err := natsutil.Decode([]byte(body), &v)
		if e, ok := apierr.As(err); !ok || e.Code != events.CodeSerialization {
			t.Errorf("%s: %v", body, err)
		}
	}
	if err := natsutil.Decode(nil, &v); err != nil {
		t.Fatalf("empty body: %v", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
