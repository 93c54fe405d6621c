package engine

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-project/berth/events/ecsapi"
	"github.com/berth-project/berth/services/agent/docker"
)

// With the default pull behavior the engine pulls every time, unless
// ResolveDigest says the registry serves the digest the local image already
// has: then the pull (a no-op) is skipped. Any doubt means a pull.
func TestEngineFake_DefaultPullSkippedWhenDigestMatches(t *testing.T) {
	t.Parallel()
	local := "sha256:" + strings.Repeat("a", 64)
	other := "sha256:" + strings.Repeat("b", 64)
	for _, tc := range []struct {
		name      string
		behavior  docker.PullBehavior
		resolved  string
		err       error
		wantPulls int
		wantAsked bool
	}{
		{"same digest", docker.PullDefault, local, nil, 0, true},
		{"newer digest in the registry", docker.PullDefault, other, nil, 1, true},
		{"registry cannot tell", docker.PullDefault, "", nil, 1, true},
		{"resolve error", docker.PullDefault, "", errors.New("no registry"), 1, true},
		{"always", docker.PullAlways, local, nil, 1, false},
		{"prefer-cached", docker.PullPreferCached, local, nil, 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h, f := newFakeHarness(t)
			f.digests = map[string][]string{"img": {"docker.io/library/img@" + local}}
			var asked atomic.Int32
			cfg := h.config()
			cfg.PullBehavior = tc.behavior
			cfg.ResolveDigest = func(_ context.Context, image string) (string, error) {
				asked.Add(1)
				if image != "img" {
					t.Errorf("ResolveDigest(%q)", image)
				}
				return tc.resolved, tc.err
			}
			e, _ := h.start(cfg)
			task := h.task("t", ecsapi.ContainerDefinition{Name: "app"})
			if err := e.Upsert(t.Context(), task); err != nil {
				t.Fatal(err)
			}
			r := h.waitStatus(task.ARN, 5*time.Second, TaskRunning)
			if got := f.ensureCalls(); got != tc.wantPulls {
				t.Errorf("%d EnsureImage calls, want %d", got, tc.wantPulls)
			}
			if got := asked.Load() > 0; got != tc.wantAsked {
				t.Errorf("ResolveDigest asked: %v, want %v", got, tc.wantAsked)
			}
			app, _ := r.Container("app")
			if tc.wantPulls == 0 && app.ImageDigest != local {
				t.Errorf("image digest %q, want %q", app.ImageDigest, local)
			}
			if r.PullStartedAt.IsZero() || r.PullStoppedAt.IsZero() {
				t.Errorf("pull timestamps missing: %v %v", r.PullStartedAt, r.PullStoppedAt)
			}
		})
	}
}
