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

func errClusterNotFound() error { return apierr.New(events.CodeClusterNotFound, msgClusterNotFound) }

func errClusterInactive() error { return apierr.InvalidParameter(msgClusterInactive) }

func invalid(format string, args ...any) error { return apierr.InvalidParameter(format, args...) }
