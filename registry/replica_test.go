package registry_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/natstest"
	"github.com/berth-project/berth/internal/testenv"
	"github.com/berth-project/berth/registry"
)

// brokenReader yields n bytes of data, then fails like a dropped connection.
type brokenReader struct {
	r io.Reader
	n int
}

func (b *brokenReader) Read(p []byte) (int, error) {
	if b.n <= 0 {
		return 0, errors.New("connection dropped")
	}
	if len(p) > b.n {
		p = p[:b.n]
	}
	n, err := b.r.Read(p)
	b.n -= n
	return n, err
}

// TestUpload_ResumesOnAnotherReplica interrupts a chunked upload on one
// replica, stops that replica, and finishes the upload through another:
// the session, its parts and its hash state are all in JetStream.
func TestUpload_ResumesOnAnotherReplica(t *testing.T) {
	e := newEnv(t, nil)
	// Replica A runs under a context the test cancels.
	a, err := registry.New(registry.Config{Region: testenv.Region, Account: testenv.Account, CreateOnPush: true, PartSize: 1 << 20}, e.NC, e.JS)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctxA, stopA := context.WithCancel(context.Background())
	doneA := make(chan error, 1)
	go func() { doneA <- a.Serve(ctxA, l) }()
	defer stopA()
	<-a.Ready()
	urlA := "http://" + l.Addr().String()
	urlB := e.URL

	blob := randomBytes(t, 5<<20+321)
	half := 3<<20 + 17

	r := e.do(t, req{Method: "POST", Path: "/v2/resume/app/blobs/uploads/", Base: urlA})
	want(t, r, http.StatusAccepted)
	loc := r.Header.Get("Location")
	r = e.do(t, req{Method: "PATCH", Path: loc, Base: urlA, Body: blob[:half], Headers: map[string]string{"Content-Range": fmt.Sprintf("0-%d", half-1)}})
	want(t, r, http.StatusAccepted)

	// The next chunk breaks off half-way on replica A.
	hr, _ := http.NewRequest("PATCH", urlA+loc, &brokenReader{r: bytes.NewReader(blob[half:]), n: 1 << 20})
	hr.ContentLength = int64(len(blob) - half)
	hr.Header.Set("Content-Range", fmt.Sprintf("%d-%d", half, len(blob)-1))
	hr.SetBasicAuth("AWS", e.token(t))
	if res, err := http.DefaultClient.Do(hr); err == nil {
		res.Body.Close()
		t.Fatalf("interrupted PATCH answered %d", res.StatusCode)
	}
	stopA()
	select {
	case err := <-doneA:
		if err != nil {
			t.Fatalf("replica A: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("replica A did not stop")
	}

	// Replica B knows where the session stands: the broken chunk never
	// counted.
	r = e.do(t, req{Method: "GET", Path: loc, Base: urlB})
	want(t, r, http.StatusNoContent)
	if got := r.Header.Get("Range"); got != fmt.Sprintf("0-%d", half-1) {
		t.Fatalf("Range on replica B: %q", got)
	}
	r = e.do(t, req{Method: "PATCH", Path: r.Header.Get("Location"), Base: urlB, Body: blob[half:], Headers: map[string]string{"Content-Range": fmt.Sprintf("%d-%d", half, len(blob)-1)}})
	want(t, r, http.StatusAccepted)
	d := sha256Digest(blob)
	want(t, e.do(t, req{Method: "PUT", Path: withQuery(r.Header.Get("Location"), "digest", d), Base: urlB}), http.StatusCreated)
	r = e.do(t, req{Method: "GET", Path: "/v2/resume/app/blobs/" + d, Base: urlB})
	if r.StatusCode != http.StatusOK || !bytes.Equal(r.Body, blob) {
		t.Fatalf("resumed blob: %d, %d bytes", r.StatusCode, len(r.Body))
	}
	// Nothing of the broken chunk is left behind: only the blob's parts.
	natstest.Eventually(t, 10*time.Second, 50*time.Millisecond, func() error {
		parts := (half+1<<20-1)>>20 + (len(blob)-half+1<<20-1)>>20
		if n := len(e.storage(t).Objects); n != parts {
			return fmt.Errorf("%d objects, want the %d parts of the blob", n, parts)
		}
		return nil
	})
}

// TestBlobUpload_BrokenStreamCountsNothing: a streamed PATCH (chunked, no
// length) that breaks off must not be taken for a short chunk.
func TestBlobUpload_BrokenStreamCountsNothing(t *testing.T) {
	e := newEnv(t, nil)
	r := e.do(t, req{Method: "POST", Path: "/v2/broken/app/blobs/uploads/"})
	loc := r.Header.Get("Location")
	hr, _ := http.NewRequest("PATCH", e.URL+loc, io.NopCloser(&brokenReader{r: bytes.NewReader(randomBytes(t, 4<<20)), n: 2<<20 + 5}))
	hr.SetBasicAuth("AWS", e.token(t))
	if res, err := http.DefaultClient.Do(hr); err == nil {
		res.Body.Close()
		t.Fatalf("broken PATCH answered %d", res.StatusCode)
	}
	natstest.Eventually(t, 10*time.Second, 50*time.Millisecond, func() error {
		if n := len(e.storage(t).Objects); n != 0 {
			return fmt.Errorf("%d parts left by the broken stream", n)
		}
		return nil
	})
	r = e.do(t, req{Method: "GET", Path: loc})
	want(t, r, http.StatusNoContent)
	if r.Header.Get("Range") != "0-0" {
		t.Fatalf("the broken stream counted: Range %q", r.Header.Get("Range"))
	}
}
