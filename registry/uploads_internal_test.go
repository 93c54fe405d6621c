package registry

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"testing"

	"github.com/berth-project/berth/internal/natstest"
	"github.com/nats-io/nats.go/jetstream"
)

// newStoreService opens a registry's storage on a fresh JetStream server,
// without serving anything: for driving its logic step by step.
func newStoreService(t *testing.T) *Service {
	t.Helper()
	srv := natstest.Start(t)
	nc, js := natstest.JetStream(t, srv)
	s, err := New(Config{CreateOnPush: true, PartSize: 1 << 20}, nc, js)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.open(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// uploadChunk starts a session in repo and appends data to it.
func uploadChunk(t *testing.T, s *Service, repo string, data []byte) *uploadRecord {
	t.Helper()
	ctx := t.Context()
	if _, err := s.repoForPush(ctx, repo); err != nil {
		t.Fatal(err)
	}
	u, err := s.startUpload(ctx, repo, algSHA256)
	if err != nil {
		t.Fatal(err)
	}
	u, err = s.appendChunk(ctx, repo, u.ID, chunk{Body: bytes.NewReader(data), Start: -1, Length: int64(len(data))})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// readBlob reads a blob linked in repo.
func readBlob(t *testing.T, s *Service, repo string, d digest) []byte {
	t.Helper()
	b, err := s.openBlob(t.Context(), repo, d)
	if err != nil {
		t.Fatalf("open %s: %v", d, err)
	}
	rd := s.st.openRange(t.Context(), b, 0, b.Size)
	defer rd.Close()
	got, err := io.ReadAll(rd)
	if err != nil {
		t.Fatalf("read %s: %v", d, err)
	}
	return got
}

func noChunk() chunk { return chunk{Body: bytes.NewReader(nil), Start: -1, Length: 0} }

// TestFinishUpload_ResumesAClosingSession: a completion cut off after it
// closed its session (the commit point not reached) is finished by the
// next PUT; meanwhile the session takes no more chunks.
func TestFinishUpload_ResumesAClosingSession(t *testing.T) {
	s := newStoreService(t)
	ctx := t.Context()
	data := make([]byte, 5<<19)
	_, _ = rand.Read(data)
	u := uploadChunk(t, s, "resume/closing", data)
	d := digestOf(algSHA256, data)

	// What the cut-off PUT wrote: the session, closing, with its parts.
	e, err := s.st.get(ctx, uploadKey(u.ID))
	if err != nil {
		t.Fatal(err)
	}
	u.Closing = d.String()
	if _, err := s.st.write(ctx, put(uploadKey(u.ID), mustJSON(u), e.Rev)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.appendChunk(ctx, "resume/closing", u.ID, chunk{Body: bytes.NewReader([]byte("more")), Start: -1, Length: 4}); !isKind(err, kindUploadUnknown) {
		t.Fatalf("a chunk after closing: %v, want upload unknown", err)
	}
	if err := s.finishUpload(ctx, "resume/closing", u.ID, digestOf(algSHA256, []byte("other")), noChunk()); !isKind(err, kindDigestInvalid) {
		t.Fatalf("closing with another digest: %v", err)
	}
	if err := s.finishUpload(ctx, "resume/closing", u.ID, d, noChunk()); err != nil {
		t.Fatalf("resumed completion: %v", err)
	}
	if got := readBlob(t, s, "resume/closing", d); !bytes.Equal(got, data) {
		t.Fatal("resumed blob differs")
	}
	if e, _ := s.st.get(ctx, uploadKey(u.ID)); e.Exists {
		t.Fatal("the session outlived its completion")
	}
}

// TestFinishUpload_RetryAfterTheCommitPoint: a completion cut off after the
// blob record was created (its session left behind) is finished again by
// the next PUT, which must not drop the parts the record now owns.
func TestFinishUpload_RetryAfterTheCommitPoint(t *testing.T) {
	s := newStoreService(t)
	ctx := t.Context()
	data := make([]byte, 3<<19)
	_, _ = rand.Read(data)
	u := uploadChunk(t, s, "retry/commit", data)
	d := digestOf(algSHA256, data)
	if err := s.finishUpload(ctx, "retry/commit", u.ID, d, noChunk()); err != nil {
		t.Fatal(err)
	}
	// The session record as the cut-off completion left it.
	u.Closing = d.String()
	e, _ := s.st.get(ctx, uploadKey(u.ID))
	if _, err := s.st.write(ctx, put(uploadKey(u.ID), mustJSON(u), e.Rev)); err != nil {
		t.Fatal(err)
	}
	if err := s.finishUpload(ctx, "retry/commit", u.ID, d, noChunk()); err != nil {
		t.Fatalf("retried completion: %v", err)
	}
	if got := readBlob(t, s, "retry/commit", d); !bytes.Equal(got, data) {
		t.Fatal("blob differs after the retry")
	}
	// A second copy of the same content is dropped, the first kept.
	u2 := uploadChunk(t, s, "retry/commit", data)
	if err := s.finishUpload(ctx, "retry/commit", u2.ID, d, noChunk()); err != nil {
		t.Fatal(err)
	}
	if got := readBlob(t, s, "retry/commit", d); !bytes.Equal(got, data) {
		t.Fatal("blob differs after a duplicate upload")
	}
	infos, err := s.st.obs.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 2 {
		t.Fatalf("%d part objects, want the blob's 2", len(infos))
	}
}

// TestLinkExisting_LosesToTheCollector: when the collector deletes the
// blob record between a mount's link and its touch, the mount takes its
// link back and reports the blob missing.
func TestLinkExisting_LosesToTheCollector(t *testing.T) {
	s := newStoreService(t)
	ctx := t.Context()
	data := []byte("soon collected")
	u := uploadChunk(t, s, "race/src", data)
	d := digestOf(algSHA256, data)
	if err := s.finishUpload(ctx, "race/src", u.ID, d, noChunk()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.repoForPush(ctx, "race/dst"); err != nil {
		t.Fatal(err)
	}
	be, _ := s.st.get(ctx, blobKey(d))
	testHookLinked = func() {
		// The collector's delete, at the revision it decided on, lands
		// right after the link.
		if _, err := s.st.write(ctx, del(blobKey(d), be.Rev)); err != nil {
			t.Errorf("collector delete: %v", err)
		}
	}
	defer func() { testHookLinked = nil }()
	b, err := s.linkExisting(ctx, "race/dst", d)
	if err != nil || b != nil {
		t.Fatalf("link of a collected blob: %v %v", b, err)
	}
	if e, _ := s.st.get(ctx, linkKey("race/dst", d)); e.Exists {
		t.Fatal("the link of a collected blob stayed")
	}
}

// TestPendingObject_CancelledWriteLeavesNothing: a part write whose
// request is cancelled while its messages are on their way (a client that
// broke off) purges them after they land, not before.
func TestPendingObject_CancelledWriteLeavesNothing(t *testing.T) {
	s := newStoreService(t)
	st := s.st
	data := bytes.Repeat([]byte{7}, 4*st.chunkSize+5)
	for i := range 20 {
		ctx, cancel := context.WithCancel(t.Context())
		id := fmt.Sprintf("cancelled%d", i)
		po := st.publishObject(ctx, "cancelled."+id, id, data, nil)
		cancel()
		if _, err := po.wait(); err == nil {
			// Every answer came before the cancel was seen: nothing to check.
			continue
		}
		info, err := st.objStream.Info(t.Context(), jetstream.WithSubjectFilter(st.chunkSubject(id)))
		if err != nil {
			t.Fatal(err)
		}
		if n := len(info.State.Subjects); n != 0 {
			t.Fatalf("write %d: %d chunk subjects left after a cancelled write", i, n)
		}
		info, err = st.objStream.Info(t.Context(), jetstream.WithSubjectFilter(st.metaSubject("cancelled."+id)))
		if err != nil {
			t.Fatal(err)
		}
		if n := len(info.State.Subjects); n != 0 {
			t.Fatalf("write %d: the metadata is left after a cancelled write", i)
		}
	}
}
