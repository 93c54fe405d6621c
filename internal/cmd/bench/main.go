package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "api" {
		fmt.Fprintln(stderr, "usage: bench api [-n calls] [-rounds r] [-conn inproc|tcp] [-moto path]")
		return fmt.Errorf("unknown or missing benchmark (want: api)")
	}
	return runAPI(ctx, args[1:], getenv, stdout, stderr)
}
