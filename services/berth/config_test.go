package main

import (
	"io"
	"testing"
	"time"

	"github.com/berth-project/berth/services/agent/docker"
)

// The local agent's cleanup delay and owner label come from flags, or from
// the variables the standalone agent reads.
func TestParseConfig_AgentSettings(t *testing.T) {
	for _, tc := range []struct {
		name        string
		args        []string
		env         map[string]string
		wantCleanup time.Duration
		wantOwner   string
	}{
		{"defaults", nil, nil, 3 * time.Hour, docker.DefaultOwner},
		{"environment", nil, map[string]string{"ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION": "10m", "BERTH_AGENT_OWNER": "env-owner"}, 10 * time.Minute, "env-owner"},
		{"flags win", []string{"--agent-task-cleanup-wait", "5s", "--agent-owner", "flag-owner"},
			map[string]string{"ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION": "10m", "BERTH_AGENT_OWNER": "env-owner"}, 5 * time.Second, "flag-owner"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseConfig(append([]string{"--data", t.TempDir()}, tc.args...), func(k string) string { return tc.env[k] }, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if c.AgentTaskCleanupWait != tc.wantCleanup || c.AgentOwner != tc.wantOwner {
				t.Errorf("cleanup %v owner %q; want %v %q", c.AgentTaskCleanupWait, c.AgentOwner, tc.wantCleanup, tc.wantOwner)
			}
		})
	}
	if _, err := parseConfig([]string{"--agent-task-cleanup-wait", "soon"}, func(string) string { return "" }, io.Discard); err == nil {
		t.Error("--agent-task-cleanup-wait soon accepted")
	}
}
