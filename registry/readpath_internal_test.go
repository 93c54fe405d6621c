package registry

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/internal/natstest"
)

// BenchmarkStoreRead reads a 128 MiB blob straight from storage (no HTTP),
// without the part cache: the JetStream read path alone.
func BenchmarkStoreRead(b *testing.B) {
	srv := natstest.Start(b)
	nc, err := nats.Connect("", append(natstest.Admin(b), nats.InProcessServer(srv))...)
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	s, err := New(Config{CreateOnPush: true, BlobCacheSize: -1}, nc, js)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := s.open(ctx); err != nil {
		b.Fatal(err)
	}
	const size = 128 << 20
	buf := make([]byte, size)
	_, _ = rand.NewChaCha8([32]byte{9}).Read(buf)
	parts, n, err := s.st.writeParts(ctx, "bench", bytes.NewReader(buf), sha256.New(), size, false)
	if err != nil || n != size {
		b.Fatal(err)
	}
	rec := &blobRecord{Size: size, Parts: parts}
	b.SetBytes(size)
	b.ResetTimer()
	for range b.N {
		rd := s.st.openRange(ctx, rec, 0, size)
		if m, err := io.Copy(io.Discard, rd); err != nil || m != size {
			b.Fatal(m, err)
		}
		rd.Close()
	}
}
