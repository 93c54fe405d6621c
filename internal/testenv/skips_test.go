package testenv

import (
	"bufio"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// skipCall is a call that skips a test or benchmark.
var skipCall = regexp.MustCompile(`\b[tb]\.Skip(f|Now)?\(`)

// TestNoSilentSkips reads every Go file of the repository: each skip must
// follow, within the few lines before it, a check of Required() (so that
// under CI=true a missing tool fails the test instead), of testing.Short(),
// or of BERTH_BENCH (benchmark tests that run only when asked for).
func TestNoSilentSkips(t *testing.T) {
	root := filepath.Join("..", "..")
	var found int
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && path != root || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		var recent []string
		sc := bufio.NewScanner(f)
		for n := 1; sc.Scan(); n++ {
			line := sc.Text()
			if skipCall.MatchString(line) && !strings.HasPrefix(strings.TrimSpace(line), "//") {
				found++
				window := strings.Join(recent, "\n")
				if !allowedSkip(window) {
					t.Errorf("%s:%d: a skip with no Required(), testing.Short() or BERTH_BENCH check before it: %s", path, n, strings.TrimSpace(line))
				}
			}
			recent = append(recent, line)
			if len(recent) > 6 {
				recent = recent[1:]
			}
		}
		return sc.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	if found == 0 {
		t.Fatal("found no skips at all: is the repository root right?")
	}
}

// allowedSkip reports whether the lines before a skip check what makes it
// legitimate.
func allowedSkip(window string) bool {
	for _, check := range []string{"Required()", "required()", "testing.Short()", "BERTH_BENCH"} {
		if strings.Contains(window, check) {
			return true
		}
	}
	return false
}
