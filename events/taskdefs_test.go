package events

import (
	"slices"
	"testing"
)

func TestFamilyRecord_StatusIndex(t *testing.T) {
	f := FamilyRecord{Family: "web"}
	if _, ok := f.LatestActive(); ok {
		t.Fatal("empty family has a latest revision")
	}
	for r := int32(1); r <= 4; r++ {
		f.LastRevision = r
		f.SetStatus(r, TaskDefActive)
	}
	f.SetStatus(4, TaskDefInactive)
	f.SetStatus(2, TaskDefInactive)
	f.SetStatus(2, TaskDefDeleteInProgress)
	f.SetStatus(3, TaskDefActive) // already there: no duplicate
	if latest, ok := f.LatestActive(); !ok || latest != 3 {
		t.Fatalf("latest active %d %v", latest, ok)
	}
	if !slices.Equal(f.Active, []int32{1, 3}) || !slices.Equal(f.Inactive, []int32{4}) || !slices.Equal(f.DeleteInProgress, []int32{2}) {
		t.Fatalf("index %+v", f)
	}
	if f.Status(2) != TaskDefDeleteInProgress || f.Status(4) != TaskDefInactive || f.Status(9) != "" {
		t.Fatal("Status")
	}
	if !slices.Equal(f.Revisions(""), []int32{1, 2, 3, 4}) || !slices.Equal(f.Revisions(TaskDefActive), []int32{1, 3}) {
		t.Fatal("Revisions")
	}
	if TaskDefFamilyKey("web") != "fam.web" || TaskDefRevisionKey("web", 12) != "rev.web.12" || TaskDefFamilyKey("a.b") == "fam.a.b" {
		t.Fatal("keys")
	}
}
