package main

import (
	"context"

	"github.com/berth-project/berth/internal/accesskeys"
	"github.com/berth-project/berth/registry"
	"github.com/berth-project/berth/services/gateway/gateway"
	"github.com/berth-project/berth/services/scheduler/control"
	"github.com/berth-project/berth/services/taskdefs/taskdefs"
)

// components wires every service of the all-in-one, each on its own
// in-process connection. It returns notes for the banner (for example why
// there is no local agent).
func (n *node) components(ctx context.Context) ([]component, []string, error) {
	var comps []component
	var notes []string
	c := n.cfg

	gwNC, gwJS, err := n.connect("gateway")
	if err != nil {
		return nil, nil, err
	}
	keys, err := accesskeys.Watch(ctx, gwJS, 1, n.log.With("component", "accesskeys"))
	if err != nil {
		return nil, nil, err
	}
	gw, err := gateway.New(gateway.Config{Addr: c.APIAddr, Keys: keys, Log: n.log.With("component", "gateway")}, gwNC)
	if err != nil {
		return nil, nil, err
	}
	comps = append(comps, component{name: "gateway", stage: 0, run: gw.Run})

	tdNC, tdJS, err := n.connect("taskdefs")
	if err != nil {
		return nil, nil, err
	}
	td, err := taskdefs.New(taskdefs.Config{Region: c.Region, Account: c.Account, Replicas: 1, Log: n.log.With("component", "taskdefs")}, tdNC, tdJS)
	if err != nil {
		return nil, nil, err
	}
	comps = append(comps, component{name: "taskdefs", stage: 1, run: td.Run})

	scNC, scJS, err := n.connect("scheduler")
	if err != nil {
		return nil, nil, err
	}
	sc, err := control.New(control.Config{Region: c.Region, Account: c.Account, Replicas: 1, Log: n.log.With("component", "scheduler")}, scNC, scJS)
	if err != nil {
		return nil, nil, err
	}
	comps = append(comps, component{name: "scheduler", stage: 1, run: sc.Run})

	rgNC, rgJS, err := n.connect("registry")
	if err != nil {
		return nil, nil, err
	}
	rg, err := registry.New(registry.Config{
		Addr: c.RegistryAddr, Region: c.Region, Account: c.Account, Replicas: 1,
		CreateOnPush: c.CreateOnPush, Keys: keys, Log: n.log.With("component", "registry"),
	}, rgNC, rgJS)
	if err != nil {
		return nil, nil, err
	}
	// The registry serves HTTP (a front door) and ECR operations; it stops
	// with the front doors, after its in-flight pushes and pulls.
	comps = append(comps, component{name: "registry", stage: 0, run: rg.Run})
	return comps, notes, nil
}
