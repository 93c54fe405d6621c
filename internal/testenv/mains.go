package testenv

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/natstest"
)

// MainFunc is the run function of a service main.
type MainFunc func(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error

// RunMain runs a standalone service main against a fresh NATS server until
// the micro service named service answers its PING, then cancels it and
// checks that it returns nil. env holds the environment the main sees
// (BERTH_NATS_URL is filled in).
func RunMain(t *testing.T, run MainFunc, service string, env map[string]string) {
	t.Helper()
	s := natstest.Start(t)
	nc := natstest.Connect(t, s)
	vars := map[string]string{"BERTH_NATS_URL": s.ClientURL(), "BERTH_NATS_CREDS": natstest.ContextFile(t, s.ClientURL(), service),
		"BERTH_ACCOUNT": Account, "BERTH_REGION": Region}
	for k, v := range env {
		vars[k] = v
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	var logs SafeBuffer
	go func() { done <- run(ctx, nil, func(k string) string { return vars[k] }, &logs) }()
	natstest.Eventually(t, 20*time.Second, 50*time.Millisecond, func() error {
		_, err := nc.Request("$SRV.PING."+service, nil, time.Second)
		if err != nil {
			return fmt.Errorf("%w\n%s", err, logs.String())
		}
		return nil
	})
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s: run: %v\n%s", service, err, logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not stop", service)
	}
}

// SafeBuffer is a bytes.Buffer safe for concurrent writers.
type SafeBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SafeBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what was written so far.
func (b *SafeBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// MainProc is a service main a test runs in its own goroutine.
type MainProc struct {
	name   string
	cancel context.CancelFunc
	done   chan error
	Logs   *SafeBuffer
}

// StartMain runs a service main with args and the environment env until
// Stop (or the end of the test).
func StartMain(t testing.TB, name string, run MainFunc, args []string, env map[string]string) *MainProc {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	p := &MainProc{name: name, cancel: cancel, done: make(chan error, 1), Logs: &SafeBuffer{}}
	go func() { p.done <- run(ctx, args, func(k string) string { return env[k] }, p.Logs) }()
	t.Cleanup(cancel)
	return p
}

// Running fails the test if the main has returned (for use while waiting
// for it to serve).
func (p *MainProc) Running(t testing.TB) {
	t.Helper()
	select {
	case err := <-p.done:
		t.Fatalf("%s exited: %v\n%s", p.name, err, p.Logs.String())
	default:
	}
}

// Stop cancels the main and wants it to return nil within 30 s.
func (p *MainProc) Stop(t testing.TB) {
	t.Helper()
	p.cancel()
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("%s: run: %v\n%s", p.name, err, p.Logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not stop", p.name)
	}
}
