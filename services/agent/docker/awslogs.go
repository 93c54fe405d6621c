package docker

import (
	"encoding/json"
	"fmt"
	"maps"
	"strings"

	"github.com/moby/moby/api/types/container"

	"github.com/berth-project/berth/events/ecsapi"
)

// LabelAWSLogs marks a container whose logConfiguration is awslogs: the
// agent runs it with Docker's json-file driver (so `docker logs` works and
// the daemon needs no AWS credentials) and ships its output to Berth's logs
// service itself. The value is the JSON of AWSLogs.
const LabelAWSLogs = "io.berth.awslogs"

// AWSLogs are the awslogs options of a container, as the agent ships them.
type AWSLogs struct {
	Group        string `json:"group"`
	Region       string `json:"region,omitempty"`
	StreamPrefix string `json:"streamPrefix,omitempty"`
	Stream       string `json:"stream,omitempty"` // awslogs-stream
	CreateGroup  bool   `json:"createGroup,omitempty"`
	// Mode and MaxBufferSize are accepted; the local json-file log is the
	// buffer, so the container never blocks on shipping and no line is
	// dropped in either mode.
	Mode          string `json:"mode,omitempty"`
	MaxBufferSize string `json:"maxBufferSize,omitempty"`
}

// StreamName is the log stream the container's output goes to: ECS's
// prefix/container-name/task-id with awslogs-stream-prefix, else
// awslogs-stream, else the container ID (Docker's default).
func (o AWSLogs) StreamName(containerName, taskARN, containerID string) string {
	switch {
	case o.StreamPrefix != "":
		return o.StreamPrefix + "/" + containerName + "/" + taskARN[strings.LastIndexByte(taskARN, '/')+1:]
	case o.Stream != "":
		return o.Stream
	}
	return containerID
}

// ParseAWSLogs reads the label value written by logConfig.
func ParseAWSLogs(label string) (AWSLogs, error) {
	var o AWSLogs
	err := json.Unmarshal([]byte(label), &o)
	return o, err
}

var awslogsOptions = map[string]bool{
	"awslogs-group": true, "awslogs-region": true, "awslogs-stream-prefix": true, "awslogs-stream": true,
	"awslogs-create-group": true, "mode": true, "max-buffer-size": true, "awslogs-endpoint": true,
	"awslogs-datetime-format": true, "awslogs-multiline-pattern": true, "awslogs-credentials-endpoint": true,
	"awslogs-force-flush-interval-seconds": true, "awslogs-max-buffered-events": true, "awslogs-format": true,
	"awslogs-create-stream": true, "tag": true,
}

// logConfig turns a container's logConfiguration into Docker's log
// configuration; awslogs becomes json-file plus LabelAWSLogs on labels.
func logConfig(lc *ecsapi.LogConfiguration, labels map[string]string) (container.LogConfig, error) {
	if lc.LogDriver != "awslogs" {
		return container.LogConfig{Type: lc.LogDriver, Config: maps.Clone(lc.Options)}, nil
	}
	o := lc.Options
	for k := range o {
		if !awslogsOptions[k] {
			return container.LogConfig{}, fmt.Errorf("unknown log opt '%s' for awslogs log driver: %w", k, ErrInvalid)
		}
	}
	if o["awslogs-group"] == "" {
		return container.LogConfig{}, fmt.Errorf("must specify a value for log opt 'awslogs-group': %w", ErrInvalid)
	}
	if m := o["mode"]; m != "" && m != "blocking" && m != "non-blocking" {
		return container.LogConfig{}, fmt.Errorf("logConfiguration mode %q must be blocking or non-blocking: %w", m, ErrInvalid)
	}
	b, _ := json.Marshal(AWSLogs{
		Group: o["awslogs-group"], Region: o["awslogs-region"], StreamPrefix: o["awslogs-stream-prefix"],
		Stream: o["awslogs-stream"], CreateGroup: o["awslogs-create-group"] == "true",
		Mode: o["mode"], MaxBufferSize: o["max-buffer-size"],
	})
	labels[LabelAWSLogs] = string(b)
	return container.LogConfig{Type: "json-file"}, nil
}
