package registry_test

import (
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// TestGGCR_ImageAndIndexRoundTrip pushes a random image and a random
// multi-platform index with go-containerregistry (crane's library), pulls
// them back and validates every digest and size.
func TestGGCR_ImageAndIndexRoundTrip(t *testing.T) {
	e := newEnv(t, nil)
	auth := remote.WithAuth(authn.FromConfig(authn.AuthConfig{Username: "AWS", Password: e.token(t)}))

	img, err := random.Image(3<<20, 3)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(e.Host+"/ggcr/image:v1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, auth); err != nil {
		t.Fatalf("write image: %v", err)
	}
	got, err := remote.Image(ref, auth)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(got); err != nil {
		t.Fatalf("pulled image: %v", err)
	}
	want, _ := img.Digest()
	if d, _ := got.Digest(); d != want {
		t.Fatalf("digest %s, want %s", d, want)
	}

	idx, err := random.Index(1<<20, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	iref, _ := name.ParseReference(e.Host+"/ggcr/index:v1", name.Insecure)
	if err := remote.WriteIndex(iref, idx, auth); err != nil {
		t.Fatalf("write index: %v", err)
	}
	gotIdx, err := remote.Index(iref, auth)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Index(gotIdx); err != nil {
		t.Fatalf("pulled index: %v", err)
	}
	// Listing through the library: tags and catalog.
	tags, err := remote.List(ref.Context(), auth)
	if err != nil || len(tags) != 1 || tags[0] != "v1" {
		t.Fatalf("tags %v %v", tags, err)
	}
	repos, err := remote.Catalog(t.Context(), ref.Context().Registry, auth)
	if err != nil || len(repos) != 2 {
		t.Fatalf("catalog %v %v", repos, err)
	}
}
