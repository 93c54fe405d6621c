package registry

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestSeqRead_InterleavedChunks reads parts whose chunks are not one run
// of sequences (two writers interleaved: the record lists each chunk's
// sequence), a part of one run, and a part recorded the older way (first
// sequence only, read with batched gets): whole, and by ranges that start
// and end inside chunks and cross part boundaries.
func TestSeqRead_InterleavedChunks(t *testing.T) {
	s := newStoreService(t)
	st := s.st
	st.cache = newPartCache(-1) // every byte from JetStream
	ctx := t.Context()
	chunk := st.chunkSize
	data := func(seed byte, n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = seed + byte(i*7) + byte(i>>12)
		}
		return b
	}
	pub := func(id string, b []byte) uint64 {
		t.Helper()
		ack, err := st.js.PublishMsg(ctx, &nats.Msg{Subject: st.chunkSubject(id), Data: b})
		if err != nil {
			t.Fatal(err)
		}
		return ack.Sequence
	}
	// Parts A and B: chunks published alternately, A0 B0 A1 B1 A2.
	a := [][]byte{data(1, chunk), data(2, chunk), data(3, chunk/3)}
	b := [][]byte{data(4, chunk), data(5, chunk/2)}
	var aSeqs, bSeqs []uint64
	for i := range 3 {
		aSeqs = append(aSeqs, pub("A", a[i]))
		if i < 2 {
			bSeqs = append(bSeqs, pub("B", b[i]))
		}
	}
	size := func(cs [][]byte) int64 { return int64(len(bytes.Join(cs, nil))) }
	pa := part{Name: "a", Size: size(a), ID: "A", Chunks: 3, Seq: aSeqs[0], Seqs: aSeqs}
	pb := part{Name: "b", Size: size(b), ID: "B", Chunks: 2, Seq: bSeqs[0], Seqs: bSeqs}
	// Part C: one run. Part D: the older record (first sequence only).
	c := [][]byte{data(6, chunk), data(7, 100)}
	pc := part{Name: "c", Size: size(c), ID: "C", Chunks: 2, Seq: pub("C", c[0]), Run: true}
	pub("C", c[1])
	d := [][]byte{data(8, chunk), data(9, 5000)}
	pd := part{Name: "d", Size: size(d), ID: "D", Chunks: 2, Seq: pub("D", d[0])}
	pub("D", d[1])
	if _, ok := pd.chunkSeq(1); ok {
		t.Fatal("a part recorded with its first sequence only must not claim the others")
	}

	for _, tc := range []struct {
		name  string
		parts []part
		want  []byte
		seq   bool // read with a seqReader
	}{
		{"interleaved", []part{pa, pb}, bytes.Join(append(append([][]byte{}, a...), b...), nil), true},
		{"run and interleaved", []part{pc, pa}, bytes.Join(append(append([][]byte{}, c...), a...), nil), true},
		{"older record", []part{pa, pd}, bytes.Join(append(append([][]byte{}, a...), d...), nil), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &blobRecord{Size: int64(len(tc.want)), Parts: tc.parts}
			n := rec.Size
			for _, r := range [][2]int64{{0, n}, {1, n - 1}, {int64(chunk) - 3, 10}, {int64(chunk) + 17, n - int64(chunk) - 40}, {n - 1, 1}} {
				rd := st.openRange(ctx, rec, r[0], r[1])
				if _, isSeq := rd.(*seqReader); isSeq != tc.seq {
					t.Fatalf("seqReader %v, want %v", isSeq, tc.seq)
				}
				var got bytes.Buffer
				var err error
				if r[0]%2 == 0 {
					_, err = io.Copy(&got, rd) // WriteTo
				} else {
					_, err = io.Copy(&got, struct{ io.Reader }{rd}) // Read
				}
				rd.Close()
				if err != nil {
					t.Fatalf("range %v: %v", r, err)
				}
				if !bytes.Equal(got.Bytes(), tc.want[r[0]:r[0]+r[1]]) {
					t.Fatalf("range %v: got %d bytes, not the stored ones", r, got.Len())
				}
			}
		})
	}

	// A part whose chunks were purged is an error, not a short read.
	if err := st.objStream.Purge(ctx, jetstream.WithPurgeSubject(st.chunkSubject("B"))); err != nil {
		t.Fatal(err)
	}
	// (Missing chunks are asked for again for a while, in case a replica
	// is behind: the deadline cuts that short.)
	cctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	rd := st.openRange(cctx, &blobRecord{Size: pa.Size + pb.Size, Parts: []part{pa, pb}}, 0, pa.Size+pb.Size)
	defer rd.Close()
	if _, err := io.Copy(io.Discard, rd); err == nil {
		t.Fatal("read of purged chunks succeeded")
	}
}
