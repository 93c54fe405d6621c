package fuzzing

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// targets are the fuzz targets run for a bounded time: package (relative
// to the repository root) and target name.
var targets = []struct{ pkg, name string }{
	{"./events", "FuzzParseARN"},
	{"./scheduler", "FuzzParse"},
	{"./registry", "FuzzParseManifest"},
	{"./services/gateway/gateway", "FuzzAuthorization"},
	{"./services/agent/agent", "FuzzImageHost"},
	{"./services/taskdefs/taskdefs", "FuzzRegisterTaskDefinition"},
	{"./registry", "FuzzCheckToken"},
	{"./internal/callerauth", "FuzzVerify"},
}

// TestFuzzTargets fuzzes each target for BERTH_FUZZTIME (default 20000
// executions; a count rather than a duration, because a -fuzztime deadline
// can end Go's fuzzing engine with a spurious "context deadline exceeded").
// A failure leaves the failing input in the package's testdata/fuzz folder
// and prints how to replay it.
func TestFuzzTargets(t *testing.T) {
	if testing.Short() {
		t.Skip("fuzzing skipped with -short")
	}
	fuzztime := os.Getenv("BERTH_FUZZTIME")
	if fuzztime == "" {
		fuzztime = "20000x"
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	for _, tc := range targets {
		t.Run(tc.name, func(t *testing.T) {
			// -parallel 1: the machine's cores are shared with the rest of
			// the test run; the run is bounded by -fuzztime.
			cmd := exec.Command(gobin, "test", "-timeout", "10m", "-run", "^$", "-fuzz", "^"+tc.name+"$", "-fuzztime", fuzztime, "-parallel", "1", tc.pkg)
			cmd.Dir = root
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Run(); err != nil {
				t.Fatalf("go test -fuzz %s %s: %v\n%s", tc.name, tc.pkg, err, out.String())
			}
		})
	}
}
