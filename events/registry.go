package events

// The registry's storage. The registry service is the only writer of both.
//
// BucketRegistry is one KV bucket for every piece of registry metadata.
// The registry writes it one key at a time with expected revisions, each
// change ordered around one commit-point write (see the registry package).
// Keys (repository names and tags go through Token; digests are written as
// two tokens, <alg>.<hex>):
//
//	repo.<repo>                                repository record (ECR settings, resource tags)
//	tag.<repo>.<tag>                           tag -> manifest digest and the manifest record's revision
//	man.<repo>.<alg>.<hex>                     manifest record: JSON metadata, "\n", the exact bytes
//	link.<repo>.<alg>.<hex>                    the blob is visible in the repository
//	ref.<repo>.<salg>.<shex>.<alg>.<hex>       referrer <alg>:<hex> of subject <salg>:<shex> (descriptor JSON)
//	blob.<alg>.<hex>                           blob record: size and the ordered part objects holding it
//	up.<uuid>                                  upload session: offset, resumable hash state, parts so far
//	auth.pull                                  the registry's pull key: signs pull tokens (events.SubjRegistryPullToken)
//
// ObjectStoreBlobs holds blob content as part objects (never more than the
// registry's part size each), named "<upload-id>.<nuid>.<n>" after the
// upload session that wrote them; a blob record lists its parts in order
// (with their chunk subjects), so completing an upload copies nothing.
var BucketRegistry = BucketDef{
	Name:        "registry",
	Writer:      ServiceRegistry,
	Description: "registry metadata: repo., tag., man., link., ref., blob., up. keys",
	History:     1,
	AllowAtomic: true,
}

// ObjectStoreDef describes a JetStream Object Store bucket as plain data.
type ObjectStoreDef struct {
	Name        string
	Writer      string
	Description string
	// ChunkSize is the size of the messages objects are cut into; it must
	// stay below the server's max_payload.
	ChunkSize int
}

// ObjectStoreBlobs holds the registry's blob parts.
var ObjectStoreBlobs = ObjectStoreDef{
	Name:        "registry_blobs",
	Writer:      ServiceRegistry,
	Description: "registry blob parts, listed in order by blob.<alg>.<hex> records of the registry bucket",
	ChunkSize:   1 << 20,
}

// ECR image action types (detail "action-type" of DetailECRImageAction).
const (
	ECRActionPush   = "PUSH"
	ECRActionDelete = "DELETE"
)

// ECRImageAction is the detail of an "ECR Image Action" event, published on
// SubjECREvent(repository, digest) after the change is committed.
type ECRImageAction struct {
	Result            string `json:"result"` // SUCCESS
	RepositoryName    string `json:"repository-name"`
	ImageDigest       string `json:"image-digest"`
	ActionType        string `json:"action-type"`
	ImageTag          string `json:"image-tag,omitempty"`
	ManifestMediaType string `json:"manifest-media-type,omitempty"`
	ArtifactMediaType string `json:"artifact-media-type,omitempty"`
}
