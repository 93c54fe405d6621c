package supervisor

import (
	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/apierr"
)

// AWS error messages. (AWS) marks wording seen from the real service,
// (unverified) Berth's where AWS's exact text could not be confirmed; the
// codes are AWS's.
const (
	msgClusterNotFound    = "Cluster not found."                                                                                                                 // (AWS)
	msgServiceNotFound    = "Service not found."                                                                                                                 // (AWS)
	msgServiceNotActive   = "Service was not ACTIVE."                                                                                                            // (AWS)
	msgNotIdempotent      = "Creation of service was not idempotent."                                                                                            // (AWS)
	msgScaledAbove0       = "The service cannot be stopped while it is scaled above 0."                                                                          // (AWS)
	msgTaskDefNotFound    = "TaskDefinition not found."                                                                                                          // (AWS)
	msgTaskDefInactive    = "TaskDefinition is inactive"                                                                                                         // (AWS)
	msgServiceNameBlank   = "serviceName can not be blank."                                                                                                      // (unverified)
	msgServiceName        = "Invalid service name. Up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens are allowed."                  // (unverified)
	msgTaskDefBlank       = "TaskDefinition can not be blank."                                                                                                   // (unverified)
	msgServiceBlank       = "Service can not be blank."                                                                                                          // (unverified)
	msgDesiredNegative    = "Invalid desiredCount: the desired count must be greater than or equal to 0."                                                        // (unverified)
	msgReplicaDesired     = "The desiredCount must be specified for services with the REPLICA scheduling strategy."                                              // (unverified)
	msgDaemonDesired      = "The daemon scheduling strategy does not support a desired count for services."                                                      // (AWS)
	msgDaemonStrategy     = "The daemon scheduling strategy does not support placement strategies."                                                              // (AWS)
	msgMaxPercent         = "maximumPercent must be greater than or equal to 100 for services with the REPLICA scheduling strategy."                             // (unverified)
	msgDaemonMaxPercent   = "maximumPercent must be 100 for services with the DAEMON scheduling strategy."                                                       // (unverified)
	msgMinPercent         = "minimumHealthyPercent must be between 0 and 100."                                                                                   // (unverified)
	msgMinAboveMax        = "minimumHealthyPercent must be less than or equal to maximumPercent."                                                                // (unverified)
	msgSchedulingStrategy = "Invalid schedulingStrategy '%s'. Valid values: REPLICA, DAEMON."                                                                    // (unverified)
	msgLaunchType         = "Berth runs services on EC2 container instances only: launch type '%s' is not supported."                                            // (Berth)
	msgCapacityProviders  = "Berth has no capacity providers to run services on: specify launchType EC2 or omit capacityProviderStrategy."                       // (Berth)
	msgUnsupported        = "Berth does not support %s for services."                                                                                            // (Berth)
	msgPropagateTags      = "Invalid value '%s' for 'propagateTags'. Valid values: TASK_DEFINITION, SERVICE, NONE."                                              // (unverified)
	msgTooManyServices    = "The list of services can contain at most 10 entries."                                                                               // (unverified)
	msgServicesEmpty      = "Services cannot be empty."                                                                                                          // (unverified)
	msgInclude            = "include should be one of [TAGS]"                                                                                                    // (unverified)
	msgMaxResults         = "maxResults must be between 1 and 100."                                                                                              // (unverified)
	msgNextToken          = "Invalid nextToken."                                                                                                                 // (unverified)
	msgResourceNotFound   = "The specified resource wasn't found."                                                                                               // (unverified)
	msgTooManyTags        = "Too many tags. A resource can have at most 50 tags."                                                                                // (unverified)
	msgTagReserved        = "Tag keys beginning with 'aws:' are reserved for AWS use."                                                                           // (unverified)
	msgTagKey             = "1 validation error detected: Value at 'tags.%d.member.key' failed to satisfy constraint: Member must have length between 1 and 128" // (unverified)
	msgNamespaceBlank     = "namespace can not be blank."                                                                                                        // (unverified)
	msgNamespaceNotFound  = "Namespace '%s' not found: Berth has no Service Connect namespaces."                                                                 // (Berth)
	msgGracePeriod        = "Health check grace period is only valid for services configured to use load balancers."                                             // (AWS)
)

func errClusterNotFound() error { return apierr.New(events.CodeClusterNotFound, msgClusterNotFound) }

func errServiceNotFound() error { return apierr.New(events.CodeServiceNotFound, msgServiceNotFound) }

func errServiceNotActive() error { return apierr.New(events.CodeServiceNotActive, msgServiceNotActive) }

func invalid(format string, args ...any) error { return apierr.InvalidParameter(format, args...) }

func errClient(format string, args ...any) error { return apierr.Client(format, args...) }
