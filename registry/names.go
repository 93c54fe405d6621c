package registry

import (
	"regexp"
	"strings"

	"github.com/berth-project/berth/events"
)

// repoNameRE is the OCI distribution-spec repository name grammar (the ECR
// model uses the same pattern).
var repoNameRE = regexp.MustCompile(`^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$`)

// repoNamePattern is the pattern as ECR quotes it in validation messages.
const repoNamePattern = `(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*`

// validRepoName checks a repository name: the spec grammar and ECR's 2..256
// characters.
func validRepoName(name string) bool {
	return len(name) >= 2 && len(name) <= 256 && repoNameRE.MatchString(name)
}

// tagRE is the OCI tag grammar.
var tagRE = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$`)

// ecrTagRE is the same alphabet with ECR's length limit of 300.
var ecrTagRE = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,299}$`)

func validTag(tag string) bool    { return tagRE.MatchString(tag) }
func validECRTag(tag string) bool { return ecrTagRE.MatchString(tag) }

// KV keys of the registry bucket (events.BucketRegistry documents them).

func repoKey(repo string) string { return "repo." + events.Token(repo) }

func tagKey(repo, tag string) string {
	return "tag." + events.Token(repo) + "." + events.Token(tag)
}

func tagFilter(repo string) string { return "tag." + events.Token(repo) + ".*" }

func manKey(repo string, d digest) string { return "man." + events.Token(repo) + "." + d.key() }

func manFilter(repo string) string { return "man." + events.Token(repo) + ".*.*" }

func linkKey(repo string, d digest) string { return "link." + events.Token(repo) + "." + d.key() }

func linkFilter(repo string) string { return "link." + events.Token(repo) + ".*.*" }

func refKey(repo string, subject, referrer digest) string {
	return "ref." + events.Token(repo) + "." + subject.key() + "." + referrer.key()
}

func refFilter(repo string, subject digest) string {
	return "ref." + events.Token(repo) + "." + subject.key() + ".*.*"
}

func refRepoFilter(repo string) string { return "ref." + events.Token(repo) + ".>" }

func blobKey(d digest) string { return "blob." + d.key() }

func uploadKey(id string) string { return "up." + id }

// lastTokens returns the last n dot-separated tokens of a key, joined.
func lastTokens(key string, n int) string {
	i := len(key)
	for ; n > 0 && i > 0; n-- {
		j := strings.LastIndexByte(key[:i], '.')
		if j < 0 {
			return key
		}
		i = j
	}
	return key[i+1:]
}

// tagFromKey decodes the tag of a tag.<repo>.<tag> key.
func tagFromKey(key string) (string, error) {
	return events.ParseToken(lastTokens(key, 1))
}

// repoFromKey decodes the repository of a repo.<repo> key.
func repoFromKey(key string) (string, error) {
	return events.ParseToken(strings.TrimPrefix(key, "repo."))
}

// digestFromTail decodes the digest in the last two tokens of a key.
func digestFromTail(key string) (digest, error) { return digestFromKey(lastTokens(key, 2)) }
