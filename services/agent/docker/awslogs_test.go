package docker

import (
	"errors"
	"testing"

	"github.com/berth-project/berth/events/ecsapi"
)

func TestLogConfig_AWSLogs(t *testing.T) {
	labels := map[string]string{}
	lc, err := logConfig(&ecsapi.LogConfiguration{LogDriver: "awslogs", Options: map[string]string{
		"awslogs-group": "/ecs/web", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "ecs",
		"awslogs-create-group": "true", "mode": "non-blocking", "max-buffer-size": "25m",
	}}, labels)
	if err != nil {
		t.Fatal(err)
	}
	if lc.Type != "json-file" || len(lc.Config) != 0 {
		t.Fatalf("docker log config %+v", lc)
	}
	o, err := ParseAWSLogs(labels[LabelAWSLogs])
	if err != nil {
		t.Fatal(err)
	}
	want := AWSLogs{Group: "/ecs/web", Region: "us-east-1", StreamPrefix: "ecs", CreateGroup: true, Mode: "non-blocking", MaxBufferSize: "25m"}
	if o != want {
		t.Fatalf("options %+v", o)
	}
	arn := "arn:aws:ecs:us-east-1:123456789012:task/default/0123456789abcdef"
	if s := o.StreamName("web", arn, "c0ffee"); s != "ecs/web/0123456789abcdef" {
		t.Fatalf("stream %q", s)
	}
	if s := (AWSLogs{Group: "g"}).StreamName("web", arn, "c0ffee"); s != "c0ffee" {
		t.Fatalf("default stream %q", s)
	}
	if s := (AWSLogs{Group: "g", Stream: "fixed"}).StreamName("web", arn, "c0ffee"); s != "fixed" {
		t.Fatalf("awslogs-stream %q", s)
	}
}

func TestLogConfig_AWSLogsInvalid(t *testing.T) {
	for name, opts := range map[string]map[string]string{
		"no group":    {"awslogs-region": "us-east-1"},
		"unknown opt": {"awslogs-group": "g", "awslogs-nope": "x"},
		"bad mode":    {"awslogs-group": "g", "mode": "sometimes"},
	} {
		if _, err := logConfig(&ecsapi.LogConfiguration{LogDriver: "awslogs", Options: opts}, map[string]string{}); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
	}
	lc, err := logConfig(&ecsapi.LogConfiguration{LogDriver: "json-file", Options: map[string]string{"max-size": "1m"}}, map[string]string{})
	if err != nil || lc.Type != "json-file" || lc.Config["max-size"] != "1m" {
		t.Fatalf("json-file: %+v %v", lc, err)
	}
}
