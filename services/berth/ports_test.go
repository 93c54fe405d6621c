package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/natstest"
	"github.com/berth-project/berth/internal/testenv"
)

// TestBerth_PortInUse starts the binary with each of its ports taken in
// turn. Each start must end on its own, before the test's deadline (it takes
// well under a second; a busy NATS port used to wait 30 s), with a non-zero
// exit, an error naming the flag to change and no banner.
func TestBerth_PortInUse(t *testing.T) {
	t.Parallel()
	bin := buildBerth(t)
	flags := []string{"--api-addr", "--registry-addr", "--nats-addr", "--agent-introspection-addr", "--agent-metadata-addr"}
	for _, busy := range flags {
		t.Run(strings.TrimPrefix(busy, "--"), func(t *testing.T) {
			if strings.HasPrefix(busy, "--agent-") {
				requireDocker(t) // the agent's ports are bound only when there is a Docker engine
			}
			taken, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer taken.Close()
			args := []string{"--data", t.TempDir(), "--agent-owner", "berth-ports-test", "--account", testenv.Account}
			for _, f := range flags {
				addr := testenv.FreeAddr(t)
				if f == busy {
					addr = taken.Addr().String()
				}
				args = append(args, f, addr)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, args...)
			cmd.Env = append(os.Environ(), "BERTH_DATA=", "DOCKER_HOST=")
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			start := time.Now()
			err = cmd.Run()
			took := time.Since(start)
			if ctx.Err() != nil {
				t.Fatalf("berth did not exit by itself within 10s (killed: %v)\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
			}
			var exitErr *exec.ExitError
			if !errors.As(err, &exitErr) || exitErr.ExitCode() == 0 {
				t.Fatalf("exit: %v; want a non-zero exit code\nstderr:\n%s", err, stderr.String())
			}
			want := busy + " " + taken.Addr().String() + ": address already in use"
			if !strings.Contains(stderr.String(), want) {
				t.Errorf("stderr does not say %q:\n%s", want, stderr.String())
			}
			if strings.Contains(stdout.String()+stderr.String(), "Berth is running") {
				t.Errorf("banner printed:\n%s", stdout.String())
			}
			t.Logf("exit %d after %v: %s", exitErr.ExitCode(), took.Round(time.Millisecond), lastLine(stderr.String()))
		})
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// TestBerth_PortInUseInProcess is the same for run itself (the NATS port):
// run returns an error, before its context ends, and prints no banner.
func TestBerth_PortInUseInProcess(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var stdout, stderr testenv.SafeBuffer
	args := []string{"--data", t.TempDir(), "--no-agent", "--api-addr", testenv.FreeAddr(t),
		"--registry-addr", testenv.FreeAddr(t), "--nats-addr", taken.Addr().String()}
	err = run(ctx, args, func(string) string { return "" }, &stdout, &stderr)
	if ctx.Err() != nil {
		t.Fatalf("run returned %v only when its context ended", err)
	}
	if err == nil || !strings.Contains(err.Error(), "--nats-addr "+taken.Addr().String()+": address already in use") {
		t.Fatalf("run: %v; want the --nats-addr error", err)
	}
	if strings.Contains(stdout.String(), "Berth is running") {
		t.Fatalf("banner printed:\n%s", stdout.String())
	}
}

// berth --help exits 0 and starts with what Berth is, then lists the
// subcommands; berth version prints the version; a bad flag fails with the
// usage on stderr.
func TestBerth_HelpAndVersion(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}, {"--data", "x", "--help"}} {
		var out, errb testenv.SafeBuffer
		if err := run(t.Context(), args, func(string) string { return "" }, &out, &errb); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		first, _, _ := strings.Cut(out.String(), "\n")
		if !strings.HasPrefix(first, "Berth is a self-hosted, AWS-compatible container platform") {
			t.Errorf("%v: first line %q", args, first)
		}
		for _, want := range []string{"berth events", "berth version", "-api-addr", "-agent-owner"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("%v: usage lacks %q:\n%s", args, want, out.String())
			}
		}
	}
	var out, errb testenv.SafeBuffer
	if err := run(t.Context(), []string{"version"}, func(string) string { return "" }, &out, &errb); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "berth "+version) {
		t.Errorf("version: %q", out.String())
	}
	out, errb = testenv.SafeBuffer{}, testenv.SafeBuffer{}
	if err := run(t.Context(), []string{"events", "--help"}, func(string) string { return "" }, &out, &errb); err != nil {
		t.Errorf("events --help: %v", err)
	}
	out, errb = testenv.SafeBuffer{}, testenv.SafeBuffer{}
	if err := run(t.Context(), []string{"--bogus"}, func(string) string { return "" }, &out, &errb); err == nil || !strings.Contains(errb.String(), "Usage:") || out.String() != "" {
		t.Errorf("--bogus: %v\n%s", err, errb.String())
	}
}

// With port 0 everywhere, the banner shows the ports picked, and the API
// answers at the address it shows.
func TestBerth_BannerShowsBoundAddresses(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var stdout, stderr testenv.SafeBuffer
	args := []string{"--data", t.TempDir(), "--no-agent", "--api-addr", "127.0.0.1:0", "--registry-addr", "127.0.0.1:0", "--nats-addr", "127.0.0.1:0"}
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, func(string) string { return "" }, &stdout, &stderr) }()
	natstest.Eventually(t, 60*time.Second, 50*time.Millisecond, func() error {
		select {
		case err := <-done:
			t.Fatalf("run returned %v\n%s", err, stderr.String())
		default:
		}
		if !strings.Contains(stdout.String(), "Berth is running") {
			return errors.New("no banner yet")
		}
		return nil
	})
	banner := stdout.String()
	addrs := regexp.MustCompile(`(?m)^  (AWS APIs:             http://|OCI registry:         |NATS \(JetStream\):     nats://)(\S+)(?:  \(.*\))?$`).FindAllStringSubmatch(banner, -1)
	if len(addrs) != 3 {
		t.Fatalf("banner addresses: %q\n%s", addrs, banner)
	}
	for _, m := range addrs {
		if _, port, err := net.SplitHostPort(m[2]); err != nil || port == "0" || port == "4222" {
			t.Errorf("banner shows %q for %s", m[2], m[1])
		}
		c, err := net.Dial("tcp", m[2])
		if err != nil {
			t.Errorf("%s: %v", m[2], err)
			continue
		}
		c.Close()
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
}
