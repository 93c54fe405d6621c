package agent

import (
	"context"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/natsutil"
	"github.com/berth-project/berth/services/agent/logship"
)

// runLogShipper ships the output of awslogs containers to the logs service
// (package logship) until ctx ends.
func (a *Agent) runLogShipper(ctx context.Context) {
	sh, err := logship.New(logship.Config{
		Docker:  a.dc,
		Owner:   a.cfg.Owner,
		DataDir: a.cfg.DataDir,
		Log:     a.log,
		Ship: func(ctx context.Context, req events.LogShipRequest) (events.LogShipResponse, error) {
			var res events.LogShipResponse
			err := natsutil.Call(ctx, a.nc, events.SubjInternal(events.ServiceLogs, "Ship"), req, &res)
			return res, err
		},
	})
	if err != nil {
		a.log.Error("log shipping disabled", "err", err)
		return
	}
	if err := sh.Run(ctx); err != nil {
		a.log.Error("log shipping stopped", "err", err)
	}
}
