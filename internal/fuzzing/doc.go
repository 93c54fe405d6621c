// Package fuzzing runs the repository's fuzz targets for a bounded time as
// part of the ordinary test run, so that CI fuzzes every parser that takes
// user input (task definitions, the cluster query language, manifests,
// SigV4 headers, ARNs, image references, ...) on every change.
//
// Each target lives next to the code it fuzzes (FuzzX in a _fuzz_test.go
// file) with its seed corpus in the test and, for inputs that once failed,
// in that package's testdata/fuzz/FuzzX folder, where `go test -fuzz`
// writes them. The list of targets is in fuzzing_test.go; the time per
// target is BERTH_FUZZTIME (default 20000x, a count of executions). `go test -short` skips the runs
// (the seed corpora still run as ordinary tests in their packages).
package fuzzing
