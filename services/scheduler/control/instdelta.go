package control

import (
	"fmt"
	"time"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/jsonx"
)

// Placement deltas. A round (commit.go) rewrites every instance it places
// on or releases from, and changes only what withSched copies back, the
// version and the time. The whole record (2 KB, most of it attributes) is
// what the bucket stores, but the feed announces such a write as a delta:
// the revision it replaced and the fields placement changed (about 200
// bytes). Every replica applies the digests in stream order and the
// commit expected that revision, so a replica holds the replaced version
// when the delta arrives; one that does not (its copy of the record did
// not decode) reads the record from the stream instead (feed.refetch).

// instanceDelta is the feed's form of a placement write.
type instanceDelta struct {
	// Base is the revision of the record the write replaced.
	Base            uint64         `json:"base"`
	RemainingCPU    int64          `json:"remainingCpu"`
	RemainingMemory int64          `json:"remainingMemory"`
	ReservedTCP     []int          `json:"reservedTcp"`
	ReservedUDP     []int          `json:"reservedUdp"`
	Tasks           int            `json:"tasks"`
	Groups          map[string]int `json:"groups,omitempty"`
	UpdatedAt       time.Time      `json:"updatedAt"`
	Version         int64          `json:"version"`
}

// placementDelta encodes r, written over the record at revision base, as a
// delta. r must differ from that record only in the delta's fields.
func placementDelta(base uint64, r *events.InstanceRecord) []byte {
	return mustJSON(instanceDelta{
		Base: base, RemainingCPU: r.RemainingCPU, RemainingMemory: r.RemainingMemory,
		ReservedTCP: r.ReservedTCP, ReservedUDP: r.ReservedUDP, Tasks: r.Tasks, Groups: r.Groups,
		UpdatedAt: r.UpdatedAt, Version: r.Version,
	})
}

func decodeDelta(b []byte) (*instanceDelta, error) {
	var d instanceDelta
	if err := jsonx.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("control: instance delta: %w", err)
	}
	return &d, nil
}

// apply returns a copy of base, the record at d.Base, with d's fields.
func (d *instanceDelta) apply(base *events.InstanceRecord) *events.InstanceRecord {
	next := *base
	next.RemainingCPU, next.RemainingMemory = d.RemainingCPU, d.RemainingMemory
	next.ReservedTCP, next.ReservedUDP = d.ReservedTCP, d.ReservedUDP
	next.Tasks, next.Groups = d.Tasks, d.Groups
	next.UpdatedAt, next.Version = d.UpdatedAt, d.Version
	return &next
}
