package agent

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/ecrapi"
	"github.com/berth-project/berth/internal/natstest"
	"github.com/berth-project/berth/internal/natsutil"
)

// Digest resolves tags of Berth's registry with BatchGetImage; digest
// references answer themselves; other registries, unknown tags and hosts
// seen before any token get "" (the engine then pulls).
func TestRegistryAuth_Digest(t *testing.T) {
	s := natstest.Start(t)
	nc := natstest.Connect(t, s)
	tokenSub, err := nc.Subscribe(events.SubjRegistryPullToken, func(m *nats.Msg) {
		raw, _ := json.Marshal(events.RegistryPullTokenReply{
			AuthorizationToken: base64.StdEncoding.EncodeToString([]byte("AWS:secret")),
			ExpiresAt:          time.Now().Add(time.Hour),
			ProxyEndpoint:      "http://127.0.0.1:5000",
		})
		_ = m.Respond(raw)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer tokenSub.Unsubscribe()
	known := "sha256:" + strings.Repeat("c", 64)
	var asked atomic.Int32
	var lastReq atomic.Value
	sub, err := nc.Subscribe(events.SubjAPI(events.APIECR, "BatchGetImage"), func(m *nats.Msg) {
		asked.Add(1)
		var req ecrapi.BatchGetImageRequest
		_ = json.Unmarshal(m.Data, &req)
		lastReq.Store(req)
		resp := ecrapi.BatchGetImageResponse{Images: []ecrapi.Image{}, Failures: []ecrapi.ImageFailure{}}
		if len(req.ImageIds) == 1 && req.RepositoryName == "team/app" && req.ImageIds[0].ImageTag == "v1" {
			resp.Images = append(resp.Images, ecrapi.Image{RepositoryName: req.RepositoryName,
				ImageId: &ecrapi.ImageIdentifier{ImageDigest: known, ImageTag: "v1"}})
		} else {
			id := req.ImageIds[0]
			resp.Failures = append(resp.Failures, ecrapi.ImageFailure{ImageId: &id, FailureCode: "ImageNotFound"})
		}
		raw, _ := json.Marshal(resp)
		_ = m.Respond(raw)
	})
	if err != nil {
		t.Fatal(err)
	}
	ra := newRegistryAuth(nc, Config{}.withDefaults(), slogDiscard())
	ctx := t.Context()

	// Before any token the agent does not know its registry's host.
	if d, err := ra.Digest(ctx, "127.0.0.1:5000/team/app:v1"); d != "" || err != nil || asked.Load() != 0 {
		t.Fatalf("before a token: %q, %v (%d calls)", d, err, asked.Load())
	}
	if _, err := ra.Auth(ctx, "127.0.0.1:5000/team/app:v1"); err != nil {
		t.Fatal(err)
	}
	for _, img := range []string{"127.0.0.1:5000/team/app:v1", "localhost:5000/team/app:v1", "000000000000.dkr.ecr.us-east-1.localhost:5000/team/app:v1"} {
		if d, err := ra.Digest(ctx, img); d != known || err != nil {
			t.Errorf("%s: %q, %v; want %s", img, d, err, known)
		}
	}
	if req := lastReq.Load().(ecrapi.BatchGetImageRequest); req.RepositoryName != "team/app" || req.ImageIds[0].ImageTag != "v1" {
		t.Errorf("request %+v", req)
	}
	calls := asked.Load()
	if d, err := ra.Digest(ctx, "127.0.0.1:5000/team/app"); d != "" || err != nil || asked.Load() != calls+1 {
		t.Errorf("unknown tag latest: %q, %v", d, err)
	}
	if req := lastReq.Load().(ecrapi.BatchGetImageRequest); req.ImageIds[0].ImageTag != "latest" {
		t.Errorf("no tag asked as %q, want latest", req.ImageIds[0].ImageTag)
	}
	calls = asked.Load()
	pinned := "sha256:" + strings.Repeat("d", 64)
	for img, want := range map[string]string{
		"docker.io/library/busybox:1": "", "127.0.0.1:5001/team/app:v1": "",
		"busybox@" + pinned: pinned, "127.0.0.1:5000/team/app:v1@" + pinned: pinned,
	} {
		if d, err := ra.Digest(ctx, img); d != want || err != nil {
			t.Errorf("%s: %q, %v; want %q", img, d, err, want)
		}
	}
	if asked.Load() != calls {
		t.Errorf("BatchGetImage asked for other registries or digest references")
	}

	// The registry service is gone: an error (the engine pulls).
	if err := sub.Unsubscribe(); err != nil {
		t.Fatal(err)
	}
	if _, err := ra.Digest(ctx, "127.0.0.1:5000/team/app:v1"); !errors.Is(err, natsutil.ErrUnavailable) {
		t.Errorf("without a registry service: %v", err)
	}
}
