package engine

import (
	"flag"
	"os"
	"testing"
)

// TestMain raises test parallelism (unless -test.parallel is given): the
// Docker tests spend their time waiting on the daemon, not on CPU, and the
// default (GOMAXPROCS) serialises them on small machines.
func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		_ = flag.Set("test.parallel", "16")
	}
	os.Exit(m.Run())
}
