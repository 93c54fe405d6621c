package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berth-project/berth/internal/svc"
)

func main() { svc.Exec("edge", run) }

// route is one listen address and the host:port it forwards to.
type route struct{ listen, target string }

type routes []route

func (r *routes) String() string { return fmt.Sprint(*r) }

func (r *routes) Set(v string) error {
	l, t, ok := strings.Cut(v, "=")
	if !ok || l == "" || t == "" {
		return fmt.Errorf("%q: want listen=host:port", v)
	}
	if _, _, err := net.SplitHostPort(t); err != nil {
		return fmt.Errorf("%q: %w", v, err)
	}
	*r = append(*r, route{l, t})
	return nil
}

func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	var rs routes
	var level string
	fs := flag.NewFlagSet("edge", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Var(&rs, "route", "listen=host:port, repeatable: accept on listen, forward to every address host resolves to")
	svc.String(fs, getenv, &level, "log-level", "BERTH_LOG_LEVEL", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if len(rs) == 0 || fs.NArg() > 0 {
		return errors.New("want one or more --route listen=host:port and no arguments")
	}
	log := svc.NewLogger(stderr, level, "edge")
	var lns []net.Listener
	for _, r := range rs {
		ln, err := net.Listen("tcp", r.listen)
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return err
		}
		lns = append(lns, ln)
	}
	var wg sync.WaitGroup
	for i, ln := range lns {
		p := &proxy{target: rs[i].target, log: log}
		wg.Go(func() { p.serve(ctx, ln) })
		log.Info("forwarding", "listen", ln.Addr().String(), "target", rs[i].target)
	}
	<-ctx.Done()
	for _, ln := range lns {
		ln.Close()
	}
	wg.Wait()
	return nil
}

// proxy forwards the connections of one listener.
type proxy struct {
	target string
	next   atomic.Uint64
	log    *slog.Logger
}

func (p *proxy) serve(ctx context.Context, ln net.Listener) {
	var conns sync.WaitGroup
	defer conns.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		conns.Go(func() { p.forward(ctx, c) })
	}
}

// forward dials the target's addresses round-robin, from the next one on,
// and pipes c to the first that accepts.
func (p *proxy) forward(ctx context.Context, c net.Conn) {
	defer c.Close()
	up, err := p.dial(ctx)
	if err != nil {
		p.log.Warn("no upstream", "target", p.target, "err", err)
		return
	}
	defer up.Close()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go pipe(up, c)
	go pipe(c, up)
	select {
	case <-done:
		<-done
	case <-ctx.Done():
	}
}

func (p *proxy) dial(ctx context.Context) (net.Conn, error) {
	host, port, _ := net.SplitHostPort(p.target)
	addrs, err := net.DefaultResolver.LookupHost(ctx, host)
	if err != nil {
		return nil, err
	}
	start := int(p.next.Add(1))
	d := net.Dialer{Timeout: 2 * time.Second}
	for i := range addrs {
		a := net.JoinHostPort(addrs[(start+i)%len(addrs)], port)
		c, e := d.DialContext(ctx, "tcp", a)
		if e == nil {
			return c, nil
		}
		err = errors.Join(err, e)
	}
	return nil, fmt.Errorf("%s: %w", p.target, err)
}
