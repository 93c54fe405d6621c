package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/berth-project/berth/internal/testenv"
)

func TestRun_RejectsUnknownBenchmark(t *testing.T) {
	var out, errb bytes.Buffer
	for _, args := range [][]string{nil, {"registry"}, {"api", "-conn", "udp"}} {
		if err := run(context.Background(), args, func(string) string { return "" }, &out, &errb); err == nil {
			t.Errorf("run %q: no error", args)
		}
	}
}

// TestRun_APITable runs a short comparison and checks the table has a row
// per operation with numbers on both sides (inproc, with the stage table).
func TestRun_APITable(t *testing.T) {
	moto := testenv.RequireTool(t, "moto_server")
	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"api", "-n", "20", "-stages", "-moto", moto}, func(string) string { return "" }, &out, &errb)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, errb.String())
	}
	text := out.String()
	for _, want := range []string{"KV Get", "RegisterTaskDefinition as a NATS request"} {
		if !strings.Contains(text, want) {
			t.Errorf("no %q stage in:\n%s", want, text)
		}
	}
	for _, op := range []string{"RegisterTaskDefinition", "DescribeTaskDefinition"} {
		var row string
		for _, line := range strings.Split(text, "\n") {
			if strings.Contains(line, "|  "+op+"|") {
				row = line
			}
		}
		cells := strings.Split(row, "|")
		if len(cells) < 8 {
			t.Fatalf("no table row for %s in:\n%s", op, text)
		}
		// round, operation, Berth p50, Berth p99, moto p50, moto p99, msgs/call, load.
		for i := 2; i <= 6; i++ {
			if v := strings.TrimSpace(cells[i]); v == "" || v == "0.00" || v == "0.0" {
				t.Errorf("%s: cell %d is %q in %q", op, i, v, row)
			}
		}
	}
}
