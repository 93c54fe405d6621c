package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"

	"github.com/berth-project/berth/internal/svc"
)

// listeners are the all-in-one's HTTP listeners. They are bound before
// anything else starts, so that a busy port stops Berth at once with an
// error naming the flag to change, and the banner only ever follows a
// complete start. Components take them over; close releases those never
// handed over (closing a served listener again is harmless).
type listeners struct {
	api, registry           net.Listener
	introspection, metadata net.Listener // nil without a local agent or when off
	// tls is what the HTTP front doors serve HTTPS with (nil: HTTP).
	tls *tls.Config
}

// bindFront binds the API and registry listeners.
func bindFront(c config) (*listeners, error) {
	ls := &listeners{}
	var err error
	if ls.tls, err = svc.HTTPTLS(c.HTTPTLS); err != nil {
		return nil, err
	}
	if ls.api, err = listenFlag("--api-addr", c.APIAddr); err != nil {
		return nil, err
	}
	if ls.registry, err = listenFlag("--registry-addr", c.RegistryAddr); err != nil {
		ls.close()
		return nil, err
	}
	return ls, nil
}

// bindAgent binds the local agent's introspection and task metadata
// listeners (each unless "off").
func (ls *listeners) bindAgent(c config) error {
	var err error
	if !isOff(c.AgentIntrospectionAddr) {
		if ls.introspection, err = listenFlag("--agent-introspection-addr", c.AgentIntrospectionAddr); err != nil {
			return err
		}
	}
	if !isOff(c.AgentMetadataAddr) {
		if ls.metadata, err = listenFlag("--agent-metadata-addr", c.AgentMetadataAddr); err != nil {
			return err
		}
	}
	return nil
}

func (ls *listeners) close() {
	for _, l := range []net.Listener{ls.api, ls.registry, ls.introspection, ls.metadata} {
		if l != nil {
			_ = l.Close()
		}
	}
}

func isOff(addr string) bool { return strings.EqualFold(addr, "off") }

// listenFlag listens on addr, the value of flag.
func listenFlag(flag, addr string) (net.Listener, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, addrError(flag, addr, err)
	}
	return l, nil
}

// addrError names the flag whose address could not be bound, for instance
// "--api-addr 127.0.0.1:4566: address already in use (...)".
func addrError(flag, addr string, err error) error {
	if isAddrInUse(err) {
		return fmt.Errorf("%s %s: %w (another program listens there: stop it, or choose another address with %s)", flag, addr, syscall.EADDRINUSE, flag)
	}
	return fmt.Errorf("%s %s: %w", flag, addr, err)
}

func isAddrInUse(err error) bool { return errors.Is(err, syscall.EADDRINUSE) }
