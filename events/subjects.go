package events

import "strings"

// API names: the second token of an API subject, one per AWS API.
const (
	APIECS  = "ecs"
	APIECR  = "ecr"
	APILogs = "logs"
)

// QueueGroup is the queue group of every micro endpoint, so that replicas of
// a service share the requests.
const QueueGroup = "berth"

// SubjAPIAll matches every API request: berth.api.>
const SubjAPIAll = "berth.api.>"

// SubjAPI is the subject of one AWS operation: berth.api.<api>.<Operation>,
// e.g. berth.api.ecs.RegisterTaskDefinition. Wildcard form: berth.api.*.*
func SubjAPI(api, operation string) string {
	return "berth.api." + api + "." + operation
}

// SubjInternal is the subject of an internal request between services:
// berth.internal.<service>.<verb>. Wildcard form: berth.internal.*.*
func SubjInternal(service, verb string) string {
	return "berth.internal." + service + "." + verb
}

// SubjEventsStored is where the replicas of a service that publishes
// events tell one another the ids of the events they saw stored
// (internal/outbox): berth.internal.<service>.EventsStored.
func SubjEventsStored(service string) string { return SubjInternal(service, "EventsStored") }

// Public event subjects, all captured by the EVENTS stream.
const (
	// SubjEventsAll matches every public event: events.>
	SubjEventsAll = "events.>"
	// SubjECSEventsAll matches every ECS event: events.ecs.>
	SubjECSEventsAll = "events.ecs.>"
	// SubjECREventsAll matches every ECR event: events.ecr.>
	SubjECREventsAll = "events.ecr.>"
)

// Event kinds (fourth token of an ECS event subject).
const (
	KindTask              = "task"
	KindContainerInstance = "container_instance"
	KindService           = "service"
	KindDeployment        = "deployment"
	KindImage             = "image"
)

// SubjECSEvent is the subject of an ECS event:
// events.ecs.<cluster>.<kind>.<id>, e.g. events.ecs.default.task.<taskID>.
// Wildcard form: events.ecs.<cluster>.> or events.ecs.*.<kind>.*
func SubjECSEvent(cluster, kind, id string) string {
	return "events.ecs." + Token(cluster) + "." + kind + "." + Token(id)
}

// SubjECSEventFilter is the filter for the ECS events of one cluster (cluster
// "" = every cluster) and one kind (kind "" = every kind).
func SubjECSEventFilter(cluster, kind string) string {
	c, k := "*", "*"
	if cluster != "" {
		c = Token(cluster)
	}
	if kind != "" {
		k = kind
	}
	return "events.ecs." + c + "." + k + ".*"
}

// SubjECREvent is the subject of an ECR image event:
// events.ecr.<repository>.image.<digest-hex>. Wildcard form: events.ecr.>
func SubjECREvent(repository, digest string) string {
	_, hex, _ := strings.Cut(digest, ":")
	return "events.ecr." + Token(repository) + "." + KindImage + "." + Token(hex)
}
