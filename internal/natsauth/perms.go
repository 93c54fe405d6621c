package natsauth

import (
	"slices"
	"sort"
	"strings"

	"github.com/berth-project/berth/events"
)

// Identities that are not services.
const (
	// Admin may do everything: operators and tests.
	Admin = "admin"
	// Subscriber is the read-only identity for event subscribers.
	Subscriber = "events"
	// Account is the NATS account all of Berth lives in.
	Account = "BERTH"
	// CalloutSubject is where nats-server asks the auth callout.
	CalloutSubject = "$SYS.REQ.USER.AUTH"
)

// Perms is what one identity may do.
type Perms struct {
	Pub []string
	Sub []string
	// Responses lets the identity answer requests sent to it (a service).
	Responses bool
	// All is admin: no restriction at all.
	All bool
}

// InboxPrefix is the inbox prefix of identity: its replies and KV watch
// deliveries arrive under it, and only it (and admin) may subscribe there.
func InboxPrefix(identity string) string { return "_INBOX." + identity }

// everyone may publish these: JetStream account and stream directory
// information (names and configurations, never data), flow control
// replies of its own consumers, and micro discovery (PING, INFO, STATS:
// health checks).
var everyone = []string{"$JS.API.INFO", "$JS.API.STREAM.NAMES", "$JS.API.STREAM.LIST", "$JS.FC.>", "$SRV.>"}

// readStream is what reading stream s takes: info, direct and message gets,
// consumers (ephemeral, ordered and durable) and their acks.
func readStream(s string) []string {
	return []string{
		"$JS.API.STREAM.INFO." + s,
		"$JS.API.STREAM.MSG.GET." + s,
		"$JS.API.DIRECT.GET." + s,
		"$JS.API.DIRECT.GET." + s + ".>",
		"$JS.API.CONSUMER.CREATE." + s,
		"$JS.API.CONSUMER.CREATE." + s + ".>",
		"$JS.API.CONSUMER.DURABLE.CREATE." + s + ".>",
		"$JS.API.CONSUMER.INFO." + s + ".>",
		"$JS.API.CONSUMER.DELETE." + s + ".>",
		"$JS.API.CONSUMER.MSG.NEXT." + s + ".>",
		"$JS.API.CONSUMER.LIST." + s,
		"$JS.API.CONSUMER.NAMES." + s,
		"$JS.ACK." + s + ".>",
	}
}

// ownStream is what the owner of stream s takes: creating and configuring
// it, deleting messages, and reading it.
func ownStream(s string, subjects ...string) []string {
	out := append([]string{
		"$JS.API.STREAM.CREATE." + s,
		"$JS.API.STREAM.UPDATE." + s,
		"$JS.API.STREAM.PURGE." + s,
		"$JS.API.STREAM.MSG.DELETE." + s,
	}, readStream(s)...)
	return append(out, subjects...)
}

// ensureStream is what making sure stream s exists takes (a reader that
// may start before its owner): creating and updating its configuration,
// never its messages.
func ensureStream(s string) []string {
	return []string{"$JS.API.STREAM.CREATE." + s, "$JS.API.STREAM.UPDATE." + s}
}

func kvStream(b events.BucketDef) string { return "KV_" + b.Name }
func ownKV(b events.BucketDef) []string {
	return ownStream(kvStream(b), "$KV."+b.Name+".>")
}
func readKV(b events.BucketDef) []string { return readStream(kvStream(b)) }
func ownObjects(o events.ObjectStoreDef) []string {
	return ownStream("OBJ_"+o.Name, "$O."+o.Name+".>")
}

// serves is what a service answering API operations and internal requests
// subscribes to: its operations of every AWS API, its internal subjects and
// the micro discovery subjects.
func serves(service string) []string {
	out := []string{"berth.internal." + service + ".>", "$SRV.>"}
	for _, r := range events.Routes() {
		for op, owner := range r.Implemented {
			if owner == service {
				out = append(out, events.SubjAPI(r.API, op))
			}
		}
	}
	for _, r := range events.RESTRoutes() {
		if r.Service != service {
			continue
		}
		for _, op := range r.Operations {
			out = append(out, events.SubjAPI(r.API, op.Operation))
		}
	}
	return out
}

// calls is what calling the operations of api (every service answering
// them) takes.
func calls(api string) string { return "berth.api." + api + ".>" }

// ownsEvents is what a service that owns state takes for its events: the
// EVENTS stream (each owner makes sure it exists), publishing, and reading
// it back (the outbox looks up what it published).
func ownsEvents() []string {
	return append(ownStream(events.StreamEvents.Name), events.SubjEventsAll)
}

// service builds a service's permissions.
func service(name string, pub []string, sub ...string) Perms {
	p := Perms{Responses: true}
	p.Pub = append(append(p.Pub, everyone...), pub...)
	p.Sub = append(append(serves(name), InboxPrefix(name)+".>"), sub...)
	return p
}

// Services returns the permissions of every service identity.
func Services() map[string]Perms {
	cat := func(parts ...[]string) []string { return slices.Concat(parts...) }
	return map[string]Perms{
		events.ServiceGateway: service(events.ServiceGateway, cat(
			ownKV(events.BucketAccessKeys), // --bootstrap writes the root key
			[]string{"berth.api.>"},
		)),
		events.ServiceTaskDefs: service(events.ServiceTaskDefs, cat(
			ownKV(events.BucketTaskDefs), ownsEvents(),
		)),
		events.ServiceScheduler: service(events.ServiceScheduler, cat(
			ownKV(events.BucketECSState), ownKV(events.BucketClusters), ownKV(events.BucketSchedMembers),
			ownStream(events.StreamHeartbeats.Name), ownStream(events.StreamAgentReports.Name),
			ownsEvents(),
			[]string{"berth.internal.taskdefs.>", "berth.internal.supervisor.>", "berth.internal.registry.>", "berth.internal.logs.>", "berth.internal.metrics.>", "berth.internal.cron.>"},
			// The replicas' feed of commits (services/scheduler/control)
			// and the ids of the events they stored (internal/outbox).
			[]string{events.SubjInternal(events.ServiceScheduler, "feed"), events.SubjEventsStored(events.ServiceScheduler)},
		), CalloutSubject),
		events.ServiceSupervisor: service(events.ServiceSupervisor, cat(
			ownKV(events.BucketServices), ownsEvents(),
			[]string{calls(events.APIECS)},
		)),
		events.ServiceCron: service(events.ServiceCron, cat(
			ownKV(events.BucketCron), ownKV(events.BucketCronMembers), ownStream(events.StreamCronFires.Name, events.SubjCronFireAll),
			ownsEvents(),
			[]string{calls(events.APIECS)},
		)),
		events.ServiceRegistry: service(events.ServiceRegistry, cat(
			ownKV(events.BucketRegistry), ownObjects(events.ObjectStoreBlobs),
			readKV(events.BucketAccessKeys), ensureStream(kvStream(events.BucketAccessKeys)), ownsEvents(),
			[]string{events.SubjEventsStored(events.ServiceRegistry)},
		)),
		events.ServiceLogs: service(events.ServiceLogs, cat(
			ownKV(events.BucketLogs), ownStream(events.StreamLogs.Name, events.SubjLogsAll),
		)),
		events.ServiceMetrics: service(events.ServiceMetrics, cat(
			ownStream(events.StreamMetricData.Name, "berth.metrics.data.>"),
			ownStream(events.StreamTelemetry.Name),
			readStream(events.StreamHeartbeats.Name),
			// Berth's health metrics: every stream's and consumer's state
			// (counts and lag, never messages).
			[]string{"$JS.API.STREAM.INFO.*", "$JS.API.CONSUMER.INFO.*.*", "$JS.API.CONSUMER.LIST.*", "$JS.API.CONSUMER.NAMES.*"},
			[]string{calls(events.APIECS), calls(events.APILogs)},
		)),
	}
}

// SubscriberPerms is the read-only identity's: events and logs live, and
// reading the EVENTS stream with an ordered consumer. It publishes nothing
// else and reads no bucket.
func SubscriberPerms() Perms {
	s := events.StreamEvents.Name
	return Perms{
		Pub: []string{
			"$JS.API.INFO",
			"$JS.API.STREAM.INFO." + s,
			"$JS.API.CONSUMER.CREATE." + s,
			"$JS.API.CONSUMER.CREATE." + s + ".>",
			"$JS.API.CONSUMER.DELETE." + s + ".>",
			"$JS.API.CONSUMER.INFO." + s + ".>",
			"$JS.API.CONSUMER.MSG.NEXT." + s + ".>",
			"$JS.FC." + s + ".>",
		},
		Sub: []string{events.SubjEventsAll, events.SubjLogsAll, InboxPrefix(Subscriber) + ".>"},
	}
}

// JoinUser is the user name an agent joins with: join.<nonce>.
func JoinUser(nonce string) string { return "join." + nonce }

// JoinPerms lets a joining agent ask to join (SubjJoin) and read the answer,
// nothing else.
func JoinPerms(nonce string) Perms {
	return Perms{
		Pub: []string{SubjJoin},
		Sub: []string{InboxPrefix(JoinUser(nonce)) + ".>"},
	}
}

// SubjJoin is where an agent asks the scheduler to register it.
var SubjJoin = events.SubjInternal(events.ServiceScheduler, "Join")

// AgentUser is the user name of a container instance's agent:
// agent.<Token(cluster)>.<instanceID>.
func AgentUser(cluster, instanceID string) string {
	return "agent." + events.Token(cluster) + "." + instanceID
}

// AgentPerms is what the agent of one container instance may do: publish
// its own heartbeats, reports and telemetry, follow its own assignments,
// ship logs, and read what it needs to pull images and sample Container
// Insights. Nothing names another instance.
func AgentPerms(cluster, instanceID string) Perms {
	state := kvStream(events.BucketECSState)
	filter := "$KV." + events.BucketECSState.Name + "." + events.AssignmentFilter(cluster, instanceID)
	p := Perms{
		Pub: slices.Concat(everyone, []string{
			events.SubjAgentHeartbeat(cluster, instanceID),
			events.SubjAgentReport(cluster, instanceID),
			events.SubjTelemetry(cluster, instanceID),
			"$JS.API.STREAM.INFO." + events.StreamHeartbeats.Name,
			"$JS.API.STREAM.INFO." + events.StreamAgentReports.Name,
			"$JS.API.STREAM.INFO." + events.StreamTelemetry.Name,
			"$JS.API.STREAM.INFO." + state,
			// An ordered consumer of its own assignments only: the
			// filter is part of the subject, and the server checks it.
			"$JS.API.CONSUMER.CREATE." + state + ".*." + filter,
			events.SubjInternal(events.ServiceLogs, "Ship"),
			events.SubjInternal(events.ServiceRegistry, "PullToken"),
			events.SubjAPI(events.APIECR, "BatchGetImage"),
			events.SubjAPI(events.APIECS, "DescribeClusters"),
		}),
		Sub: []string{InboxPrefix(AgentUser(cluster, instanceID)) + ".>"},
	}
	return p
}

// StaticUsers lists the identities in the server configuration, sorted:
// every service, admin and the subscriber.
func StaticUsers() []string {
	var out []string
	for name := range Services() {
		out = append(out, name)
	}
	out = append(out, Admin, Subscriber)
	sort.Strings(out)
	return out
}

// PermsOf returns the permissions of a static identity.
func PermsOf(identity string) (Perms, bool) {
	switch identity {
	case Admin:
		return Perms{All: true}, true
	case Subscriber:
		return SubscriberPerms(), true
	}
	p, ok := Services()[identity]
	return p, ok
}

// HeaderJoinToken carries the join token on a join request.
const HeaderJoinToken = "Berth-Join-Token"

// Expected reports whether a permission violation message is one Berth
// causes on purpose and that changes nothing: an agent stopping a watch of
// its assignments asks to delete its ephemeral consumer, which its identity
// may not do (the server removes it once inactive).
func Expected(msg string) bool {
	return strings.Contains(msg, "Violation") && strings.Contains(msg, "$JS.API.CONSUMER.DELETE."+kvStream(events.BucketECSState)+".")
}
