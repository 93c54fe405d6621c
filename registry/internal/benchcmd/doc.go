// Command benchcmd runs the registry's side-by-side benchmarks (Berth's
// registry and Debian's docker-registry in one run: cold and warm blob
// GETs with Berth's part cache off and on, 1 and 8 readers; push and pull of a 100
// MiB layer and of a 50-layer image with go-containerregistry) and prints
// a table of MiB/s, CPU time per MiB and the ratio to docker-registry.
//
// From the repository root:
//
//	go run ./registry/internal/benchcmd [-benchtime 3x] [-run regexp]
//
// It runs `go test -bench` on the registry package (the benchmarks live in
// its tests) and reads the results from its output. Berth runs in a
// process of its own, as docker-registry does (BERTH_BENCH_INPROC=1: in
// the benchmark's process).
package main
