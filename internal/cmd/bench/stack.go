package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/accesskeys"
	"github.com/berth-project/berth/services/gateway/gateway"
	"github.com/berth-project/berth/services/taskdefs/taskdefs"
)

const (
	region  = "us-east-1"
	account = "123456789012"
)

// stack is a running in-process Berth: NATS, gateway, taskdefs.
type stack struct {
	endpoint string
	key      events.AccessKey
	// svcNC is the taskdefs service's connection: its OutMsgs count the
	// service's JetStream requests plus its replies.
	svcNC *nats.Conn
	stop  func()
}

// startBerth starts the stack with its JetStream store under dir. inproc
// connects every service in-process (as the all-in-one does); otherwise over
// loopback TCP.
func startBerth(ctx context.Context, dir string, inproc bool) (*stack, error) {
	opts := &server.Options{
		ServerName: "berth-bench", Host: "127.0.0.1", Port: server.RANDOM_PORT,
		JetStream: true, StoreDir: dir, JetStreamMaxMemory: 256 << 20,
		MaxPayload: 8 << 20, NoLog: true, NoSigs: true,
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("nats server: %w", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		return nil, errors.New("nats server not ready")
	}
	ctx, cancel := context.WithCancel(ctx)
	var conns []*nats.Conn
	done := make(chan error, 2)
	st := &stack{stop: func() {
		cancel()
		for range 2 {
			<-done
		}
		for _, nc := range conns {
			nc.Close()
		}
		s.Shutdown()
		s.WaitForShutdown()
	}}
	connect := func(name string) (*nats.Conn, jetstream.JetStream, error) {
		o := []nats.Option{nats.Name(name)}
		url := s.ClientURL()
		if inproc {
			o, url = append(o, nats.InProcessServer(s)), ""
		}
		nc, err := nats.Connect(url, o...)
		if err != nil {
			return nil, nil, err
		}
		conns = append(conns, nc)
		js, err := jetstream.New(nc)
		return nc, js, err
	}
	fail := func(err error) (*stack, error) {
		cancel()
		for _, nc := range conns {
			nc.Close()
		}
		s.Shutdown()
		return nil, err
	}
	gwNC, gwJS, err := connect("gateway")
	if err != nil {
		return fail(err)
	}
	if st.key, _, err = accesskeys.Bootstrap(ctx, gwJS, 1); err != nil {
		return fail(err)
	}
	keys, err := accesskeys.Watch(ctx, gwJS, 1, nil)
	if err != nil {
		return fail(err)
	}
	gw, err := gateway.New(gateway.Config{Keys: keys, Region: region}, gwNC)
	if err != nil {
		return fail(err)
	}
	tdNC, tdJS, err := connect("taskdefs")
	if err != nil {
		return fail(err)
	}
	st.svcNC = tdNC
	td, err := taskdefs.New(taskdefs.Config{Region: region, Account: account, Replicas: 1}, tdNC, tdJS)
	if err != nil {
		return fail(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(err)
	}
	st.endpoint = "http://" + l.Addr().String()
	go func() { done <- gw.Serve(ctx, l) }()
	go func() { done <- td.Run(ctx) }()
	for start := time.Now(); ; {
		if _, err := gwNC.Request("$SRV.PING."+events.ServiceTaskDefs, nil, time.Second); err == nil {
			break
		}
		if time.Since(start) > 30*time.Second {
			st.stop()
			return nil, errors.New("taskdefs did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return st, nil
}

// startMoto runs moto_server on a free loopback port and returns its
// endpoint and a stop function.
func startMoto(ctx context.Context, bin string) (string, func(), error) {
	path, err := exec.LookPath(bin)
	if err != nil {
		return "", nil, fmt.Errorf("moto_server not found (pip install 'moto[server]'): %w", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	addr := l.Addr().String()
	_, port, _ := net.SplitHostPort(addr)
	_ = l.Close()
	cmd := exec.CommandContext(ctx, path, "-H", "127.0.0.1", "-p", port)
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("start moto_server: %w", err)
	}
	stop := func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
	for start := time.Now(); ; {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.Close()
			return "http://" + addr, stop, nil
		}
		if time.Since(start) > 30*time.Second {
			stop()
			return "", nil, fmt.Errorf("moto_server did not listen on %s: %w", addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
