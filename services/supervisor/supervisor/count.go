package supervisor

import (
	"context"

	"github.com/berth-project/berth/events"
)

// countServices answers the scheduler's question for a cluster's counters
// (activeServicesCount, STATISTICS, DeleteCluster's precondition).
func (s *Service) countServices(_ context.Context, in *events.ServiceCountRequest) (any, error) {
	var out events.ServiceCountReply
	for _, c := range s.cache.list(func(_ string, r *events.ServiceRecord) bool { return r.Cluster == in.Cluster }) {
		switch c.rec.Status {
		case events.ServiceActive:
			out.ActiveEC2++
		case events.ServiceDraining:
			out.DrainingEC2++
		}
	}
	return &out, nil
}
