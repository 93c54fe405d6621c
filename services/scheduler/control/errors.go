package control

import (
	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/apierr"
)

// AWS error messages. Those marked (unverified) are Berth's wording where
// AWS's exact text could not be confirmed; the codes are AWS's.
const (
	msgClusterNotFound = "Cluster not found."
	msgClusterInactive = "The specified cluster is inactive. Specify an active cluster and try again."

	msgContainsInstances = "The Cluster cannot be deleted while Container Instances are active or draining."
	msgContainsServices  = "The Cluster cannot be deleted while Services are active."
	msgContainsTasks     = "The Cluster cannot be deleted while Tasks are active."

	msgSettingName  = "Invalid setting 'name'" // (unverified; the value message is AWS's)
	msgSettingValue = "Invalid setting 'value'"

	msgClusterName         = "Invalid cluster name. Up to 255 letters (uppercase and lowercase), numbers, underscores, and hyphens are allowed." // (unverified)
	msgClusterRequired     = "Cluster can not be blank."                                                                                         // (unverified)
	msgTooManyClusters     = "The list of clusters can contain at most 100 entries."                                                             // (unverified)
	msgInclude             = "include should be one of [ATTACHMENTS,CONFIGURATIONS,SETTINGS,STATISTICS,TAGS]"                                    // (unverified)
	msgMaxResults          = "maxResults must be between 1 and 100."                                                                             // (unverified)
	msgNextToken           = "Invalid nextToken."                                                                                                // (unverified)
	msgExecLogging         = "Invalid value for executeCommandConfiguration.logging. Valid values are NONE, DEFAULT, OVERRIDE."                  // (unverified)
	msgUnknownCapProvider  = "The specified capacity provider '%s' does not exist. Specify a valid capacity provider and try again."             // (unverified)
	msgStrategyNotAttached = "The specified capacity provider strategy cannot contain a capacity provider that is not associated with the cluster. Associate the capacity provider with the cluster or specify a valid capacity provider and try again."
	msgStrategyWeight      = "The capacity provider strategy weight must be between 0 and 1000."           // (unverified)
	msgStrategyBase        = "The capacity provider strategy base must be between 0 and 100000."           // (unverified)
	msgStrategyOneBase     = "Only one capacity provider in a strategy can have a base defined."           // (unverified)
	msgStrategyDuplicate   = "The capacity provider strategy cannot contain duplicate capacity providers." // (unverified)

	msgInvalidARN       = "Invalid identifier: Unexpected number of separators" // (unverified)
	msgOtherAccount     = "Invalid identifier: Identifier is for %s. Your accountId is %s"
	msgLongARN          = "Long arn format must be used for tagging operations"
	msgNotTaggable      = "The specified resource type does not support tagging." // (unverified)
	msgResourceNotFound = "The specified resource wasn't found."                  // (unverified; the model's description)
	msgResourceRequired = "resourceArn can not be blank."                         // (unverified)

	// Tag messages: the same wording as the taskdefs service (Coral-style
	// validation messages; the others unverified).
	msgTooManyTags    = "Too many tags. A resource can have at most 50 tags."
	msgTagKeyShort    = "1 validation error detected: Value at 'tags.%d.member.key' failed to satisfy constraint: Member must have length greater than or equal to 1"
	msgTagKeyLong     = "1 validation error detected: Value at 'tags.%d.member.key' failed to satisfy constraint: Member must have length less than or equal to 128"
	msgTagValLong     = "1 validation error detected: Value at 'tags.%d.member.value' failed to satisfy constraint: Member must have length less than or equal to 256"
	msgTagKeyPattern  = "1 validation error detected: Value '%s' at 'tags.%d.member.key' failed to satisfy constraint: Member must satisfy regular expression pattern: ^([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)$"
	msgTagValPattern  = "1 validation error detected: Value '%s' at 'tags.%d.member.value' failed to satisfy constraint: Member must satisfy regular expression pattern: ^([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)$"
	msgTagKeyReserved = "Tag keys beginning with 'aws:' are reserved for AWS use."
	msgTagValReserved = "Tag values beginning with 'aws:' are reserved for AWS use."
	msgTagDuplicate   = "Duplicate tag key '%s'. Each tag key must be unique."
	msgTagKeysEmpty   = "tagKeys can not be empty." // (unverified)
	msgUntagKeyShort  = "1 validation error detected: Value at 'tagKeys.%d.member' failed to satisfy constraint: Member must have length greater than or equal to 1"
	msgUntagKeyLong   = "1 validation error detected: Value at 'tagKeys.%d.member' failed to satisfy constraint: Member must have length less than or equal to 128"
)

// Container instance, attribute and task messages. Marked (moto) where moto
// copies AWS's text, (AWS) where seen from the real service.
const (
	msgInstancesEmpty     = "Container Instances cannot be empty."                                                                                                                                                                                                                   // (moto)
	msgTooManyInstances   = "The list of container instances can contain at most %d entries."                                                                                                                                                                                        // (unverified)
	msgInstanceRequired   = "containerInstance can not be blank."                                                                                                                                                                                                                    // (unverified)
	msgInstanceNotFound   = "The referenced container instance was not found."                                                                                                                                                                                                       // (unverified)
	msgRunningTasks       = "Found running tasks on the instance."                                                                                                                                                                                                                   // (moto)
	msgInstanceStatus     = "Container instance status should be one of [ACTIVE, DRAINING]"                                                                                                                                                                                          // (moto)
	msgListStatus         = "Invalid status '%s'. Valid values: ACTIVE, DRAINING, REGISTERING, DEREGISTERING, REGISTRATION_FAILED."                                                                                                                                                  // (unverified)
	msgInstanceInclude    = "include should be one of [TAGS,CONTAINER_INSTANCE_HEALTH]"                                                                                                                                                                                              // (unverified)
	msgTotalResources     = "totalResources must include CPU and MEMORY as INTEGER resources."                                                                                                                                                                                       // (unverified)
	msgResourceValue      = "Invalid value for resource '%s'."                                                                                                                                                                                                                       // (unverified)
	msgResourceName       = "Invalid resource name '%s'. Valid names: CPU, MEMORY, PORTS, PORTS_UDP."                                                                                                                                                                                // (unverified)
	msgIdentityDocument   = "Invalid instanceIdentityDocument: it must be a JSON document."                                                                                                                                                                                          // (unverified)
	msgInstanceArn        = "The containerInstanceArn does not belong to the cluster."                                                                                                                                                                                               // (unverified)
	msgTooManyPorts       = "A container instance can reserve at most 100 ports."                                                                                                                                                                                                    // (unverified)
	msgAttributesEmpty    = "attributes can not be empty"                                                                                                                                                                                                                            // (moto)
	msgTooManyAttributes  = "You can specify up to 10 attributes in a single call."                                                                                                                                                                                                  // (unverified; the model's documentation)
	msgAttributeLimit     = "You can apply up to 10 custom attributes for each resource."                                                                                                                                                                                            // (the model's documentation)
	msgTargetType         = "targetType must be container-instance"                                                                                                                                                                                                                  // (moto)
	msgTargetNotFound     = "Could not find %s"                                                                                                                                                                                                                                      // (moto)
	msgTargetRequired     = "targetId can not be blank."                                                                                                                                                                                                                             // (unverified)
	msgAttributeName      = "Invalid attribute name '%s'. The name must contain between 1 and 128 letters (uppercase and lowercase), numbers, hyphens, underscores, forward slashes, back slashes, or periods."                                                                      // (unverified)
	msgAttributeValue     = "Invalid value for attribute '%s'. The value must contain between 1 and 128 letters (uppercase and lowercase), numbers, hyphens, underscores, periods, at signs, forward slashes, back slashes, colons, or spaces, and can't start or end with a space." // (unverified)
	msgAttributeValueOnly = "attributeValue can only be specified together with attributeName."                                                                                                                                                                                      // (unverified)

	msgTaskDefRequired       = "TaskDefinition can not be blank."                                                                          // (unverified)
	msgTaskDefNotFound       = "TaskDefinition not found."                                                                                 // (AWS)
	msgTaskDefInactive       = "TaskDefinition is inactive"                                                                                // (AWS)
	msgCount                 = "count must be between 1 and 10."                                                                           // (unverified)
	msgLaunchType            = "Berth runs tasks on EC2 container instances and Fargate capacity only: launch type '%s' is not supported." // (Berth)
	msgOverrideName          = "Override for container named %s is not a container in the TaskDefinition."                                 // (AWS)
	msgOverridesTooLong      = "Overrides are limited to 8192 characters."                                                                 // (unverified)
	msgStartedBy             = "startedBy can contain at most 128 characters."                                                             // (unverified)
	msgClientToken           = "clientToken can contain up to 64 ASCII characters in the range 33-126."                                    // (unverified; the limits are AWS's)
	msgTokenConflict         = "The specified clientToken is already in use with a different RunTask request."                             // (unverified; the model's description)
	msgPropagateTags         = "Invalid value '%s' for 'propagateTags'. Valid values: TASK_DEFINITION, SERVICE, NONE."                     // (unverified)
	msgTooManyStartInstances = "You can specify up to 10 container instances."                                                             // (unverified)
	msgTaskRequired          = "Task can not be blank."                                                                                    // (unverified)
	msgTaskNotFound          = "The referenced task was not found."                                                                        // (AWS)
	msgTasksEmpty            = "Tasks cannot be empty."                                                                                    // (moto)
	msgTooManyTasks          = "The list of tasks can contain at most 100 entries."                                                        // (unverified)
	msgTaskInclude           = "include should be one of [TAGS]"                                                                           // (unverified)
	msgDesiredStatus         = "Invalid value '%s' for 'desiredStatus'. Valid values: RUNNING, PENDING, STOPPED."                          // (unverified)
	msgListLaunchType        = "Invalid value '%s' for 'launchType'. Valid values: EC2, FARGATE, EXTERNAL, MANAGED_INSTANCES."             // (unverified)
	msgReasonTooLong         = "reason can contain at most 255 characters."                                                                // (unverified)
	msgTaskStatus            = "Invalid task status '%s'."                                                                                 // (unverified)
	msgDefaultStopReason     = "Task stopped by user"                                                                                      // (AWS)
	msgDeregisterReason      = "Container instance deregistered"                                                                           // (Berth)
)

func errClusterNotFound() error { return apierr.New(events.CodeClusterNotFound, msgClusterNotFound) }

func errClusterInactive() error { return apierr.InvalidParameter(msgClusterInactive) }

func invalid(format string, args ...any) error { return apierr.InvalidParameter(format, args...) }

func errTargetNotFound(target string) error {
	return apierr.New(events.CodeTargetNotFound, msgTargetNotFound, target)
}

func errAttributeLimit() error {
	return apierr.New(events.CodeAttributeLimitExceeded, msgAttributeLimit)
}

func errTokenConflict(arns []string) error {
	e := apierr.New(events.CodeConflict, msgTokenConflict)
	e.Extra = map[string]any{"resourceIds": arns}
	return e
}

func errClient(format string, args ...any) error { return apierr.Client(format, args...) }
