package events

import (
	"github.com/berth-project/berth/events/ecrapi"
	"github.com/berth-project/berth/events/ecsapi"
	"github.com/berth-project/berth/events/logsapi"
)

// APIRoute says how the gateway serves one AWS JSON 1.1 API: the
// X-Amz-Target prefix it answers, the SigV4 service name it expects, the code
// it uses for server faults, every operation of the AWS model, and the
// operations Berth implements with the service that answers each one on
// SubjAPI(API, op).
type APIRoute struct {
	TargetPrefix string
	API          string
	SigningName  string
	Fault        Code
	// Modelled lists every operation of the AWS model (for telling an
	// unknown operation from one Berth does not implement).
	Modelled map[string][]string
	// Implemented maps an operation to the Berth service that answers it.
	Implemented map[string]string
}

// ECSRoute is Amazon ECS. Later services add their operations here.
var ECSRoute = APIRoute{
	TargetPrefix: ecsapi.TargetPrefix,
	API:          APIECS,
	SigningName:  ecsapi.SigningName,
	Fault:        CodeServer,
	Modelled:     ecsapi.Operations,
	Implemented: map[string]string{
		"RegisterTaskDefinition":     ServiceTaskDefs,
		"DescribeTaskDefinition":     ServiceTaskDefs,
		"ListTaskDefinitions":        ServiceTaskDefs,
		"ListTaskDefinitionFamilies": ServiceTaskDefs,
		"DeregisterTaskDefinition":   ServiceTaskDefs,
		"DeleteTaskDefinitions":      ServiceTaskDefs,

		"CreateCluster":         ServiceScheduler,
		"DescribeClusters":      ServiceScheduler,
		"ListClusters":          ServiceScheduler,
		"DeleteCluster":         ServiceScheduler,
		"UpdateCluster":         ServiceScheduler,
		"UpdateClusterSettings": ServiceScheduler,

		"PutClusterCapacityProviders": ServiceScheduler,
		"DescribeCapacityProviders":   ServiceScheduler,

		"RegisterContainerInstance":     ServiceScheduler,
		"DeregisterContainerInstance":   ServiceScheduler,
		"DescribeContainerInstances":    ServiceScheduler,
		"ListContainerInstances":        ServiceScheduler,
		"UpdateContainerInstancesState": ServiceScheduler,
		"PutAttributes":                 ServiceScheduler,
		"ListAttributes":                ServiceScheduler,
		"DeleteAttributes":              ServiceScheduler,
		"SubmitTaskStateChange":         ServiceScheduler,
		"SubmitContainerStateChange":    ServiceScheduler,

		"RunTask":       ServiceScheduler,
		"StartTask":     ServiceScheduler,
		"StopTask":      ServiceScheduler,
		"DescribeTasks": ServiceScheduler,
		"ListTasks":     ServiceScheduler,

		"CreateService":    ServiceSupervisor,
		"DescribeServices": ServiceSupervisor,
		"ListServices":     ServiceSupervisor,
		"UpdateService":    ServiceSupervisor,
		"DeleteService":    ServiceSupervisor,

		"ListServicesByNamespace": ServiceSupervisor,

		// Tagging spans resources of several owners; the scheduler answers
		// and forwards task-definition ARNs to taskdefs.
		"TagResource":         ServiceScheduler,
		"UntagResource":       ServiceScheduler,
		"ListTagsForResource": ServiceScheduler,

		"PutAccountSetting":        ServiceScheduler,
		"PutAccountSettingDefault": ServiceScheduler,
		"ListAccountSettings":      ServiceScheduler,
		"DeleteAccountSetting":     ServiceScheduler,
	},
}

// ECRRoute is Amazon ECR (operations are added by the registry).
var ECRRoute = APIRoute{
	TargetPrefix: ecrapi.TargetPrefix,
	API:          APIECR,
	SigningName:  ecrapi.SigningName,
	Fault:        CodeServer,
	Modelled:     ecrapi.Operations,
	Implemented: map[string]string{
		"GetAuthorizationToken":         ServiceRegistry,
		"CreateRepository":              ServiceRegistry,
		"DescribeRepositories":          ServiceRegistry,
		"DeleteRepository":              ServiceRegistry,
		"PutImageTagMutability":         ServiceRegistry,
		"PutImageScanningConfiguration": ServiceRegistry,
		"TagResource":                   ServiceRegistry,
		"UntagResource":                 ServiceRegistry,
		"ListTagsForResource":           ServiceRegistry,
		"ListImages":                    ServiceRegistry,
		"DescribeImages":                ServiceRegistry,
		"BatchGetImage":                 ServiceRegistry,
		"PutImage":                      ServiceRegistry,
		"BatchDeleteImage":              ServiceRegistry,
		"BatchCheckLayerAvailability":   ServiceRegistry,
		"StartImageScan":                ServiceRegistry,
		"DescribeImageScanFindings":     ServiceRegistry,
	},
}

// LogsRoute is Amazon CloudWatch Logs (operations are added by the logs
// service).
var LogsRoute = APIRoute{
	TargetPrefix: logsapi.TargetPrefix,
	API:          APILogs,
	// The logs model names no signingName; SigV4 uses its endpointPrefix.
	SigningName: "logs",
	Fault:       CodeServiceUnavailable,
	Modelled:    logsapi.Operations,
	Implemented: map[string]string{
		"CreateLogGroup":        ServiceLogs,
		"DeleteLogGroup":        ServiceLogs,
		"DescribeLogGroups":     ServiceLogs,
		"CreateLogStream":       ServiceLogs,
		"DeleteLogStream":       ServiceLogs,
		"DescribeLogStreams":    ServiceLogs,
		"PutLogEvents":          ServiceLogs,
		"GetLogEvents":          ServiceLogs,
		"FilterLogEvents":       ServiceLogs,
		"PutRetentionPolicy":    ServiceLogs,
		"DeleteRetentionPolicy": ServiceLogs,
		"TagLogGroup":           ServiceLogs,
		"UntagLogGroup":         ServiceLogs,
		"ListTagsLogGroup":      ServiceLogs,
		"TagResource":           ServiceLogs,
		"UntagResource":         ServiceLogs,
		"ListTagsForResource":   ServiceLogs,
	},
}

// Routes lists every API the gateway serves.
func Routes() []APIRoute { return []APIRoute{ECSRoute, ECRRoute, LogsRoute, EventsRoute, MetricsRoute} }

// RequiredServices lists the Berth services that answer at least one
// operation of routes: what a health check waits for.
func RequiredServices(routes []APIRoute) []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range routes {
		for _, svc := range r.Implemented {
			if !seen[svc] {
				seen[svc] = true
				out = append(out, svc)
			}
		}
	}
	return out
}
