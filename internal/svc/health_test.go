package svc

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/nats-io/nats.go/micro"

	"github.com/berth-project/berth/internal/natstest"
)

func TestHealthcheckPing(t *testing.T) {
	s := natstest.Start(t)
	nc := natstest.Connect(t, s)
	if _, err := micro.AddService(nc, micro.Config{Name: "taskdefs", Version: "0.0.1"}); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil { // the server knows the subscriptions
		t.Fatal(err)
	}
	creds := natstest.ContextFile(t, s.ClientURL(), "taskdefs")
	getenv := func(k string) string {
		switch k {
		case "BERTH_NATS_URL":
			return s.ClientURL()
		case "BERTH_NATS_CREDS":
			return creds
		}
		return ""
	}
	ctx := context.Background()
	if err := Healthcheck(ctx, "taskdefs", nil, getenv, io.Discard); err != nil {
		t.Fatalf("healthy service: %v", err)
	}
	if err := Healthcheck(ctx, "scheduler", []string{"--timeout", "300ms"}, getenv, io.Discard); err == nil {
		t.Fatal("a service nobody runs was reported healthy")
	}
	if err := Healthcheck(ctx, "scheduler", []string{"--name", "taskdefs"}, getenv, io.Discard); err != nil {
		t.Fatalf("--name: %v", err)
	}
}

func TestHealthcheckHTTP(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.Error(w, "no", http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	none := func(string) string { return "" }
	ctx := context.Background()
	if err := Healthcheck(ctx, "gateway", []string{"--http", srv.URL + "/healthz"}, none, io.Discard); err != nil {
		t.Fatalf("healthy: %v", err)
	}
	if err := Healthcheck(ctx, "gateway", []string{"--http", srv.URL + "/down"}, none, io.Discard); err == nil {
		t.Fatal("a 503 was reported healthy")
	}
}
