package main

import (
	"context"

	"github.com/berth-project/berth/internal/accesskeys"
	"github.com/berth-project/berth/services/gateway/gateway"
)

// components wires every service of the all-in-one. It returns notes for the
// banner (for example why there is no local agent).
func (n *node) components(ctx context.Context) ([]component, []string, error) {
	var comps []component
	var notes []string

	gwNC, gwJS, err := n.connect("gateway")
	if err != nil {
		return nil, nil, err
	}
	keys, err := accesskeys.Watch(ctx, gwJS, 1, n.log.With("component", "accesskeys"))
	if err != nil {
		return nil, nil, err
	}
	gw, err := gateway.New(gateway.Config{Addr: n.cfg.APIAddr, Keys: keys, Log: n.log.With("component", "gateway")}, gwNC)
	if err != nil {
		return nil, nil, err
	}
	comps = append(comps, component{name: "gateway", stage: 0, run: gw.Run})
	return comps, notes, nil
}
