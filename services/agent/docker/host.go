package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"

	"github.com/moby/moby/client"
)

// HostInfo is what the agent needs from `docker info`.
type HostInfo struct {
	// ID is the daemon's engine ID (stable for the daemon's lifetime on a host).
	ID            string
	ServerVersion string // "20.10.24+dfsg1"
	// APIVersion is the negotiated API version ("1.41"), after Ping.
	APIVersion      string
	NCPU            int
	MemTotal        int64 // bytes
	OSType          string
	Architecture    string
	OperatingSystem string
	Name            string // the daemon host's name
	LoggingDriver   string // the daemon's default log driver
}

// Info describes the daemon and its host.
func (c *Client) Info(ctx context.Context) (HostInfo, error) {
	res, err := c.api.Info(ctx, client.InfoOptions{})
	if err != nil {
		return HostInfo{}, wrap("info", err)
	}
	in := res.Info
	return HostInfo{
		ID:              in.ID,
		ServerVersion:   in.ServerVersion,
		APIVersion:      c.api.ClientVersion(),
		NCPU:            in.NCPU,
		MemTotal:        in.MemTotal,
		OSType:          in.OSType,
		Architecture:    in.Architecture,
		OperatingSystem: in.OperatingSystem,
		Name:            in.Name,
		LoggingDriver:   in.LoggingDriver,
	}, nil
}

// DaemonHost is the address the client talks to ("unix:///var/run/docker.sock").
func (c *Client) DaemonHost() string { return c.api.DaemonHost() }

// BridgeGateway returns the host's address on Docker's default bridge
// network ("bridge", usually docker0 at 172.17.0.1): the address containers
// in bridge mode reach the host on. It takes the IPAM gateway when the daemon
// reports one, else the IPv4 address of the bridge interface
// (com.docker.network.bridge.name) when it exists on this host, else the
// first address of the subnet (Docker's own default).
func (c *Client) BridgeGateway(ctx context.Context) (netip.Addr, error) {
	res, err := c.api.NetworkInspect(ctx, "bridge", client.NetworkInspectOptions{})
	if err != nil {
		return netip.Addr{}, wrap("inspect network bridge", err)
	}
	nw := res.Network
	for _, cfg := range nw.IPAM.Config {
		if cfg.Gateway.IsValid() && cfg.Gateway.Is4() {
			return cfg.Gateway, nil
		}
	}
	if name := nw.Options["com.docker.network.bridge.name"]; name != "" {
		if a, ok := interfaceIPv4(name); ok {
			return a, nil
		}
	}
	for _, cfg := range nw.IPAM.Config {
		if cfg.Subnet.IsValid() && cfg.Subnet.Addr().Is4() {
			return cfg.Subnet.Masked().Addr().Next(), nil
		}
	}
	return netip.Addr{}, &Error{Op: "inspect network bridge", Class: ErrNotFound, Err: errors.New("no IPv4 gateway on the default bridge network")}
}

func interfaceIPv4(name string) (netip.Addr, bool) {
	ifc, err := net.InterfaceByName(name)
	if err != nil {
		return netip.Addr{}, false
	}
	addrs, err := ifc.Addrs()
	if err != nil {
		return netip.Addr{}, false
	}
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Is4() {
			return p.Addr(), true
		}
	}
	return netip.Addr{}, false
}

// Stats returns one Docker stats document of a running container, as the
// daemon sends it (GET /containers/{id}/stats). With previous, the daemon
// samples twice about a second apart and fills precpu_stats; without, it
// answers at once and precpu_stats is empty.
func (c *Client) Stats(ctx context.Context, id string, previous bool) (json.RawMessage, error) {
	res, err := c.api.ContainerStats(ctx, id, client.ContainerStatsOptions{IncludePreviousSample: previous})
	if err != nil {
		return nil, wrap("stats "+id, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, 4<<20))
	if err != nil {
		return nil, wrap("stats "+id, err)
	}
	raw = []byte(strings.TrimSpace(string(raw)))
	if !json.Valid(raw) {
		return nil, &Error{Op: "stats " + id, Err: fmt.Errorf("invalid JSON from the daemon")}
	}
	return raw, nil
}
