package engine

import (
	"errors"
	"fmt"
	"strings"

	"github.com/berth-project/berth/events/ecsapi"
	"github.com/berth-project/berth/services/agent/docker"
)

// dependsOn conditions.
const (
	condStart    = "START"
	condComplete = "COMPLETE"
	condSuccess  = "SUCCESS"
	condHealthy  = "HEALTHY"
	condCreate   = "CREATE" // internal: links and volumesFrom need the target created first
)

// errInvalidTask marks a task the engine refuses before touching Docker; its
// text ends up in the stoppedReason.
var errInvalidTask = errors.New("invalid task")

// validateTask checks what can be checked without Docker. The returned
// error's text becomes the task's stoppedReason.
func validateTask(t *Task, awsvpc bool) error {
	if t.ARN == "" {
		return fmt.Errorf("%w: task ARN is empty", errInvalidTask)
	}
	if t.DesiredStatus != DesiredRunning && t.DesiredStatus != DesiredStopped {
		return fmt.Errorf("%w: desired status %q (want RUNNING or STOPPED)", errInvalidTask, t.DesiredStatus)
	}
	def := &t.Definition
	if err := docker.ValidateTaskDefinition(def, awsvpc); err != nil {
		return err
	}
	if len(def.ContainerDefinitions) == 0 {
		return fmt.Errorf("%w: task definition has no containers", errInvalidTask)
	}
	byName := map[string]*ecsapi.ContainerDefinition{}
	essential := 0
	for i := range def.ContainerDefinitions {
		c := &def.ContainerDefinitions[i]
		if c.Name == "" {
			return fmt.Errorf("%w: container %d has no name", errInvalidTask, i)
		}
		if byName[c.Name] != nil {
			return fmt.Errorf("%w: container name %q is used twice", errInvalidTask, c.Name)
		}
		byName[c.Name] = c
		if isEssential(*c) {
			essential++
		}
	}
	if essential == 0 {
		return fmt.Errorf("%w: at least one container must be essential", errInvalidTask)
	}
	for _, o := range t.Overrides.ContainerOverrides {
		if byName[o.Name] == nil {
			return fmt.Errorf("%w: override for unknown container %q", errInvalidTask, o.Name)
		}
	}
	for _, c := range def.ContainerDefinitions {
		for _, d := range c.DependsOn {
			target := byName[d.ContainerName]
			switch {
			case target == nil:
				return fmt.Errorf("%w: container %q depends on unknown container %q", errInvalidTask, c.Name, d.ContainerName)
			case d.ContainerName == c.Name:
				return fmt.Errorf("%w: container %q depends on itself", errInvalidTask, c.Name)
			}
			switch strings.ToUpper(d.Condition) {
			case condStart, condComplete, condSuccess:
			case condHealthy:
				if target.HealthCheck == nil {
					return fmt.Errorf("%w: container %q waits for %q to be HEALTHY, but %q has no healthCheck", errInvalidTask, c.Name, target.Name, target.Name)
				}
			default:
				return fmt.Errorf("%w: container %q: dependsOn condition %q", errInvalidTask, c.Name, d.Condition)
			}
		}
		for _, l := range c.Links {
			name, _, _ := strings.Cut(l, ":")
			if byName[name] == nil {
				return fmt.Errorf("%w: container %q links to unknown container %q", errInvalidTask, c.Name, name)
			}
		}
		for _, vf := range c.VolumesFrom {
			if byName[vf.SourceContainer] == nil {
				return fmt.Errorf("%w: container %q takes volumes from unknown container %q", errInvalidTask, c.Name, vf.SourceContainer)
			}
		}
	}
	if cyc := findCycle(def.ContainerDefinitions); cyc != "" {
		return fmt.Errorf("%w: container dependencies form a cycle: %s", errInvalidTask, cyc)
	}
	return nil
}

func isEssential(c ecsapi.ContainerDefinition) bool { return c.Essential == nil || *c.Essential }

// edges lists every container a container must wait for (dependsOn, links,
// volumesFrom), with the condition.
func edges(c ecsapi.ContainerDefinition) []ecsapi.ContainerDependency {
	var out []ecsapi.ContainerDependency
	for _, d := range c.DependsOn {
		out = append(out, ecsapi.ContainerDependency{ContainerName: d.ContainerName, Condition: strings.ToUpper(d.Condition)})
	}
	for _, l := range c.Links {
		name, _, _ := strings.Cut(l, ":")
		out = append(out, ecsapi.ContainerDependency{ContainerName: name, Condition: condStart})
	}
	for _, vf := range c.VolumesFrom {
		out = append(out, ecsapi.ContainerDependency{ContainerName: vf.SourceContainer, Condition: condCreate})
	}
	return out
}

// findCycle returns "a -> b -> a" for the first cycle found, or "".
func findCycle(defs []ecsapi.ContainerDefinition) string {
	adj := map[string][]string{}
	for _, c := range defs {
		for _, e := range edges(c) {
			adj[c.Name] = append(adj[c.Name], e.ContainerName)
		}
	}
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var path []string
	var visit func(n string) string
	visit = func(n string) string {
		color[n] = grey
		path = append(path, n)
		for _, m := range adj[n] {
			switch color[m] {
			case grey:
				i := len(path) - 1
				for path[i] != m {
					i--
				}
				return strings.Join(append(append([]string{}, path[i:]...), m), " -> ")
			case white:
				if c := visit(m); c != "" {
					return c
				}
			}
		}
		path = path[:len(path)-1]
		color[n] = black
		return ""
	}
	for _, c := range defs {
		if color[c.Name] == white {
			if cyc := visit(c.Name); cyc != "" {
				return cyc
			}
		}
	}
	return ""
}
