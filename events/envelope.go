package events

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// Event is the EventBridge envelope AWS emits for ECS and ECR events, so code
// written for those events reads Berth's unchanged. Detail holds the
// detail-type's payload; timestamps inside it are ISO-8601 strings.
type Event struct {
	Version    string          `json:"version"` // always "0"
	ID         string          `json:"id"`
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Account    string          `json:"account"`
	Time       string          `json:"time"` // RFC 3339, seconds: "2020-01-23T17:57:58Z"
	Region     string          `json:"region"`
	Resources  []string        `json:"resources"`
	Detail     json.RawMessage `json:"detail"`
}

// Event sources and detail types.
const (
	SourceECS = "aws.ecs"
	SourceECR = "aws.ecr"

	DetailTaskStateChange              = "ECS Task State Change"
	DetailContainerInstanceStateChange = "ECS Container Instance State Change"
	DetailServiceAction                = "ECS Service Action"
	DetailDeploymentStateChange        = "ECS Deployment State Change"
	DetailECRImageAction               = "ECR Image Action"
)

// NewEvent builds an envelope around detail, marshalled to JSON.
func NewEvent(id, source, detailType, account, region string, at time.Time, resources []string, detail any) (Event, error) {
	raw, err := json.Marshal(detail)
	if err != nil {
		return Event{}, err
	}
	return envelope(id, source, detailType, account, region, at, resources, raw), nil
}

func envelope(id, source, detailType, account, region string, at time.Time, resources []string, detail json.RawMessage) Event {
	if resources == nil {
		resources = []string{}
	}
	return Event{
		Version:    "0",
		ID:         id,
		DetailType: detailType,
		Source:     source,
		Account:    account,
		Time:       at.UTC().Format(time.RFC3339),
		Region:     region,
		Resources:  resources,
		Detail:     detail,
	}
}

// EncodeEvent is NewEvent followed by Encode: the bytes of a new event.
func EncodeEvent(id, source, detailType, account, region string, at time.Time, resources []string, detail any) ([]byte, error) {
	raw, err := json.Marshal(detail)
	if err != nil {
		return nil, err
	}
	return EncodeEventJSON(id, source, detailType, account, region, at, resources, raw)
}

// EncodeEventJSON is EncodeEvent for a detail its caller marshalled to
// compact JSON.
func EncodeEventJSON(id, source, detailType, account, region string, at time.Time, resources []string, detail json.RawMessage) ([]byte, error) {
	return envelope(id, source, detailType, account, region, at, resources, detail).Encode()
}

// Encode is json.Marshal(e) for an event whose Detail is compact JSON, as
// NewEvent makes it, without encoding/json's second pass over Detail (it
// validates and compacts every json.RawMessage it writes, which costs more
// than marshalling the detail did).
func (e Event) Encode() ([]byte, error) {
	detail := e.Detail
	if len(detail) == 0 {
		return json.Marshal(e)
	}
	e.Detail = nil
	head, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}
	// head ends with the nil Detail: "detail":null}
	head, ok := bytes.CutSuffix(head, []byte("null}"))
	if !ok {
		return nil, fmt.Errorf("events: encode event %s: unexpected envelope %q", e.ID, head)
	}
	out := make([]byte, 0, len(head)+len(detail)+1)
	out = append(append(append(out, head...), detail...), '}')
	return out, nil
}

// Message is the envelope of internal (non-public) messages, such as agent
// reports or work-queue items. Type is a versioned type string, e.g.
// "berth.task.state_changed.v1".
type Message struct {
	Type string          `json:"type"`
	ID   string          `json:"id"`
	Time time.Time       `json:"time"`
	Data json.RawMessage `json:"data"`
}
