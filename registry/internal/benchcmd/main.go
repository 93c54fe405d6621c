package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchcmd:", err)
		os.Exit(1)
	}
}

// benchmarks are the registry package's side-by-side benchmarks.
const benchmarks = "^(BenchmarkColdBlobGet|BenchmarkWarmBlobGet|BenchmarkRegistryVsDockerRegistry)$"

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("benchcmd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	benchtime := fs.String("benchtime", "3x", "go test -benchtime")
	filter := fs.String("run", benchmarks, "go test -bench pattern")
	pkg := fs.String("pkg", "./registry", "the registry package")
	if err := fs.Parse(args); err != nil {
		return err
	}
	gobin := getenv("GO")
	if gobin == "" {
		gobin = "go"
	}
	cmd := exec.CommandContext(ctx, gobin, "test", *pkg, "-run", "^$", "-bench", *filter, "-benchtime", *benchtime)
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("go test: %w", err)
	}
	// Echo the raw lines as they come (the run takes minutes), keep the
	// results for the table.
	results, perr := parse(io.TeeReader(out, stderr))
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("go test: %w", err)
	}
	if perr != nil {
		return perr
	}
	return writeTable(stdout, results)
}

// result is one benchmark line: a workload run against one target.
type result struct {
	Workload string  // e.g. ColdBlobGet/1x128MiB, RegistryVsDockerRegistry/push/layer100MiB
	Target   string  // berth, berth-cache, berth-nocache, docker-registry
	MiBps    float64 // throughput
	CPU      float64 // CPU ms per MiB (client and server), 0 if not reported
}

// parse reads `go test -bench` output, e.g.
//
//	BenchmarkColdBlobGet/berth-nocache/1x128MiB-2   3   211.7 MiB/s   1.576 cpu-ms/MiB
func parse(r io.Reader) ([]result, error) {
	var out []result
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		name := strings.TrimPrefix(f[0], "Benchmark")
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i] // the GOMAXPROCS suffix
			}
		}
		parts := strings.Split(name, "/")
		if len(parts) < 3 {
			continue // e.g. the sha256 reference
		}
		res := result{Workload: parts[0] + "/" + strings.Join(parts[2:], "/"), Target: parts[1]}
		for i := 2; i+1 < len(f); i++ {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			switch f[i+1] {
			case "MiB/s":
				res.MiBps = v
			case "cpu-ms/MiB":
				res.CPU = v
			}
		}
		if res.MiBps > 0 {
			out = append(out, res)
		}
	}
	return out, sc.Err()
}

// writeTable prints one row per workload: each target's MiB/s (and CPU
// ms/MiB), and each Berth target's ratio to docker-registry.
func writeTable(w io.Writer, results []result) error {
	var workloads, targets []string
	by := map[string]map[string]result{}
	for _, r := range results {
		if by[r.Workload] == nil {
			by[r.Workload] = map[string]result{}
			workloads = append(workloads, r.Workload)
		}
		if !contains(targets, r.Target) {
			targets = append(targets, r.Target)
		}
		by[r.Workload][r.Target] = r
	}
	sort.SliceStable(targets, func(i, j int) bool { return targets[j] == "docker-registry" && targets[i] != "docker-registry" })
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprint(tw, "workload")
	for _, t := range targets {
		fmt.Fprintf(tw, "\t%s MiB/s (cpu-ms/MiB)", t)
	}
	for _, t := range targets {
		if t != "docker-registry" {
			fmt.Fprintf(tw, "\t%s / docker-registry", t)
		}
	}
	fmt.Fprintln(tw)
	for _, wl := range workloads {
		fmt.Fprint(tw, wl)
		for _, t := range targets {
			if r, ok := by[wl][t]; ok {
				fmt.Fprintf(tw, "\t%.0f (%.2f)", r.MiBps, r.CPU)
			} else {
				fmt.Fprint(tw, "\t-")
			}
		}
		peer, ok := by[wl]["docker-registry"]
		for _, t := range targets {
			if t == "docker-registry" {
				continue
			}
			if r, mine := by[wl][t]; ok && mine && peer.MiBps > 0 {
				fmt.Fprintf(tw, "\t%.2fx", r.MiBps/peer.MiBps)
			} else {
				fmt.Fprint(tw, "\t-")
			}
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
