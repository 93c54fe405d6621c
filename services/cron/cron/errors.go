package cron

import (
	"fmt"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/apierr"
)

// The one place this package builds the AWS errors callers see. Messages
// follow AWS where known; those marked (unverified) are Berth's wording in
// AWS's style.

func validation(format string, args ...any) *apierr.Error {
	return apierr.New(events.CodeValidation, format, args...)
}

// constraint is the model-level validation message AWS's front end gives.
func constraint(value any, member, rule string) *apierr.Error {
	return validation("1 validation error detected: Value '%v' at '%s' failed to satisfy constraint: %s", value, member, rule)
}

func scheduleNotFound(name string) *apierr.Error {
	return apierr.New(events.CodeResourceNotFound, "Schedule %s does not exist.", name)
}

func groupNotFound(name string) *apierr.Error {
	return apierr.New(events.CodeResourceNotFound, "Schedule group %s does not exist.", name)
}

func scheduleExists(name string) *apierr.Error {
	return apierr.New(events.CodeConflict, "Schedule %s already exists.", name)
}

func groupExists(name string) *apierr.Error {
	return apierr.New(events.CodeConflict, "Schedule group %s already exists.", name)
}

// badSchedulerExpression answers an invalid Scheduler expression
// (unverified wording).
func badSchedulerExpression(e string) *apierr.Error {
	return validation("Invalid Schedule Expression %s.", e)
}

// badRuleExpression answers an invalid rule expression (AWS's wording).
func badRuleExpression() *apierr.Error {
	return validation("Parameter ScheduleExpression is not valid.")
}

func ruleNotFound(name, bus string) *apierr.Error {
	return apierr.New(events.CodeResourceNotFound, "Rule %s does not exist on EventBus %s.", name, bus)
}

func busNotFound(bus string) *apierr.Error {
	return apierr.New(events.CodeResourceNotFound, "Event bus %s does not exist.", bus)
}

func badPattern(reason string) *apierr.Error {
	return apierr.New(events.CodeInvalidEventPattern, "Event pattern is not valid. Reason: %s", reason)
}

func unsupportedTarget(arn string) *apierr.Error {
	return validation("Berth supports ECS cluster, aws-sdk:ecs:runTask and event bus targets only, not %s.", arn)
}

func groupChanged(name string) *apierr.Error {
	return apierr.New(events.CodeConflict, "Schedule group %s was changed while it was being deleted. Try again.", name) // (unverified)
}

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

// messageOf is the caller-facing message of an API error.
func messageOf(err error) string {
	if e, ok := apierr.As(err); ok {
		return e.Message
	}
	return err.Error()
}

func apiNotFound(err error) bool { return apierr.HasCode(err, events.CodeResourceNotFound) }

func apiResourceNotFound(arn string) error {
	return apierr.New(events.CodeResourceNotFound, "Rule %s does not exist.", arn) // (unverified)
}
