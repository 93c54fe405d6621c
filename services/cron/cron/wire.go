package cron

import (
	"encoding/json"

	"github.com/berth-project/berth/events/awsjson"
)

// Wire types of EventBridge Scheduler (scheduler 2021-06-30, REST-JSON; the
// gateway turns path and query parameters into members) and EventBridge
// (events 2015-10-07, JSON 1.1), hand-written with AWS's member names. No
// model for either API is generated in events/.

// Tag is a Scheduler or EventBridge tag.
type Tag struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

// FlexibleTimeWindow of a schedule.
type FlexibleTimeWindow struct {
	Mode                   string `json:"Mode"`
	MaximumWindowInMinutes *int32 `json:"MaximumWindowInMinutes,omitempty"`
}

// RetryPolicy of a Scheduler or rule target.
type RetryPolicy struct {
	MaximumEventAgeInSeconds *int32 `json:"MaximumEventAgeInSeconds,omitempty"`
	MaximumRetryAttempts     *int32 `json:"MaximumRetryAttempts,omitempty"`
}

// DeadLetterConfig of a target (stored, not used: Berth has no SQS).
type DeadLetterConfig struct {
	Arn string `json:"Arn,omitempty"`
}

// AwsVpcConfiguration of an ECS target.
type AwsVpcConfiguration struct {
	AssignPublicIp string   `json:"AssignPublicIp,omitempty"`
	SecurityGroups []string `json:"SecurityGroups,omitempty"`
	Subnets        []string `json:"Subnets"`
}

// NetworkConfiguration of an ECS target.
type NetworkConfiguration struct {
	AwsvpcConfiguration *AwsVpcConfiguration `json:"awsvpcConfiguration,omitempty"`
}

// CapacityProviderStrategyItem of an ECS target.
type CapacityProviderStrategyItem struct {
	Base             *int32 `json:"base,omitempty"`
	CapacityProvider string `json:"capacityProvider"`
	Weight           *int32 `json:"weight,omitempty"`
}

// PlacementConstraint of an ECS target.
type PlacementConstraint struct {
	Expression string `json:"expression,omitempty"`
	Type       string `json:"type,omitempty"`
}

// PlacementStrategy of an ECS target.
type PlacementStrategy struct {
	Field string `json:"field,omitempty"`
	Type  string `json:"type,omitempty"`
}

// EcsParameters of a Scheduler templated ECS target or a rule's ECS target
// (the two models share member names; Tags is a list of {Key, Value} for
// rules and a list of string maps for Scheduler, kept raw).
type EcsParameters struct {
	CapacityProviderStrategy []CapacityProviderStrategyItem `json:"CapacityProviderStrategy,omitempty"`
	EnableECSManagedTags     *bool                          `json:"EnableECSManagedTags,omitempty"`
	EnableExecuteCommand     *bool                          `json:"EnableExecuteCommand,omitempty"`
	Group                    string                         `json:"Group,omitempty"`
	LaunchType               string                         `json:"LaunchType,omitempty"`
	NetworkConfiguration     *NetworkConfiguration          `json:"NetworkConfiguration,omitempty"`
	PlacementConstraints     []PlacementConstraint          `json:"PlacementConstraints,omitempty"`
	PlacementStrategy        []PlacementStrategy            `json:"PlacementStrategy,omitempty"`
	PlatformVersion          string                         `json:"PlatformVersion,omitempty"`
	PropagateTags            string                         `json:"PropagateTags,omitempty"`
	ReferenceId              string                         `json:"ReferenceId,omitempty"`
	Tags                     json.RawMessage                `json:"Tags,omitempty"`
	TaskCount                *int32                         `json:"TaskCount,omitempty"`
	TaskDefinitionArn        string                         `json:"TaskDefinitionArn"`
}

// EventBridgeParameters of a Scheduler target that puts an event.
type EventBridgeParameters struct {
	DetailType string `json:"DetailType"`
	Source     string `json:"Source"`
}

// SchedTarget is a Scheduler schedule's target.
type SchedTarget struct {
	Arn                   string                 `json:"Arn"`
	RoleArn               string                 `json:"RoleArn"`
	Input                 string                 `json:"Input,omitempty"`
	EcsParameters         *EcsParameters         `json:"EcsParameters,omitempty"`
	EventBridgeParameters *EventBridgeParameters `json:"EventBridgeParameters,omitempty"`
	RetryPolicy           *RetryPolicy           `json:"RetryPolicy,omitempty"`
	DeadLetterConfig      *DeadLetterConfig      `json:"DeadLetterConfig,omitempty"`
	KinesisParameters     json.RawMessage        `json:"KinesisParameters,omitempty"`
	SageMakerPipeline     json.RawMessage        `json:"SageMakerPipelineParameters,omitempty"`
	SqsParameters         json.RawMessage        `json:"SqsParameters,omitempty"`
}

// ScheduleInput is CreateSchedule's and UpdateSchedule's input.
type ScheduleInput struct {
	Name                       string              `json:"Name"`
	GroupName                  string              `json:"GroupName,omitempty"`
	ClientToken                string              `json:"ClientToken,omitempty"`
	Description                *string             `json:"Description,omitempty"`
	StartDate                  *awsjson.Time       `json:"StartDate,omitempty"`
	EndDate                    *awsjson.Time       `json:"EndDate,omitempty"`
	FlexibleTimeWindow         *FlexibleTimeWindow `json:"FlexibleTimeWindow"`
	KmsKeyArn                  string              `json:"KmsKeyArn,omitempty"`
	ScheduleExpression         string              `json:"ScheduleExpression"`
	ScheduleExpressionTimezone string              `json:"ScheduleExpressionTimezone,omitempty"`
	State                      string              `json:"State,omitempty"`
	Target                     *SchedTarget        `json:"Target"`
	ActionAfterCompletion      string              `json:"ActionAfterCompletion,omitempty"`
}

// GetScheduleOutput is GetSchedule's output.
type GetScheduleOutput struct {
	ActionAfterCompletion      string              `json:"ActionAfterCompletion,omitempty"`
	Arn                        string              `json:"Arn"`
	CreationDate               *awsjson.Time       `json:"CreationDate"`
	Description                string              `json:"Description,omitempty"`
	EndDate                    *awsjson.Time       `json:"EndDate,omitempty"`
	FlexibleTimeWindow         *FlexibleTimeWindow `json:"FlexibleTimeWindow"`
	GroupName                  string              `json:"GroupName"`
	KmsKeyArn                  string              `json:"KmsKeyArn,omitempty"`
	LastModificationDate       *awsjson.Time       `json:"LastModificationDate"`
	Name                       string              `json:"Name"`
	ScheduleExpression         string              `json:"ScheduleExpression"`
	ScheduleExpressionTimezone string              `json:"ScheduleExpressionTimezone,omitempty"`
	StartDate                  *awsjson.Time       `json:"StartDate,omitempty"`
	State                      string              `json:"State"`
	Target                     *SchedTarget        `json:"Target"`
}

// ScheduleSummary is one entry of ListSchedules.
type ScheduleSummary struct {
	Arn                  string        `json:"Arn"`
	CreationDate         *awsjson.Time `json:"CreationDate"`
	GroupName            string        `json:"GroupName"`
	LastModificationDate *awsjson.Time `json:"LastModificationDate"`
	Name                 string        `json:"Name"`
	State                string        `json:"State"`
	Target               struct {
		Arn string `json:"Arn"`
	} `json:"Target"`
}

// ScheduleGroupSummary is GetScheduleGroup's output and one entry of
// ListScheduleGroups.
type ScheduleGroupSummary struct {
	Arn                  string        `json:"Arn"`
	CreationDate         *awsjson.Time `json:"CreationDate"`
	LastModificationDate *awsjson.Time `json:"LastModificationDate"`
	Name                 string        `json:"Name"`
	State                string        `json:"State"`
}

// RuleTarget is an EventBridge rule's target.
type RuleTarget struct {
	Id                     string            `json:"Id"`
	Arn                    string            `json:"Arn"`
	RoleArn                string            `json:"RoleArn,omitempty"`
	Input                  string            `json:"Input,omitempty"`
	InputPath              string            `json:"InputPath,omitempty"`
	InputTransformer       json.RawMessage   `json:"InputTransformer,omitempty"`
	EcsParameters          *EcsParameters    `json:"EcsParameters,omitempty"`
	RetryPolicy            *RetryPolicy      `json:"RetryPolicy,omitempty"`
	DeadLetterConfig       *DeadLetterConfig `json:"DeadLetterConfig,omitempty"`
	KinesisParameters      json.RawMessage   `json:"KinesisParameters,omitempty"`
	RunCommandParameters   json.RawMessage   `json:"RunCommandParameters,omitempty"`
	BatchParameters        json.RawMessage   `json:"BatchParameters,omitempty"`
	SqsParameters          json.RawMessage   `json:"SqsParameters,omitempty"`
	HttpParameters         json.RawMessage   `json:"HttpParameters,omitempty"`
	RedshiftDataParameters json.RawMessage   `json:"RedshiftDataParameters,omitempty"`
	SageMakerPipeline      json.RawMessage   `json:"SageMakerPipelineParameters,omitempty"`
}

// Rule is one entry of ListRules and (with CreatedBy) DescribeRule's output.
type Rule struct {
	Arn                string `json:"Arn"`
	Description        string `json:"Description,omitempty"`
	EventBusName       string `json:"EventBusName"`
	EventPattern       string `json:"EventPattern,omitempty"`
	Name               string `json:"Name"`
	RoleArn            string `json:"RoleArn,omitempty"`
	ScheduleExpression string `json:"ScheduleExpression,omitempty"`
	State              string `json:"State"`
	CreatedBy          string `json:"CreatedBy,omitempty"`
}

// PutEventsEntry is one entry of PutEvents.
type PutEventsEntry struct {
	Time         *awsjson.Time `json:"Time,omitempty"`
	Source       string        `json:"Source"`
	Resources    []string      `json:"Resources,omitempty"`
	DetailType   string        `json:"DetailType"`
	Detail       string        `json:"Detail"`
	EventBusName string        `json:"EventBusName,omitempty"`
	TraceHeader  string        `json:"TraceHeader,omitempty"`
}

// ResultEntry is a failed entry of PutTargets or RemoveTargets, or an entry
// of PutEvents' result.
type ResultEntry struct {
	TargetId     string `json:"TargetId,omitempty"`
	EventId      string `json:"EventId,omitempty"`
	ErrorCode    string `json:"ErrorCode,omitempty"`
	ErrorMessage string `json:"ErrorMessage,omitempty"`
}
