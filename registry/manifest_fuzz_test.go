package registry

import (
	"errors"
	"testing"
)

// FuzzParseManifest: any body with any declared media type is accepted or
// refused with a registry error (never a panic), and an accepted manifest's
// descriptors carry valid digests.
func FuzzParseManifest(f *testing.F) {
	layer := `{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:` + zeros + `","size":1}`
	for _, tc := range []struct{ body, ct string }{
		{`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:` + zeros + `","size":2},"layers":[` + layer + `]}`, ""},
		{`{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:` + zeros + `","size":3}]}`, mtOCIIndex},
		{`{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"digest":"sha256:abc"}}`, ""},
		{`{"schemaVersion":1}`, mtSchema1},
		{`{}`, "application/json"}, {`[`, ""}, {`{} {}`, mtOCIManifest},
	} {
		f.Add([]byte(tc.body), tc.ct)
	}
	f.Fuzz(func(t *testing.T, body []byte, ct string) {
		p, err := parseManifest(body, contentType(ct))
		if err != nil {
			var re *regError
			if !errors.As(err, &re) {
				t.Fatalf("parseManifest: %T %v is not a registry error", err, err)
			}
			return
		}
		if p.MediaType == "" {
			t.Fatal("accepted a manifest with no media type")
		}
	})
}

const zeros = "0000000000000000000000000000000000000000000000000000000000000000"
