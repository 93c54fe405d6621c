package main

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// startNATS runs the embedded NATS server with JetStream file storage under
// data/nats.
func startNATS(c config) (*server.Server, error) {
	host, portStr, _ := net.SplitHostPort(c.NATSAddr)
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("--nats-addr: %w", err)
	}
	opts := &server.Options{
		ServerName:            "berth",
		Host:                  host,
		Port:                  port,
		JetStream:             true,
		StoreDir:              filepath.Join(c.Data, "nats"),
		JetStreamMaxMemory:    int64(c.MaxMemory) << 20,
		MaxPayload:            8 << 20,
		StreamMaxBufferedSize: 1 << 30,
		NoSigs:                true,
		NoLog:                 true,
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("nats server: %w", err)
	}
	go s.Start()
	if !s.ReadyForConnections(30 * time.Second) {
		s.Shutdown()
		return nil, errors.New("nats server: not ready after 30s (is --nats-addr already in use?)")
	}
	if !s.JetStreamEnabled() {
		s.Shutdown()
		return nil, fmt.Errorf("nats server: JetStream did not start (check %s)", opts.StoreDir)
	}
	return s, nil
}
