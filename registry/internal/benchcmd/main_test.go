package main

import (
	"bytes"
	"strings"
	"testing"
)

const sample = `goos: linux
BenchmarkColdBlobGet/berth-nocache/1x128MiB-2         	       3	       211.7 MiB/s	         1.576 cpu-ms/MiB
BenchmarkColdBlobGet/docker-registry/1x128MiB-2       	       3	      1085 MiB/s	         0.8958 cpu-ms/MiB
BenchmarkRegistryVsDockerRegistry/berth/push/layer100MiB-2  3  150.0 MiB/s  6.1 cpu-ms/MiB  0 ns/op
BenchmarkRegistryVsDockerRegistry/sha256-2   100   300.0 MiB/s
PASS
`

func TestParseAndTable(t *testing.T) {
	res, err := parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 3 || res[0] != (result{Workload: "ColdBlobGet/1x128MiB", Target: "berth-nocache", MiBps: 211.7, CPU: 1.576}) ||
		res[2].Workload != "RegistryVsDockerRegistry/push/layer100MiB" || res[2].Target != "berth" {
		t.Fatalf("parsed %+v", res)
	}
	var out bytes.Buffer
	if err := writeTable(&out, res); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || !strings.Contains(lines[1], "0.20x") || !strings.Contains(lines[1], "1085 (0.90)") ||
		!strings.HasSuffix(strings.TrimSpace(lines[2]), "-") {
		t.Fatalf("table:\n%s", out.String())
	}
}
