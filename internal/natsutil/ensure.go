package natsutil

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
)

// StreamConfig turns a stream definition into a JetStream configuration.
func StreamConfig(def events.StreamDef, replicas int) jetstream.StreamConfig {
	cfg := jetstream.StreamConfig{
		Name:               def.Name,
		Description:        def.Description,
		Subjects:           def.Subjects,
		MaxAge:             def.MaxAge,
		MaxBytes:           def.MaxBytes,
		MaxMsgsPerSubject:  def.MaxMsgsPerSubject,
		Duplicates:         def.Duplicates,
		Storage:            jetstream.FileStorage,
		Replicas:           max(replicas, 1),
		AllowAtomicPublish: def.AllowAtomic,
		AllowMsgTTL:        def.AllowMsgTTL,
	}
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = -1
	}
	switch def.Retention {
	case events.RetentionWorkQueue:
		cfg.Retention = jetstream.WorkQueuePolicy
	case events.RetentionInterest:
		cfg.Retention = jetstream.InterestPolicy
	default:
		cfg.Retention = jetstream.LimitsPolicy
	}
	if def.Compressed {
		cfg.Compression = jetstream.S2Compression
	}
	return cfg
}

// EnsureStream creates the stream, or updates it to def, retrying while
// JetStream is not ready.
func EnsureStream(ctx context.Context, js jetstream.JetStream, def events.StreamDef, replicas int) (jetstream.Stream, error) {
	var s jetstream.Stream
	err := retry(ctx, func(ctx context.Context) error {
		var err error
		s, err = js.CreateOrUpdateStream(ctx, StreamConfig(def, replicas))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("ensure stream %s: %w", def.Name, err)
	}
	return s, nil
}

// KVConfig turns a bucket definition into a JetStream KV configuration.
func KVConfig(def events.BucketDef, replicas int) jetstream.KeyValueConfig {
	cfg := jetstream.KeyValueConfig{
		Bucket:         def.Name,
		Description:    def.Description,
		History:        max(def.History, 1),
		TTL:            def.TTL,
		MaxValueSize:   def.MaxValueSize,
		Storage:        jetstream.FileStorage,
		Replicas:       max(replicas, 1),
		LimitMarkerTTL: def.LimitMarkerTTL,
	}
	if cfg.MaxValueSize == 0 {
		cfg.MaxValueSize = -1
	}
	return cfg
}

// EnsureKV opens the bucket, creating it when missing, and turns on atomic
// batch publish on its stream when def asks for it. An existing bucket is not
// reconfigured (replicas of a service start at once and must not fight).
func EnsureKV(ctx context.Context, js jetstream.JetStream, def events.BucketDef, replicas int) (jetstream.KeyValue, error) {
	var kv jetstream.KeyValue
	err := retry(ctx, func(ctx context.Context) error {
		var err error
		kv, err = js.KeyValue(ctx, def.Name)
		if errors.Is(err, jetstream.ErrBucketNotFound) {
			kv, err = js.CreateKeyValue(ctx, KVConfig(def, replicas))
			if errors.Is(err, jetstream.ErrBucketExists) {
				kv, err = js.KeyValue(ctx, def.Name)
			}
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("ensure bucket %s: %w", def.Name, err)
	}
	if def.AllowAtomic {
		if err := enableAtomic(ctx, js, "KV_"+def.Name); err != nil {
			return nil, fmt.Errorf("ensure bucket %s: %w", def.Name, err)
		}
	}
	return kv, nil
}

func enableAtomic(ctx context.Context, js jetstream.JetStream, stream string) error {
	return retry(ctx, func(ctx context.Context) error {
		s, err := js.Stream(ctx, stream)
		if err != nil {
			return err
		}
		info, err := s.Info(ctx)
		if err != nil {
			return err
		}
		if info.Config.AllowAtomicPublish {
			return nil
		}
		cfg := info.Config
		cfg.AllowAtomicPublish = true
		_, err = js.UpdateStream(ctx, cfg)
		return err
	})
}
