package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/berth-project/berth/services/agent/docker"
	"github.com/berth-project/berth/services/agent/docker/dockertest"
)

// fakeRuntime is an in-memory docker.Runtime. Containers run until the test
// makes them exit (exit) or the engine stops them. State changes emit events
// unless quiet is set.
type fakeRuntime struct {
	mu         sync.Mutex
	images     map[string]bool
	ctrs       map[string]*fakeCtr // by ID
	next       int
	events     chan docker.Event
	quiet      bool                // drop events (simulates a broken stream)
	startErr   map[string]error    // by ECS container name
	createErr  map[string]error    // by ECS container name
	stopErrs   int                 // fail this many StopContainer calls
	stopExit   int                 // exit code when stopped
	creates    int                 // CreateContainer calls that succeeded
	stopCalls  []string            // ECS container names, in stop order
	volumesRmd map[string]bool     // task ARNs whose volumes were removed
	extra      map[string]string   // labels added to every container (tests)
	pullFresh  bool                // EnsureImage reports a real pull
	rmImages   []string            // RemoveImage calls that succeeded
	ensures    int                 // EnsureImage and PullImage calls
	digests    map[string][]string // RepoDigests of local images, by reference
	inspects   map[string]int      // InspectContainer calls, by ECS container name
}

type fakeCtr struct {
	docker.Container
}

func newFake() *fakeRuntime {
	return &fakeRuntime{
		images: map[string]bool{"img": true}, ctrs: map[string]*fakeCtr{},
		events: make(chan docker.Event, 256), startErr: map[string]error{}, createErr: map[string]error{},
		stopExit: 143, volumesRmd: map[string]bool{}, inspects: map[string]int{},
	}
}

var _ docker.Runtime = (*fakeRuntime)(nil)

func (f *fakeRuntime) emit(c *fakeCtr, action string, exit *int) {
	if f.quiet {
		return
	}
	f.events <- docker.Event{Action: action, ContainerID: c.ID, Labels: maps.Clone(c.Labels), ExitCode: exit, Time: time.Now()}
}

func (f *fakeRuntime) Ping(context.Context) error { return nil }

func (f *fakeRuntime) EnsureImage(_ context.Context, ref string, _ *docker.RegistryAuth, _ docker.PullBehavior) (docker.Image, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ensures++
	return f.imageLocked(ref, f.pullFresh)
}

func (f *fakeRuntime) imageLocked(ref string, pulled bool) (docker.Image, error) {
	if !f.images[ref] {
		return docker.Image{}, &docker.Error{Op: "pull " + ref, Class: docker.ErrNotFound, Err: errors.New("manifest unknown")}
	}
	return docker.Image{Ref: ref, ID: "sha256:" + ref, Pulled: pulled, RepoDigests: f.digests[ref]}, nil
}

func (f *fakeRuntime) PullImage(ctx context.Context, ref string, a *docker.RegistryAuth) (docker.Image, error) {
	return f.EnsureImage(ctx, ref, a, docker.PullAlways)
}

func (f *fakeRuntime) InspectImage(_ context.Context, ref string) (docker.Image, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.imageLocked(ref, false)
}

func (f *fakeRuntime) ensureCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ensures
}

func (f *fakeRuntime) RemoveImage(_ context.Context, ref string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.ctrs {
		if c.Image == ref {
			return &docker.Error{Op: "remove image", Class: docker.ErrConflict, Err: errors.New("image is in use")}
		}
	}
	f.rmImages = append(f.rmImages, ref)
	return nil
}

func (f *fakeRuntime) removedImages() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.rmImages)
}

func (f *fakeRuntime) CreateContainer(_ context.Context, spec docker.ContainerSpec) (string, error) {
	cc, err := docker.Translate(spec)
	if err != nil {
		return "", err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.createErr[spec.Definition.Name]; err != nil {
		return "", &docker.Error{Op: "create", Err: err}
	}
	for _, c := range f.ctrs {
		if c.Name == cc.Name {
			return "", &docker.Error{Op: "create", Class: docker.ErrConflict, Err: errors.New("name in use")}
		}
	}
	f.next++
	f.creates++
	id := fmt.Sprintf("c%04d", f.next)
	labels := maps.Clone(cc.Config.Labels)
	maps.Copy(labels, f.extra)
	f.ctrs[id] = &fakeCtr{docker.Container{ID: id, Name: cc.Name, Image: cc.Config.Image, Labels: labels, Status: "created", StopTimeout: cc.Config.StopTimeout,
		Env: cc.Config.Env, Memory: cc.HostConfig.Memory}}
	return id, nil
}

func (f *fakeRuntime) find(id string) *fakeCtr {
	if c := f.ctrs[id]; c != nil {
		return c
	}
	for _, c := range f.ctrs {
		if c.Name == id {
			return c
		}
	}
	return nil
}

func notFound(id string) error {
	return &docker.Error{Op: "inspect " + id, Class: docker.ErrNotFound, Err: errors.New("no such container")}
}

func (f *fakeRuntime) StartContainer(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.find(id)
	if c == nil {
		return notFound(id)
	}
	if err := f.startErr[c.Labels[docker.LabelContainerName]]; err != nil {
		return &docker.Error{Op: "start", Err: err}
	}
	c.Status, c.Running, c.StartedAt = "running", true, time.Now()
	f.emit(c, docker.ActionStart, nil)
	return nil
}

// exit makes a running container exit with code (as if its process ended).
func (f *fakeRuntime) exit(name string, code int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.ctrs {
		if c.Labels[docker.LabelContainerName] == name && c.Running {
			c.Status, c.Running, c.ExitCode, c.FinishedAt = "exited", false, code, time.Now()
			f.emit(c, docker.ActionDie, &code)
		}
	}
}

// setHealth sets the Docker health of the named containers.
func (f *fakeRuntime) setHealth(name, health string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.ctrs {
		if c.Labels[docker.LabelContainerName] == name {
			c.Health = health
			if !f.quiet {
				f.events <- docker.Event{Action: docker.ActionHealthStatus, Health: health, ContainerID: c.ID, Labels: maps.Clone(c.Labels)}
			}
		}
	}
}

func (f *fakeRuntime) StopContainer(_ context.Context, id string, _ time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.find(id)
	if c == nil {
		return notFound(id)
	}
	if f.stopErrs > 0 {
		f.stopErrs--
		return &docker.Error{Op: "stop", Err: errors.New("daemon busy")}
	}
	f.stopCalls = append(f.stopCalls, c.Labels[docker.LabelContainerName])
	if c.Running {
		code := f.stopExit
		c.Status, c.Running, c.ExitCode, c.FinishedAt = "exited", false, code, time.Now()
		f.emit(c, docker.ActionDie, &code)
	}
	return nil
}

func (f *fakeRuntime) RemoveContainer(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c := f.find(id); c != nil {
		delete(f.ctrs, c.ID)
	}
	return nil
}

func (f *fakeRuntime) InspectContainer(_ context.Context, id string) (docker.Container, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.find(id)
	if c == nil {
		return docker.Container{}, notFound(id)
	}
	f.inspects[c.Labels[docker.LabelContainerName]]++
	out := c.Container
	out.Labels = maps.Clone(c.Labels)
	return out, nil
}

func (f *fakeRuntime) ListContainers(_ context.Context, labels map[string]string) ([]docker.ContainerSummary, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []docker.ContainerSummary
next:
	for _, c := range f.ctrs {
		for k, v := range labels {
			if got, ok := c.Labels[k]; !ok || (v != "" && got != v) {
				continue next
			}
		}
		out = append(out, docker.ContainerSummary{ID: c.ID, Name: c.Name, Image: c.Image, Labels: maps.Clone(c.Labels), State: c.Status})
	}
	return out, nil
}

func (f *fakeRuntime) RemoveTaskVolumes(_ context.Context, arn string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.volumesRmd[arn] = true
	return nil
}

func (f *fakeRuntime) Events(ctx context.Context, _ map[string]string) <-chan docker.Event {
	out := make(chan docker.Event)
	go func() {
		defer close(out)
		for {
			select {
			case ev := <-f.events:
				select {
				case out <- ev:
				case <-ctx.Done():
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

func (f *fakeRuntime) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.creates
}

func (f *fakeRuntime) status(name string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.ctrs {
		if c.Labels[docker.LabelContainerName] == name {
			return c.Status + "/" + strconv.Itoa(c.ExitCode)
		}
	}
	return "absent"
}

// waitImageCycles waits until e has run n more image cleanup cycles.
func waitImageCycles(t *testing.T, e *Engine, n int) {
	t.Helper()
	want := e.imageCycles.Load() + int64(n)
	dockertest.Eventually(t, 10*time.Second, 5*time.Millisecond, func() error {
		if got := e.imageCycles.Load(); got < want {
			return fmt.Errorf("%d image cleanup cycles, want %d", got, want)
		}
		return nil
	})
}

// inspected is how many times the engine inspected the named containers.
func (f *fakeRuntime) inspected(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.inspects[name]
}
