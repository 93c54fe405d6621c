package agent

import (
	"flag"
	"os"
	"testing"
)

// TestMain raises test parallelism (the Docker tests wait on the daemon,
// not on CPU) and removes the agent binary built by the restart test.
func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		_ = flag.Set("test.parallel", "16")
	}
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}
