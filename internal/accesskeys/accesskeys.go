package accesskeys

import (
	"bytes"
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

// rootMarker is the key of the root marker: the whole root key, written
// before its record, so that a crash between the two writes loses nothing.
// Markers written before that held only the key id.
const rootMarker = "root"

// Bootstrap returns the root access key, creating it when the bucket holds
// none. Concurrent callers agree on one key (KV Create decides). A crash at
// any point never stops a later Bootstrap: the marker "root" holds the
// whole key and is written first, and every Bootstrap rolls the key record
// ("key.<id>", what the gateway and the registry read) forward from it. An
// old-style marker (the key id only) whose record was never written holds
// no secret to recover: it is replaced by a new key.
func Bootstrap(ctx context.Context, js jetstream.JetStream, replicas int) (events.AccessKey, bool, error) {
	kv, err := natsutil.EnsureKV(ctx, js, events.BucketAccessKeys, replicas)
	if err != nil {
		return events.AccessKey{}, false, err
	}
	for range 5 { // each retry follows another caller's successful write
		k, created, err := bootstrapOnce(ctx, kv)
		if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			continue
		}
		if err != nil {
			return events.AccessKey{}, false, fmt.Errorf("bootstrap root key: %w", err)
		}
		if err := ensureRecord(ctx, kv, k); err != nil {
			return events.AccessKey{}, false, fmt.Errorf("bootstrap root key: %w", err)
		}
		return k, created, nil
	}
	return events.AccessKey{}, false, errors.New("bootstrap root key: the root marker kept changing")
}

// bootstrapOnce reads the marker and returns its key, or writes a new one
// (ErrKeyExists or ErrKeyRevisionMismatch: another caller wrote first).
func bootstrapOnce(ctx context.Context, kv jetstream.KeyValue) (events.AccessKey, bool, error) {
	e, err := kv.Get(ctx, rootMarker)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		k := newRootKey()
		_, err := kv.Create(ctx, rootMarker, encode(k))
		return k, err == nil, err
	}
	if err != nil {
		return events.AccessKey{}, false, fmt.Errorf("read root marker: %w", err)
	}
	if k, ok, err := fromMarker(ctx, kv, e.Value()); err != nil || ok {
		return k, false, err
	}
	k := newRootKey()
	_, err = kv.Update(ctx, rootMarker, encode(k), e.Revision())
	return k, err == nil, err
}

// fromMarker returns the root key a marker holds or names; ok is false for
// an old-style marker whose key record was never written.
func fromMarker(ctx context.Context, kv jetstream.KeyValue, v []byte) (events.AccessKey, bool, error) {
	var k events.AccessKey
	if bytes.HasPrefix(v, []byte("{")) {
		// KV writes are whole: a marker that does not decode was not
		// written by Bootstrap, and is replaced like a lost one.
		if err := json.Unmarshal(v, &k); err != nil || k.AccessKeyID == "" || k.SecretAccessKey == "" {
			return events.AccessKey{}, false, nil
		}
		return k, true, nil
	}
	ke, err := kv.Get(ctx, "key."+string(v))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return k, false, nil
	}
	if err != nil {
		return k, false, fmt.Errorf("read root key: %w", err)
	}
	if err := json.Unmarshal(ke.Value(), &k); err != nil {
		return k, false, fmt.Errorf("decode root key: %w", err)
	}
	return k, true, nil
}

// ensureRecord writes the key record if there is none; one already there is
// kept as it is.
func ensureRecord(ctx context.Context, kv jetstream.KeyValue, k events.AccessKey) error {
	_, err := kv.Create(ctx, "key."+k.AccessKeyID, encode(k))
	if err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		return err
	}
	return nil
}

func newRootKey() events.AccessKey {
	return events.AccessKey{
		AccessKeyID:     "AKIA" + ids.Token(16, upper),
		SecretAccessKey: ids.Token(40, secret),
		UserName:        RootUser,
		Status:          "Active",
		CreatedAt:       time.Now().UTC(),
	}
}

func encode(k events.AccessKey) []byte {
	raw, _ := json.Marshal(k)
	return raw
}

// WriteAWSFiles writes an AWS shared credentials file and config file with
// profile "berth" into dir (mode 0600), replacing earlier ones. Each file is
// written to a temporary file and renamed over the old one, so a crash
// leaves the old file or the new one, never half of one.
func WriteAWSFiles(dir string, k events.AccessKey, region string) (credentials, config string, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", err
	}
	credentials = filepath.Join(dir, "credentials")
	config = filepath.Join(dir, "config")
	cred := fmt.Sprintf("[berth]\naws_access_key_id = %s\naws_secret_access_key = %s\n", k.AccessKeyID, k.SecretAccessKey)
	conf := fmt.Sprintf("[profile berth]\nregion = %s\noutput = json\n", region)
	if err := writeFileAtomic(credentials, []byte(cred), 0o600); err != nil {
		return "", "", err
	}
	if err := writeFileAtomic(config, []byte(conf), 0o600); err != nil {
		return "", "", err
	}
	return credentials, config, nil
}

// writeFileAtomic writes data to path+".tmp" (left over by a crash, it is
// simply overwritten), syncs it and renames it to path.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(perm) // a leftover file keeps its old mode
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
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
