package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/natsauth"
	"github.com/berth-project/berth/internal/natsutil"
	"github.com/berth-project/berth/internal/testenv"
)

// TestBerth_RestartAfterBootstrapCrash leaves the data folder as a crash
// during the first start's key bootstrap would (at each point), then starts
// the binary on it: Berth starts, and the aws CLI works with the credentials
// file it writes.
func TestBerth_RestartAfterBootstrapCrash(t *testing.T) {
	testenv.RequireTool(t, "aws")
	t.Parallel()
	bin := buildBerth(t)
	key := events.AccessKey{AccessKeyID: "AKIACRASHTEST0000001", SecretAccessKey: "crashtestsecret0000000000000000000000000", UserName: "root", Status: "Active"}
	raw, _ := json.Marshal(key)
	for _, tc := range []struct {
		name  string
		kv    map[string][]byte // what the crashed start wrote in the access-keys bucket
		files map[string]string // and in data/aws
		want  string            // the key id the restart must keep ("" = a new one)
	}{
		{name: "bucket but no key", kv: map[string][]byte{}},
		{name: "marker but no record, no files", kv: map[string][]byte{"root": raw}, want: key.AccessKeyID},
		{name: "old-style marker but no record", kv: map[string][]byte{"root": []byte(key.AccessKeyID)}},
		{name: "key but credentials file half written", kv: map[string][]byte{"root": raw, "key." + key.AccessKeyID: raw},
			files: map[string]string{"credentials": "[berth]\naws_access_key_id = AKIA", "credentials.tmp": "[ber"}, want: key.AccessKeyID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := t.TempDir()
			crashState(t, data, tc.kv)
			if err := os.MkdirAll(filepath.Join(data, "aws"), 0o700); err != nil {
				t.Fatal(err)
			}
			for name, v := range tc.files {
				if err := os.WriteFile(filepath.Join(data, "aws", name), []byte(v), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			p := startBerth(t, bin, data)
			id, _ := p.key(t)
			if tc.want != "" && id != tc.want {
				t.Errorf("root key after restart %s, want %s", id, tc.want)
			}
			p.aws(t, "ecs", "create-cluster", "--cluster-name", "after-crash")
			if _, err := os.Stat(filepath.Join(data, "aws", "credentials.tmp")); err == nil {
				t.Error("credentials.tmp left behind")
			}
			p.stop(t, syscall.SIGTERM)
		})
	}
}

// crashState starts the embedded server on data, creates the access-keys
// bucket with the given entries, and stops the server.
func crashState(t *testing.T, data string, entries map[string][]byte) {
	t.Helper()
	c := config{Data: data, NATSAddr: testenv.FreeAddr(t), MaxMemory: 64}
	sec, err := natsauth.LoadOrCreate(filepath.Join(data, "secrets"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := startNATS(t.Context(), c, sec, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		s.Shutdown()
		s.WaitForShutdown()
	}()
	nc, err := nats.Connect("", nats.InProcessServer(s), nats.UserInfo(natsauth.Admin, sec.Passwords[natsauth.Admin]))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	kv, err := natsutil.EnsureKV(ctx, js, events.BucketAccessKeys, 1)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range entries {
		if _, err := kv.Create(ctx, k, v); err != nil {
			t.Fatalf("%s: %v", k, err)
		}
	}
}
