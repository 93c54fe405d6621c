package docker

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// Labels put on every container (and task-scoped volume) the agent creates.
// The com.amazonaws.ecs.* names are the ones amazon-ecs-agent uses, so tools
// written for ECS hosts recognise Berth's containers.
const (
	LabelTaskARN        = "com.amazonaws.ecs.task-arn"
	LabelContainerName  = "com.amazonaws.ecs.container-name"
	LabelCluster        = "com.amazonaws.ecs.cluster"
	LabelTaskDefFamily  = "com.amazonaws.ecs.task-definition-family"
	LabelTaskDefVersion = "com.amazonaws.ecs.task-definition-version"
	// LabelManaged marks what Berth's agent created; its value is the owner
	// (the agent identity), so several agents can share one daemon.
	LabelManaged = "io.berth.managed"
	// LabelVolumeName is the ECS volume name on a task-scoped Docker volume.
	LabelVolumeName = "io.berth.volume"
	// DefaultOwner is the LabelManaged value when none is configured.
	DefaultOwner = "berth"
)

const (
	mib                   = 1024 * 1024
	minimumMemoryBytes    = 6 * mib // Docker refuses smaller limits
	minimumCPUShares      = 2       // Linux's minimum; ECS maps 0 and 1 to 2
	defaultHealthInterval = 30      // seconds, AWS default
	defaultHealthTimeout  = 5       // seconds, AWS default
	defaultHealthRetries  = 3       // AWS default
	networkModeBridge     = "bridge"
	networkModeHost       = "host"
	networkModeNone       = "none"
	networkModeAWSVPC     = "awsvpc"
	volumeScopeShared     = "shared"
	compatibilityFargate  = "FARGATE"
	namespaceModeTask     = "task" // pidMode / ipcMode "task"
	taskVolumeNamePrefix  = "berth-"
)

// TaskID is the last segment of a task ARN
// (arn:aws:ecs:region:account:task/cluster/<id>). ARNs without a "/" give a
// short hash, so the result is always usable in Docker names.
func TaskID(taskARN string) string {
	if i := strings.LastIndexByte(taskARN, '/'); i >= 0 && i < len(taskARN)-1 {
		if id := SanitizeName(taskARN[i+1:]); id != "" {
			return id
		}
	}
	sum := sha256.Sum256([]byte(taskARN))
	return hex.EncodeToString(sum[:8])
}

// SanitizeName maps s onto Docker's name alphabet [a-zA-Z0-9_.-], replacing
// anything else with '-', and strips leading punctuation.
func SanitizeName(s string) string {
	b := []byte(s)
	for i, c := range b {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '.', c == '-':
		default:
			b[i] = '-'
		}
	}
	return strings.TrimLeft(string(b), "_.-")
}

// TaskVolumeName is the Docker volume name of a task-scoped volume.
func TaskVolumeName(taskARN, volume string) string {
	return taskVolumeNamePrefix + TaskID(taskARN) + "-" + SanitizeName(volume)
}
