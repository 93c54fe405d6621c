package events

// Service names: the micro service name each Berth service registers, which
// is also what `$SRV.PING.<name>` answers to and what health checks wait for.
const (
	ServiceTaskDefs   = "taskdefs"
	ServiceScheduler  = "scheduler"
	ServiceSupervisor = "supervisor"
	ServiceCron       = "cron"
	ServiceRegistry   = "registry"
	ServiceLogs       = "logs"
	ServiceMetrics    = "metrics"
	ServiceAgent      = "agent"
	ServiceGateway    = "gateway"
)

// Headers carried on API requests from the gateway to the services.
const (
	// HeaderRequestID is the x-amzn-RequestId the gateway answers with.
	HeaderRequestID = "Berth-Request-Id"
	// HeaderAccessKey is the access key id that signed the request.
	HeaderAccessKey = "Berth-Access-Key"
)
