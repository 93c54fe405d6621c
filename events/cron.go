package events

import (
	"strings"
	"time"
)

// The cron service: EventBridge Scheduler (REST-JSON) and EventBridge rules
// (JSON 1.1). Contract pieces: API names, the gateway routes, the KV bucket,
// the work-queue stream of occurrences, event subjects and codes.

// API names of the cron service's APIs (second token of SubjAPI).
const (
	APIScheduler = "scheduler"
	APIEvents    = "events"
)

// EventBridge and Scheduler error codes (besides the shared ones).
const (
	CodeInternalServer         Code = "InternalServerException" // Scheduler fault
	CodeEventsInternal         Code = "InternalException"       // EventBridge fault
	CodeServiceQuotaExceeded   Code = "ServiceQuotaExceededException"
	CodeInvalidEventPattern    Code = "InvalidEventPatternException"
	CodeConcurrentModification Code = "ConcurrentModificationException"
	CodeManagedRule            Code = "ManagedRuleException"
	CodeIllegalStatus          Code = "IllegalStatusException"
)

func init() {
	// Both are server faults (HTTP 500, retried by the SDKs).
	faults[CodeInternalServer] = true
	faults[CodeEventsInternal] = true
}

// EventsOperations lists every operation of the EventBridge model
// (events 2015-10-07) for telling an unknown operation from one Berth does
// not implement.
var EventsOperations = func() map[string][]string {
	ops := map[string][]string{}
	for _, op := range strings.Fields(`ActivateEventSource CancelReplay CreateApiDestination CreateArchive
		CreateConnection CreateEndpoint CreateEventBus CreatePartnerEventSource DeactivateEventSource
		DeauthorizeConnection DeleteApiDestination DeleteArchive DeleteConnection DeleteEndpoint
		DeleteEventBus DeletePartnerEventSource DeleteRule DescribeApiDestination DescribeArchive
		DescribeConnection DescribeEndpoint DescribeEventBus DescribeEventSource
		DescribePartnerEventSource DescribeReplay DescribeRule DisableRule EnableRule
		ListApiDestinations ListArchives ListConnections ListEndpoints ListEventBuses ListEventSources
		ListPartnerEventSourceAccounts ListPartnerEventSources ListReplays ListRuleNamesByTarget
		ListRules ListTagsForResource ListTargetsByRule PutEvents PutPartnerEvents PutPermission
		PutRule PutTargets RemovePermission RemoveTargets StartReplay TagResource TestEventPattern
		UntagResource UpdateApiDestination UpdateArchive UpdateConnection UpdateEndpoint`) {
		ops[op] = nil
	}
	return ops
}()

// EventsRoute is Amazon EventBridge (rules and PutEvents), JSON 1.1.
var EventsRoute = APIRoute{
	TargetPrefix: "AWSEvents",
	API:          APIEvents,
	SigningName:  "events",
	Fault:        CodeEventsInternal,
	Modelled:     EventsOperations,
	Implemented: map[string]string{
		"PutRule":               ServiceCron,
		"DescribeRule":          ServiceCron,
		"ListRules":             ServiceCron,
		"EnableRule":            ServiceCron,
		"DisableRule":           ServiceCron,
		"DeleteRule":            ServiceCron,
		"PutTargets":            ServiceCron,
		"RemoveTargets":         ServiceCron,
		"ListTargetsByRule":     ServiceCron,
		"ListRuleNamesByTarget": ServiceCron,
		"TestEventPattern":      ServiceCron,
		"PutEvents":             ServiceCron,
		"TagResource":           ServiceCron,
		"UntagResource":         ServiceCron,
		"ListTagsForResource":   ServiceCron,
	},
}

// RESTOperation maps one REST-JSON request (method and path pattern, in
// net/http ServeMux syntax) to an operation. The gateway builds the JSON
// body the service receives from the request body, the path parameters (by
// their member names) and the query parameters (Query: query name ->
// member name; members in Lists take every value as a list).
type RESTOperation struct {
	Method    string
	Path      string // e.g. /schedules/{Name}
	Operation string
	Query     map[string]string
	Lists     map[string]bool
}

// RESTRoute is a REST-JSON API: its operations, signing name, the service
// answering them, its fault code and the HTTP status of each error code
// (others: Code.HTTPStatus).
type RESTRoute struct {
	API         string
	SigningName string
	Service     string
	Fault       Code
	Operations  []RESTOperation
	Status      map[Code]int
}

// SchedulerRoute is Amazon EventBridge Scheduler (scheduler 2021-06-30).
var SchedulerRoute = RESTRoute{
	API:         APIScheduler,
	SigningName: "scheduler",
	Service:     ServiceCron,
	Fault:       CodeInternalServer,
	Operations: []RESTOperation{
		{Method: "POST", Path: "/schedules/{Name}", Operation: "CreateSchedule"},
		{Method: "GET", Path: "/schedules/{Name}", Operation: "GetSchedule", Query: map[string]string{"groupName": "GroupName"}},
		{Method: "PUT", Path: "/schedules/{Name}", Operation: "UpdateSchedule"},
		{Method: "DELETE", Path: "/schedules/{Name}", Operation: "DeleteSchedule", Query: map[string]string{"groupName": "GroupName", "clientToken": "ClientToken"}},
		{Method: "GET", Path: "/schedules", Operation: "ListSchedules", Query: map[string]string{"ScheduleGroup": "GroupName", "MaxResults": "MaxResults", "NamePrefix": "NamePrefix", "NextToken": "NextToken", "State": "State"}},
		{Method: "POST", Path: "/schedule-groups/{Name}", Operation: "CreateScheduleGroup"},
		{Method: "GET", Path: "/schedule-groups/{Name}", Operation: "GetScheduleGroup"},
		{Method: "DELETE", Path: "/schedule-groups/{Name}", Operation: "DeleteScheduleGroup", Query: map[string]string{"clientToken": "ClientToken"}},
		{Method: "GET", Path: "/schedule-groups", Operation: "ListScheduleGroups", Query: map[string]string{"MaxResults": "MaxResults", "NamePrefix": "NamePrefix", "NextToken": "NextToken"}},
		{Method: "POST", Path: "/tags/{ResourceArn}", Operation: "TagResource"},
		{Method: "GET", Path: "/tags/{ResourceArn}", Operation: "ListTagsForResource"},
		{Method: "DELETE", Path: "/tags/{ResourceArn}", Operation: "UntagResource", Query: map[string]string{"TagKeys": "TagKeys"}, Lists: map[string]bool{"TagKeys": true}},
	},
	Status: map[Code]int{
		CodeValidation:           400,
		CodeResourceNotFound:     404,
		CodeConflict:             409,
		CodeServiceQuotaExceeded: 402,
		CodeThrottling:           429,
		CodeInternalServer:       500,
	},
}

// RESTRoutes lists every REST-JSON API the gateway serves.
func RESTRoutes() []RESTRoute { return []RESTRoute{SchedulerRoute} }

// BucketCron holds the cron service's state. Keys:
//
//	grp.<group>            a Scheduler schedule group
//	sch.<group>.<name>     a Scheduler schedule
//	rule.<bus>.<name>      an EventBridge rule with its targets
//
// (names as Token). Written by the cron service only.
var BucketCron = BucketDef{
	Name:        "cron_state",
	Writer:      ServiceCron,
	Description: "EventBridge Scheduler schedules and groups, EventBridge rules: grp.<group>, sch.<group>.<name>, rule.<bus>.<name>",
	History:     1,
}

// CronGroupKey, CronScheduleKey and CronRuleKey are the keys of BucketCron.
func CronGroupKey(group string) string          { return "grp." + Token(group) }
func CronScheduleKey(group, name string) string { return "sch." + Token(group) + "." + Token(name) }
func CronRuleKey(bus, name string) string       { return "rule." + Token(bus) + "." + Token(name) }

// Subjects of the occurrences work queue.
const (
	// SubjCronFireAll matches every occurrence to fire: cron.fire.>
	SubjCronFireAll = "cron.fire.>"
)

// SubjCronFire is the subject of one occurrence (or one matched event) to
// fire: cron.fire.<kind>.<scope>.<name>, kind "sch" (schedule), "rule"
// (scheduled rule) or "match" (event-pattern rule). Wildcard form:
// cron.fire.*.*.*
func SubjCronFire(kind, scope, name string) string {
	return "cron.fire." + kind + "." + Token(scope) + "." + Token(name)
}

// StreamCronFires is the work queue of occurrences and matched events to
// fire. Each is published by any cron replica with Nats-Msg-Id
// "<kind>/<scope>/<name>@<occurrence RFC 3339>" (or "…@<event id>"), so
// however many replicas produce it, it is stored once (within Duplicates,
// which is longer than any producer's catch-up horizon); one durable
// consumer shared by every replica takes each once.
var StreamCronFires = StreamDef{
	Name:        "CRON_FIRES",
	Writer:      ServiceCron,
	Description: "occurrences of schedules and rules, and events matched by rules, to fire once",
	Subjects:    []string{SubjCronFireAll},
	Retention:   RetentionWorkQueue,
	MaxAge:      48 * time.Hour,
	Duplicates:  20 * time.Minute,
}

// Public events of the cron service, on the EVENTS stream.
const (
	// SourceCron is the source of Berth's invocation events (Berth-specific;
	// AWS has no such events).
	SourceCron = "berth.cron"
	// DetailCronInvocation: a schedule or rule invoked a target.
	DetailCronInvocation = "Scheduled Target Invocation"
	// DetailCronInvocationFailed: an invocation failed (with retry count
	// and whether it gives up).
	DetailCronInvocationFailed = "Scheduled Target Invocation Failed"
	// DetailScheduledEvent is what EventBridge sends a scheduled rule's
	// targets (source aws.events).
	DetailScheduledEvent = "Scheduled Event"
	SourceEvents         = "aws.events"
)

// SubjCronEvent is the subject of a cron invocation event:
// events.cron.<scope>.<kind>.<name>. Wildcard form: events.cron.>
func SubjCronEvent(scope, kind, name string) string {
	return "events.cron." + Token(scope) + "." + kind + "." + Token(name)
}

// SubjPutEvent is the subject of an event put by PutEvents (or a rule's
// EventBridge target): events.put.<bus>.<source>.<id>. Wildcard form:
// events.put.>
func SubjPutEvent(bus, source, id string) string {
	return "events.put." + Token(bus) + "." + Token(source) + "." + Token(id)
}
