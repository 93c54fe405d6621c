package events

import (
	"slices"
	"strconv"

	"github.com/berth-project/berth/events/ecsapi"
)

// Task definition statuses (ecsapi.EnumValues["TaskDefinitionStatus"]).
const (
	TaskDefActive           = "ACTIVE"
	TaskDefInactive         = "INACTIVE"
	TaskDefDeleteInProgress = "DELETE_IN_PROGRESS"
)

// TaskDefFamilyKey is the BucketTaskDefs key of a family record:
// fam.<Token(family)>.
func TaskDefFamilyKey(family string) string { return "fam." + Token(family) }

// TaskDefRevisionKey is the BucketTaskDefs key of one revision:
// rev.<Token(family)>.<revision>.
func TaskDefRevisionKey(family string, revision int32) string {
	return "rev." + Token(family) + "." + strconv.FormatInt(int64(revision), 10)
}

// TaskDefFamilyFilter matches every family record: fam.>
const TaskDefFamilyFilter = "fam.>"

// FamilyRecord is the value at TaskDefFamilyKey: the family's revision
// counter and the index of its revisions by status. The revision records are
// the truth; the taskdefs service writes a revision record first and then
// brings this index up to date, so the index may trail a change in flight
// (or one whose writer died, until the next write or read in the family
// repairs it). A reader that needs certainty checks the revision record.
//
// Readers find the latest ACTIVE revision of a family with LatestActive,
// without reading any revision record.
type FamilyRecord struct {
	Family string `json:"family"`
	// LastRevision is the highest revision ever registered. The next
	// registration gets LastRevision+1; revisions are never reused.
	LastRevision int32 `json:"lastRevision"`
	// Active, Inactive and DeleteInProgress hold the revisions in each
	// status, ascending.
	Active           []int32 `json:"active"`
	Inactive         []int32 `json:"inactive"`
	DeleteInProgress []int32 `json:"deleteInProgress"`
}

// LatestActive returns the highest ACTIVE revision, if any.
func (f *FamilyRecord) LatestActive() (int32, bool) {
	if len(f.Active) == 0 {
		return 0, false
	}
	return f.Active[len(f.Active)-1], true
}

// Status returns the status of revision rev, or "" when the family has no
// such revision.
func (f *FamilyRecord) Status(rev int32) string {
	switch {
	case revHas(f.Active, rev):
		return TaskDefActive
	case revHas(f.Inactive, rev):
		return TaskDefInactive
	case revHas(f.DeleteInProgress, rev):
		return TaskDefDeleteInProgress
	}
	return ""
}

// Revisions returns the revisions in status ("" = every status), ascending.
func (f *FamilyRecord) Revisions(status string) []int32 {
	switch status {
	case TaskDefActive:
		return slices.Clone(f.Active)
	case TaskDefInactive:
		return slices.Clone(f.Inactive)
	case TaskDefDeleteInProgress:
		return slices.Clone(f.DeleteInProgress)
	}
	all := slices.Concat(f.Active, f.Inactive, f.DeleteInProgress)
	slices.Sort(all)
	return all
}

// SetStatus moves rev to status, keeping every list sorted. It does not
// touch LastRevision.
func (f *FamilyRecord) SetStatus(rev int32, status string) {
	f.Active = revRemove(f.Active, rev)
	f.Inactive = revRemove(f.Inactive, rev)
	f.DeleteInProgress = revRemove(f.DeleteInProgress, rev)
	switch status {
	case TaskDefActive:
		f.Active = revInsert(f.Active, rev)
	case TaskDefInactive:
		f.Inactive = revInsert(f.Inactive, rev)
	case TaskDefDeleteInProgress:
		f.DeleteInProgress = revInsert(f.DeleteInProgress, rev)
	}
}

// TaskDefRecord is the value at TaskDefRevisionKey: the task definition
// exactly as DescribeTaskDefinition returns it (ARN, status, defaults filled
// in), and its tags.
type TaskDefRecord struct {
	TaskDefinition ecsapi.TaskDefinition `json:"taskDefinition"`
	Tags           []ecsapi.Tag          `json:"tags"`
}

func revHas(s []int32, v int32) bool {
	_, ok := slices.BinarySearch(s, v)
	return ok
}

func revRemove(s []int32, v int32) []int32 {
	if i, ok := slices.BinarySearch(s, v); ok {
		return slices.Delete(s, i, i+1)
	}
	return s
}

func revInsert(s []int32, v int32) []int32 {
	i, ok := slices.BinarySearch(s, v)
	if ok {
		return s
	}
	return slices.Insert(s, i, v)
}
