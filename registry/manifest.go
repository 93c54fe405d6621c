package registry

import (
	"bytes"
	"encoding/json"
	"mime"
	"strings"
)

// Manifest media types.
const (
	mtDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
	mtDockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"
	mtOCIManifest    = "application/vnd.oci.image.manifest.v1+json"
	mtOCIIndex       = "application/vnd.oci.image.index.v1+json"
	mtSchema1        = "application/vnd.docker.distribution.manifest.v1+json"
	mtSchema1Signed  = "application/vnd.docker.distribution.manifest.v1+prettyjws"
)

// descriptor is an OCI content descriptor (the members the registry uses).
type descriptor struct {
	MediaType    string            `json:"mediaType"`
	Digest       string            `json:"digest"`
	Size         int64             `json:"size"`
	URLs         []string          `json:"urls,omitempty"`
	ArtifactType string            `json:"artifactType,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
}

// manifestDoc is what the registry reads from a manifest.
type manifestDoc struct {
	SchemaVersion *int              `json:"schemaVersion"`
	MediaType     string            `json:"mediaType"`
	ArtifactType  string            `json:"artifactType"`
	Config        *descriptor       `json:"config"`
	Layers        []descriptor      `json:"layers"`
	Manifests     []descriptor      `json:"manifests"`
	Subject       *descriptor       `json:"subject"`
	Annotations   map[string]string `json:"annotations"`
}

// parsedManifest is a manifest checked for structure, before its references
// are looked up.
type parsedManifest struct {
	MediaType string
	Doc       manifestDoc
	Index     bool
	Subject   digest   // zero when none
	Blobs     []digest // config and distributable layers: must be linked
	Children  []digest // index entries: must be manifests of the repository
	ImageSize int64    // config + layers
	SubjectD  *descriptor
}

// contentType strips parameters from a Content-Type; "generic" types that
// say nothing about the manifest count as absent.
func contentType(h string) string {
	mt, _, err := mime.ParseMediaType(h)
	if err != nil {
		mt = strings.TrimSpace(strings.ToLower(strings.Split(h, ";")[0]))
	}
	switch mt {
	case "", "application/json", "application/octet-stream", "text/plain":
		return ""
	}
	return mt
}

// parseManifest checks a manifest against its declared media type
// (Content-Type or, for ECR, imageManifestMediaType). declared may be ""
// when the caller gave none.
func parseManifest(body []byte, declared string) (*parsedManifest, error) {
	var doc manifestDoc
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&doc); err != nil {
		return nil, newErr(kindManifestInvalid, "manifest invalid: %v", err)
	}
	if dec.More() {
		return nil, newErr(kindManifestInvalid, "manifest invalid: trailing data after the JSON document")
	}
	mt := declared
	switch {
	case doc.MediaType != "" && declared != "" && doc.MediaType != declared:
		return nil, newErr(kindManifestInvalid, "manifest invalid: mediaType %q does not match Content-Type %q", doc.MediaType, declared)
	case mt == "":
		mt = doc.MediaType
	}
	if mt == "" {
		return nil, newErr(kindManifestInvalid, "manifest invalid: no media type (set Content-Type or mediaType)")
	}
	p := &parsedManifest{MediaType: mt, Doc: doc}
	switch mt {
	case mtDockerManifest, mtOCIManifest:
	case mtDockerList, mtOCIIndex:
		p.Index = true
	case mtSchema1, mtSchema1Signed:
		return nil, newErr(kindManifestInvalid, "manifest invalid: schema 1 manifests are not supported")
	default:
		return nil, newErr(kindManifestInvalid, "manifest invalid: unsupported media type %q", mt)
	}
	if doc.SchemaVersion == nil || *doc.SchemaVersion != 2 {
		return nil, newErr(kindManifestInvalid, "manifest invalid: schemaVersion must be 2")
	}
	if doc.Subject != nil {
		d, err := checkDescriptor("subject", doc.Subject)
		if err != nil {
			return nil, err
		}
		p.Subject, p.SubjectD = d, doc.Subject
	}
	if p.Index {
		if doc.Config != nil || doc.Layers != nil {
			return nil, newErr(kindManifestInvalid, "manifest invalid: an index has no config or layers")
		}
		for i := range doc.Manifests {
			d, err := checkDescriptor("manifests", &doc.Manifests[i])
			if err != nil {
				return nil, err
			}
			p.Children = append(p.Children, d)
		}
		return p, nil
	}
	if doc.Manifests != nil {
		return nil, newErr(kindManifestInvalid, "manifest invalid: an image manifest has no manifests list")
	}
	if doc.Config == nil {
		return nil, newErr(kindManifestInvalid, "manifest invalid: config is required")
	}
	d, err := checkDescriptor("config", doc.Config)
	if err != nil {
		return nil, err
	}
	p.Blobs = append(p.Blobs, d)
	p.ImageSize = doc.Config.Size
	for i := range doc.Layers {
		l := &doc.Layers[i]
		d, err := checkDescriptor("layers", l)
		if err != nil {
			return nil, err
		}
		p.ImageSize += l.Size
		if !distributable(l) {
			continue
		}
		p.Blobs = append(p.Blobs, d)
	}
	return p, nil
}

// distributable reports whether a layer must be pushed to the registry:
// non-distributable (foreign) layers and layers with URLs may live
// elsewhere.
func distributable(l *descriptor) bool {
	return len(l.URLs) == 0 && !strings.Contains(l.MediaType, "nondistributable") && !strings.Contains(l.MediaType, "foreign")
}

func checkDescriptor(field string, d *descriptor) (digest, error) {
	dg, err := parseDigest(d.Digest)
	if err != nil {
		return digest{}, newErr(kindManifestInvalid, "manifest invalid: %s: %v", field, err)
	}
	if d.Size < 0 {
		return digest{}, newErr(kindManifestInvalid, "manifest invalid: %s: negative size", field)
	}
	return dg, nil
}

// artifactType is what a referrers list shows for a manifest: its
// artifactType, else (image manifests only) its config's media type.
func (p *parsedManifest) artifactType() string {
	if p.Doc.ArtifactType != "" {
		return p.Doc.ArtifactType
	}
	if !p.Index && p.Doc.Config != nil {
		return p.Doc.Config.MediaType
	}
	return ""
}

func (p *parsedManifest) configMediaType() string {
	if p.Doc.Config != nil {
		return p.Doc.Config.MediaType
	}
	return ""
}
