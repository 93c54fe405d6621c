package accesskeys

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/ids"
	"github.com/berth-project/berth/internal/natsutil"
)

// RootUser is the user name of the key Bootstrap creates.
const RootUser = "root"

const (
	upper  = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	secret = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
)

// Bootstrap returns the root access key, creating it when the bucket holds
// none. Concurrent callers agree on one key (KV Create decides).
func Bootstrap(ctx context.Context, js jetstream.JetStream, replicas int) (events.AccessKey, bool, error) {
	kv, err := natsutil.EnsureKV(ctx, js, events.BucketAccessKeys, replicas)
	if err != nil {
		return events.AccessKey{}, false, err
	}
	if k, ok, err := findRoot(ctx, kv); err != nil || ok {
		return k, false, err
	}
	k := events.AccessKey{
		AccessKeyID:     "AKIA" + ids.Token(16, upper),
		SecretAccessKey: ids.Token(40, secret),
		UserName:        RootUser,
		Status:          "Active",
		CreatedAt:       time.Now().UTC(),
	}
	raw, _ := json.Marshal(k)
	// The marker key "root" makes creation race-free: only one Create wins.
	if _, err := kv.Create(ctx, "root", []byte(k.AccessKeyID)); err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			k, _, err := findRoot(ctx, kv)
			return k, false, err
		}
		return events.AccessKey{}, false, fmt.Errorf("bootstrap root key: %w", err)
	}
	if _, err := kv.Put(ctx, "key."+k.AccessKeyID, raw); err != nil {
		return events.AccessKey{}, false, fmt.Errorf("bootstrap root key: %w", err)
	}
	return k, true, nil
}

func findRoot(ctx context.Context, kv jetstream.KeyValue) (events.AccessKey, bool, error) {
	e, err := kv.Get(ctx, "root")
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return events.AccessKey{}, false, nil
	}
	if err != nil {
		return events.AccessKey{}, false, fmt.Errorf("read root key: %w", err)
	}
	// The key record may trail the marker by a moment.
	for range 50 {
		ke, err := kv.Get(ctx, "key."+string(e.Value()))
		if err == nil {
			var k events.AccessKey
			if err := json.Unmarshal(ke.Value(), &k); err != nil {
				return events.AccessKey{}, false, fmt.Errorf("decode root key: %w", err)
			}
			return k, true, nil
		}
		if !errors.Is(err, jetstream.ErrKeyNotFound) {
			return events.AccessKey{}, false, err
		}
		time.Sleep(20 * time.Millisecond)
	}
	return events.AccessKey{}, false, fmt.Errorf("root key %s has no record", e.Value())
}

// WriteAWSFiles writes an AWS shared credentials file and config file with
// profile "berth" into dir (mode 0600), replacing earlier ones.
func WriteAWSFiles(dir string, k events.AccessKey, region string) (credentials, config string, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", err
	}
	credentials = filepath.Join(dir, "credentials")
	config = filepath.Join(dir, "config")
	cred := fmt.Sprintf("[berth]\naws_access_key_id = %s\naws_secret_access_key = %s\n", k.AccessKeyID, k.SecretAccessKey)
	conf := fmt.Sprintf("[profile berth]\nregion = %s\noutput = json\n", region)
	if err := os.WriteFile(credentials, []byte(cred), 0o600); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(config, []byte(conf), 0o600); err != nil {
		return "", "", err
	}
	return credentials, config, nil
}

// Cache is a watched copy of the access keys.
type Cache struct {
	mu   sync.RWMutex
	keys map[string]events.AccessKey
}

// Lookup returns the active key with the given id.
func (c *Cache) Lookup(id string) (events.AccessKey, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	k, ok := c.keys[id]
	return k, ok && k.Status == "Active"
}

// Watch fills a Cache and keeps it current until ctx ends. It returns once
// the initial keys are loaded.
func Watch(ctx context.Context, js jetstream.JetStream, replicas int, log *slog.Logger) (*Cache, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	kv, err := natsutil.EnsureKV(ctx, js, events.BucketAccessKeys, replicas)
	if err != nil {
		return nil, err
	}
	w, err := kv.Watch(ctx, "key.*")
	if err != nil {
		return nil, fmt.Errorf("watch access keys: %w", err)
	}
	c := &Cache{keys: map[string]events.AccessKey{}}
	ready := make(chan struct{})
	go func() {
		defer w.Stop()
		initial := true
		for e := range w.Updates() {
			if e == nil {
				if initial {
					initial = false
					close(ready)
				}
				continue
			}
			id := e.Key()[len("key."):]
			c.mu.Lock()
			if e.Operation() != jetstream.KeyValuePut {
				delete(c.keys, id)
			} else {
				var k events.AccessKey
				if err := json.Unmarshal(e.Value(), &k); err != nil {
					log.Error("bad access key record", "key", e.Key(), "err", err)
				} else {
					c.keys[id] = k
				}
			}
			c.mu.Unlock()
		}
	}()
	select {
	case <-ready:
		return c, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
