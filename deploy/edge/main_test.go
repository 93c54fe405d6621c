package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/natstest"
	"github.com/berth-project/berth/internal/testenv"
)

func TestRun_BadArguments(t *testing.T) {
	for _, args := range [][]string{nil, {"--route", "x"}, {"--route", "127.0.0.1:0=nohostport"}, {"--route", "127.0.0.1:0=a:1", "extra"}} {
		if err := run(t.Context(), args, func(string) string { return "" }, io.Discard); err == nil {
			t.Errorf("%v: want an error", args)
		}
	}
}

// A connection to the listen address reaches the target and comes back.
func TestRun_Forwards(t *testing.T) {
	back, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer back.Close()
	go func() {
		for {
			c, err := back.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				line, _ := bufio.NewReader(c).ReadString('\n')
				fmt.Fprintf(c, "echo %s", line)
			}()
		}
	}()
	_, port, _ := net.SplitHostPort(back.Addr().String())
	listen := testenv.FreeAddr(t)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--route", listen + "=localhost:" + port}, func(string) string { return "" }, io.Discard)
	}()
	var reply string
	natstest.Eventually(t, 5*time.Second, 20*time.Millisecond, func() error {
		c, err := net.Dial("tcp", listen)
		if err != nil {
			return err
		}
		defer c.Close()
		fmt.Fprintf(c, "hello\n")
		b, err := io.ReadAll(c)
		reply = string(b)
		return err
	})
	if reply != "echo hello\n" {
		t.Errorf("reply %q", reply)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
