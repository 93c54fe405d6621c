package taskdefs

import (
	"context"
	"slices"
	"testing"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/natstest"
	"github.com/berth-project/berth/internal/natsutil"
)

// TestIndex_StaleFamilyFallsBackToSync has register's one-write index
// update start from a family record that another writer has changed since
// it was read (here revision 1 was indexed in between): the compare-and-set
// must fail and the full sync must still leave both revisions indexed.
func TestIndex_StaleFamilyFallsBackToSync(t *testing.T) {
	ctx := context.Background()
	srv := natstest.Start(t)
	_, js := natstest.JetStream(t, srv)
	kv, err := natsutil.EnsureKV(ctx, js, events.BucketTaskDefs, 1)
	if err != nil {
		t.Fatal(err)
	}
	st := &store{kv: kv}
	record := func() *events.TaskDefRecord {
		r := &events.TaskDefRecord{}
		r.TaskDefinition.Family = "web"
		r.TaskDefinition.Status = events.TaskDefActive
		return r
	}
	stale, err := st.family(ctx, "web") // read before anybody wrote the family
	if err != nil {
		t.Fatal(err)
	}
	for _, rev := range []int32{1, 2} {
		if err := st.createRevision(ctx, "web", rev, record()); err != nil {
			t.Fatal(err)
		}
	}
	fresh, err := st.family(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.index(ctx, fresh, 1, events.TaskDefActive); err != nil {
		t.Fatalf("index 1: %v", err)
	}
	if err := st.index(ctx, stale, 2, events.TaskDefActive); err != nil {
		t.Fatalf("index 2 from a stale family record: %v", err)
	}
	got, err := st.family(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	if got.rec.LastRevision != 2 || !slices.Equal(got.rec.Active, []int32{1, 2}) {
		t.Fatalf("index after the fallback: %+v", got.rec)
	}
}
