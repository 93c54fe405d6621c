package docker_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/events/ecsapi"
	"github.com/berth-project/berth/services/agent/docker"
	"github.com/berth-project/berth/services/agent/docker/dockertest"
	"github.com/moby/moby/client"
)

func ptr[T any](v T) *T { return &v }

// setup connects, builds the test image and registers cleanup of everything
// labelled with a per-test owner.
func setup(t *testing.T) (*docker.Client, string, string) {
	t.Helper()
	c := dockertest.Client(t)
	img := dockertest.BusyboxImage(t, c)
	owner := "dockertest-" + dockertest.RunID() + "-" + docker.SanitizeName(t.Name())
	dockertest.Cleanup(t, c, owner)
	return c, img, owner
}

func spec(owner, img, name string, def ecsapi.ContainerDefinition) docker.ContainerSpec {
	def.Name = name
	def.Image = img
	arn := "arn:aws:ecs:local:000000000000:task/test/" + owner
	return docker.ContainerSpec{
		Name:  "bt-" + owner + "-" + name,
		Owner: owner,
		Task: docker.TaskInfo{ARN: arn, Cluster: "test", Family: "fam", Revision: 1,
			Definition: &ecsapi.TaskDefinition{Family: "fam"}},
		Definition: def,
	}
}

func TestClient_ContainerLifecycle(t *testing.T) {
	t.Parallel()
	c, img, owner := setup(t)
	ctx := t.Context()

	evs := c.Events(ctx, map[string]string{docker.LabelManaged: owner})

	s := spec(owner, img, "web", ecsapi.ContainerDefinition{
		Command:      []string{"httpd", "-f", "-p", "80", "-h", "/www"},
		Cpu:          ptr[int32](256),
		Memory:       ptr[int32](64),
		PortMappings: []ecsapi.PortMapping{{ContainerPort: ptr[int32](80), HostPort: ptr[int32](0)}},
		HealthCheck: &ecsapi.HealthCheck{Command: []string{"CMD-SHELL", "wget -q -O /dev/null http://127.0.0.1:80/"},
			Interval: ptr[int32](1), Timeout: ptr[int32](2), Retries: ptr[int32](2)},
		StopTimeout: ptr[int32](1),
	})
	id, err := c.CreateContainer(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateContainer(ctx, s); !errors.Is(err, docker.ErrConflict) {
		t.Fatalf("second create with the same name: %v, want ErrConflict", err)
	}

	raw, err := c.API().ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if hc := raw.Container.HostConfig; hc.Memory != 64<<20 || hc.CPUShares != 256 {
		t.Errorf("Memory/CpuShares = %d/%d, want %d/256", hc.Memory, hc.CPUShares, 64<<20)
	}

	if err := c.StartContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	var ctr docker.Container
	dockertest.Eventually(t, 20*time.Second, 200*time.Millisecond, func() error {
		ctr, err = c.InspectContainer(ctx, id)
		if err != nil {
			return err
		}
		if ctr.Health != "healthy" {
			return fmt.Errorf("health %q", ctr.Health)
		}
		return nil
	})
	if len(ctr.Ports) == 0 || ctr.Ports[0].ContainerPort != 80 || ctr.Ports[0].HostPort == 0 || ctr.Ports[0].Protocol != "tcp" {
		t.Fatalf("ports = %+v", ctr.Ports)
	}
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", ctr.Ports[0].HostPort))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "hello from berth") {
		t.Errorf("body = %q", body)
	}

	list, err := c.ListContainers(ctx, map[string]string{docker.LabelManaged: owner, docker.LabelContainerName: "web"})
	if err != nil || len(list) != 1 || list[0].ID != id {
		t.Fatalf("list = %+v, %v", list, err)
	}

	if err := c.StopContainer(ctx, id, time.Second); err != nil {
		t.Fatal(err)
	}
	ctr, err = c.InspectContainer(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if ctr.Running || !ctr.Exited() || ctr.FinishedAt.IsZero() {
		t.Errorf("after stop: %+v", ctr)
	}

	seen := map[string]bool{}
	timeout := time.After(10 * time.Second)
	for !(seen[docker.ActionStart] && seen[docker.ActionDie] && seen["health_status:healthy"]) {
		select {
		case ev := <-evs:
			if ev.ContainerID != id {
				continue
			}
			seen[ev.Action] = true
			if ev.Action == docker.ActionHealthStatus {
				seen["health_status:"+ev.Health] = true
			}
			if ev.Action == docker.ActionDie && ev.ExitCode == nil {
				t.Errorf("die without exit code: %+v", ev)
			}
		case <-timeout:
			t.Fatalf("events seen: %v", seen)
		}
	}

	if err := c.RemoveContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveContainer(ctx, id); err != nil {
		t.Fatalf("second remove: %v", err)
	}
	if _, err := c.InspectContainer(ctx, id); !errors.Is(err, docker.ErrNotFound) {
		t.Fatalf("inspect removed: %v", err)
	}
}

func TestClient_EnsureImage(t *testing.T) {
	t.Parallel()
	c, img, _ := setup(t)
	ctx := t.Context()

	got, err := c.EnsureImage(ctx, img, nil, docker.PullPreferCached)
	if err != nil || got.Pulled || got.ID == "" {
		t.Fatalf("prefer-cached: %+v %v", got, err)
	}
	got, err = c.EnsureImage(ctx, img, nil, docker.PullOnce)
	if err != nil || got.Pulled {
		t.Fatalf("once: %+v %v", got, err)
	}
	// No registry here: the pull fails and default falls back to the cache.
	got, err = c.EnsureImage(ctx, img, nil, docker.PullDefault)
	if err != nil || got.Pulled {
		t.Fatalf("default: %+v %v", got, err)
	}
	if _, err := c.EnsureImage(ctx, img, nil, docker.PullAlways); err == nil {
		t.Fatal("always: pull without a registry succeeded")
	}

	missing := "berth-test/does-not-exist-" + dockertest.RunID() + ":latest"
	auth := &docker.RegistryAuth{Username: "AWS", Password: "pw", ServerAddress: "registry.invalid"}
	for _, b := range []docker.PullBehavior{docker.PullDefault, docker.PullOnce, docker.PullPreferCached} {
		_, err := c.EnsureImage(ctx, missing, auth, b)
		if err == nil {
			t.Fatalf("%s: missing image pulled", b)
		}
		var de *docker.Error
		if !errors.As(err, &de) || docker.DaemonMessage(err) == "" || strings.Contains(err.Error(), "pw") {
			t.Fatalf("%s: error %v", b, err)
		}
	}
	if _, err := c.InspectImage(ctx, missing); !errors.Is(err, docker.ErrNotFound) {
		t.Fatalf("inspect missing: %v", err)
	}
}

func TestClient_Volumes(t *testing.T) {
	t.Parallel()
	c, img, owner := setup(t)
	ctx := t.Context()

	s := spec(owner, img, "vol", ecsapi.ContainerDefinition{Command: []string{"true"}})
	s.Task.Definition.Volumes = []ecsapi.Volume{
		{Name: "scratch", DockerVolumeConfiguration: &ecsapi.DockerVolumeConfiguration{Scope: "task"}},
		{Name: "host", Host: &ecsapi.HostVolumeProperties{SourcePath: t.TempDir()}},
	}
	s.Definition.MountPoints = []ecsapi.MountPoint{
		{SourceVolume: "scratch", ContainerPath: "/scratch"},
		{SourceVolume: "host", ContainerPath: "/host", ReadOnly: ptr(true)},
	}
	id, err := c.CreateContainer(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	name := docker.TaskVolumeName(s.Task.ARN, "scratch")
	if _, err := c.API().VolumeInspect(ctx, name, client.VolumeInspectOptions{}); err != nil {
		t.Fatalf("task volume not created: %v", err)
	}
	if err := c.RemoveContainer(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveTaskVolumes(ctx, s.Task.ARN); err != nil {
		t.Fatal(err)
	}
	if _, err := c.API().VolumeInspect(ctx, name, client.VolumeInspectOptions{}); err == nil {
		t.Fatal("task volume survived RemoveTaskVolumes")
	}

	shared := spec(owner, img, "shared", ecsapi.ContainerDefinition{Command: []string{"true"},
		MountPoints: []ecsapi.MountPoint{{SourceVolume: "s", ContainerPath: "/s"}}})
	shared.Task.Definition.Volumes = []ecsapi.Volume{{Name: "s",
		DockerVolumeConfiguration: &ecsapi.DockerVolumeConfiguration{Scope: "shared", Autoprovision: ptr(false)}}}
	shared.Task.Definition.Volumes[0].Name = "berth-missing-" + dockertest.RunID()
	shared.Definition.MountPoints[0].SourceVolume = shared.Task.Definition.Volumes[0].Name
	if _, err := c.CreateContainer(ctx, shared); !errors.Is(err, docker.ErrNotFound) {
		t.Fatalf("shared volume without autoprovision: %v, want ErrNotFound", err)
	}
}
