package accesskeys_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/accesskeys"
	"github.com/berth-project/berth/internal/natstest"
	"github.com/berth-project/berth/internal/natsutil"
)

// TestBootstrap_RecoversFromEveryCrashPoint leaves the bucket as a crash at
// each point of the first start would, then bootstraps again: Bootstrap
// must return a usable root key (its record written, the Watch cache
// seeing it) and keep returning the same one.
func TestBootstrap_RecoversFromEveryCrashPoint(t *testing.T) {
	legacy := events.AccessKey{AccessKeyID: "AKIALEGACY0000000001", SecretAccessKey: "legacysecret", UserName: "root", Status: "Active"}
	half := events.AccessKey{AccessKeyID: "AKIAHALFWRITTEN00001", SecretAccessKey: "halfsecret", UserName: "root", Status: "Active"}
	for _, tc := range []struct {
		name string
		// crash writes what the crashed start left behind.
		crash func(t *testing.T, kv jetstream.KeyValue)
		// want is the key a restart must return ("" = any new key).
		want        string
		wantCreated bool
	}{
		{"nothing", func(t *testing.T, kv jetstream.KeyValue) {}, "", true},
		{"bucket but no key", func(t *testing.T, kv jetstream.KeyValue) {}, "", true},
		{"marker but no record", func(t *testing.T, kv jetstream.KeyValue) {
			put(t, kv, "root", half)
		}, half.AccessKeyID, false},
		{"old-style marker but no record", func(t *testing.T, kv jetstream.KeyValue) {
			create(t, kv, "root", []byte(legacy.AccessKeyID))
		}, "", true},
		{"old-style marker and record", func(t *testing.T, kv jetstream.KeyValue) {
			create(t, kv, "root", []byte(legacy.AccessKeyID))
			put(t, kv, "key."+legacy.AccessKeyID, legacy)
		}, legacy.AccessKeyID, false},
		{"unreadable marker", func(t *testing.T, kv jetstream.KeyValue) {
			create(t, kv, "root", []byte("{not json"))
		}, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := natstest.Start(t)
			_, js := natstest.JetStream(t, s)
			ctx := t.Context()
			if tc.name != "nothing" {
				kv, err := natsutil.EnsureKV(ctx, js, events.BucketAccessKeys, 1)
				if err != nil {
					t.Fatal(err)
				}
				tc.crash(t, kv)
			}
			k, created, err := accesskeys.Bootstrap(ctx, js, 1)
			if err != nil {
				t.Fatalf("restart: %v", err)
			}
			if created != tc.wantCreated || (tc.want != "" && k.AccessKeyID != tc.want) || k.SecretAccessKey == "" {
				t.Fatalf("restart: key %s created %v; want %q created %v", k.AccessKeyID, created, tc.want, tc.wantCreated)
			}
			cache, err := accesskeys.Watch(ctx, js, 1, nil)
			if err != nil {
				t.Fatal(err)
			}
			natstest.Eventually(t, 5*time.Second, 10*time.Millisecond, func() error {
				if got, ok := cache.Lookup(k.AccessKeyID); !ok || got.SecretAccessKey != k.SecretAccessKey {
					return errors.New("root key not in the cache yet")
				}
				return nil
			})
			again, created, err := accesskeys.Bootstrap(ctx, js, 1)
			if err != nil || created || again.AccessKeyID != k.AccessKeyID {
				t.Fatalf("second restart: %s created %v err %v; want %s", again.AccessKeyID, created, err, k.AccessKeyID)
			}
		})
	}
}

func put(t *testing.T, kv jetstream.KeyValue, key string, k events.AccessKey) {
	t.Helper()
	raw, _ := json.Marshal(k)
	create(t, kv, key, raw)
}

func create(t *testing.T, kv jetstream.KeyValue, key string, v []byte) {
	t.Helper()
	if _, err := kv.Create(context.Background(), key, v); err != nil {
		t.Fatal(err)
	}
}

// Concurrent first starts agree on one key.
func TestBootstrap_ConcurrentCallersAgree(t *testing.T) {
	s := natstest.Start(t)
	var wg sync.WaitGroup
	keys := make([]string, 8)
	created := make([]bool, 8)
	for i := range keys {
		_, js := natstest.JetStream(t, s)
		wg.Go(func() {
			k, c, err := accesskeys.Bootstrap(t.Context(), js, 1)
			if err != nil {
				t.Error(err)
			}
			keys[i], created[i] = k.AccessKeyID, c
		})
	}
	wg.Wait()
	n := 0
	for i := range keys {
		if keys[i] != keys[0] {
			t.Fatalf("keys differ: %v", keys)
		}
		if created[i] {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d callers say they created the key", n)
	}
}

// A crash while the files were written leaves a truncated file and the
// temporary file; the next write replaces both with whole files, mode 0600.
func TestWriteAWSFiles_AfterHalfWrite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "aws")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]string{"credentials": "[berth]\naws_access_k", "credentials.tmp": "[ber", "config.tmp": ""} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	k := events.AccessKey{AccessKeyID: "AKIAEXAMPLE000000001", SecretAccessKey: "s3cr3t"}
	cred, conf, err := accesskeys.WriteAWSFiles(dir, k, "eu-west-1")
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		cred: "[berth]\naws_access_key_id = AKIAEXAMPLE000000001\naws_secret_access_key = s3cr3t\n",
		conf: "[profile berth]\nregion = eu-west-1\noutput = json\n",
	} {
		got, err := os.ReadFile(path)
		if err != nil || string(got) != want {
			t.Errorf("%s: %q %v; want %q", path, got, err, want)
		}
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v %v; want 0600", path, fi.Mode(), err)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("files left in %s: %v; want credentials and config only", dir, names)
	}
}
