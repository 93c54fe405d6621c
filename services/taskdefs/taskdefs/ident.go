package taskdefs

import (
	"math"
	"strconv"
	"strings"

	"github.com/berth-project/berth/events"
)

// ident is a parsed task definition reference: "family", "family:revision"
// or an ARN arn:<partition>:ecs:<region>:<account>:task-definition/<family>[:<revision>].
type ident struct {
	Family   string
	Revision int32 // 0 when the reference names no revision
	// Region and Account are set when the reference was an ARN.
	Region, Account string
	ARN             bool
}

// taskDefARN builds the ARN of family:revision.
func (s *Service) taskDefARN(family string, revision int32) string {
	return events.TaskDefinitionARN(s.cfg.Region, s.cfg.Account, family, int(revision))
}

// parseIdent parses a task definition reference. In the family:revision
// form a revision that is not a positive number is an
// InvalidParameterException; anything else that does not parse reports
// ok=false (the caller decides which error that is).
func parseIdent(ref string) (id ident, ok bool, err error) {
	if events.IsARN(ref) {
		r, perr := events.ParseECSARN(ref)
		if perr != nil || r.Type != events.ResourceTaskDefinition || !validName(r.Name) || r.Revision > math.MaxInt32 {
			return id, false, nil
		}
		return ident{Family: r.Name, Revision: int32(r.Revision), Region: r.Region, Account: r.Account, ARN: true}, true, nil
	}
	family, rev, hasRev := strings.Cut(ref, ":")
	if !validName(family) {
		return id, false, nil
	}
	id.Family = family
	if hasRev {
		n, perr := strconv.ParseInt(rev, 10, 32)
		if perr != nil || n <= 0 {
			return id, false, errRevision(rev)
		}
		id.Revision = int32(n)
	}
	return id, true, nil
}

// ours reports whether an ARN reference points into this region and
// account (bare references always do).
func (s *Service) ours(id ident) bool {
	return !id.ARN || (id.Region == s.cfg.Region && id.Account == s.cfg.Account)
}

// validName reports whether s is a valid family, container or volume name:
// up to 255 letters, numbers, hyphens and underscores.
func validName(s string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
