package control

import (
	"context"
	"errors"

	"github.com/nats-io/nats.go"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/natsutil"
)

// AskSupervisor is a ServiceCounter that asks the supervisor over NATS
// (events.SubjSupervisorCountServices). A Berth without a supervisor
// counts no services.
func AskSupervisor(nc *nats.Conn) ServiceCounter { return supervisorCounter{nc: nc} }

type supervisorCounter struct{ nc *nats.Conn }

func (c supervisorCounter) CountServices(ctx context.Context, cluster string) (ServiceCounts, error) {
	var out events.ServiceCountReply
	err := natsutil.Call(ctx, c.nc, events.SubjSupervisorCountServices, &events.ServiceCountRequest{Cluster: cluster}, &out)
	if errors.Is(err, natsutil.ErrUnavailable) {
		return ServiceCounts{}, nil
	}
	if err != nil {
		return ServiceCounts{}, err
	}
	return ServiceCounts{ActiveEC2: out.ActiveEC2, ActiveFargate: out.ActiveFargate, DrainingEC2: out.DrainingEC2, DrainingFargate: out.DrainingFargate}, nil
}
