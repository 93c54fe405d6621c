package supervisor

import (
	"errors"
	"regexp"
	"strings"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/awsjson"
	"github.com/berth-project/berth/events/ecsapi"
	"github.com/berth-project/berth/scheduler"
)

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,255}$`)

// serviceName returns the name a service reference (name or ARN) names.
func serviceName(ref string) string {
	if events.IsARN(ref) {
		return ref[strings.LastIndexByte(ref, '/')+1:]
	}
	return ref
}

// clusterName returns the cluster a reference names ("" = default).
func clusterName(ref string) (string, error) {
	if ref == "" {
		return "default", nil
	}
	name, err := events.ClusterNameOf(ref)
	if err != nil {
		return "", errClusterNotFound()
	}
	return name, nil
}

// checkPlacement validates placement constraints and strategies.
func checkPlacement(cs []ecsapi.PlacementConstraint, ss []ecsapi.PlacementStrategy) error {
	if err := scheduler.ValidateConstraints(scheduler.ConstraintsFromAPI(cs)); err != nil {
		return placementErr(err)
	}
	if err := scheduler.ValidateStrategies(scheduler.StrategiesFromAPI(ss)); err != nil {
		return placementErr(err)
	}
	return nil
}

func placementErr(err error) error {
	if errors.Is(err, scheduler.ErrInvalidParameter) {
		return invalid("%s", err.Error())
	}
	return err
}

// checkDeploymentConfig validates the percentages of a service with
// strategy and fills in the defaults (REPLICA 100/200, DAEMON 0/100) on a
// copy.
func checkDeploymentConfig(dc *ecsapi.DeploymentConfiguration, strategy string) (ecsapi.DeploymentConfiguration, error) {
	var out ecsapi.DeploymentConfiguration
	if dc != nil {
		out = *dc
	}
	daemon := strategy == events.SchedulingDaemon
	if out.MaximumPercent == nil {
		out.MaximumPercent = awsjson.Int32(200)
		if daemon {
			out.MaximumPercent = awsjson.Int32(100)
		}
	}
	if out.MinimumHealthyPercent == nil {
		out.MinimumHealthyPercent = awsjson.Int32(100)
		if daemon {
			out.MinimumHealthyPercent = awsjson.Int32(0)
		}
	}
	maxP, minP := *out.MaximumPercent, *out.MinimumHealthyPercent
	switch {
	case daemon && maxP != 100:
		return out, invalid(msgDaemonMaxPercent)
	case !daemon && maxP < 100:
		return out, invalid(msgMaxPercent)
	case minP < 0 || minP > 100:
		return out, invalid(msgMinPercent)
	case minP > maxP:
		return out, invalid(msgMinAboveMax)
	}
	if out.DeploymentCircuitBreaker == nil {
		out.DeploymentCircuitBreaker = &ecsapi.DeploymentCircuitBreaker{Enable: awsjson.Bool(false), Rollback: awsjson.Bool(false)}
	}
	cb := out.DeploymentCircuitBreaker
	if cb.Enable == nil {
		cb.Enable = awsjson.Bool(false)
	}
	if cb.Rollback == nil {
		cb.Rollback = awsjson.Bool(false)
	}
	return out, nil
}

// checkTags validates service tags as ECS does.
func checkTags(tags []ecsapi.Tag) error {
	if len(tags) > 50 {
		return invalid(msgTooManyTags)
	}
	for i, t := range tags {
		if len(t.Key) < 1 || len(t.Key) > 128 {
			return invalid(msgTagKey, i+1)
		}
		if strings.HasPrefix(strings.ToLower(t.Key), "aws:") {
			return invalid(msgTagReserved)
		}
	}
	return nil
}

func checkPropagate(v string) error {
	switch v {
	case "", "TASK_DEFINITION", "SERVICE", "NONE":
		return nil
	}
	return invalid(msgPropagateTags, v)
}

// checkUnsupported refuses what Berth's services cannot do.
func checkUnsupported(launchType string, cps []ecsapi.CapacityProviderStrategyItem, lbs []ecsapi.LoadBalancer, regs []ecsapi.ServiceRegistry, sc *ecsapi.ServiceConnectConfiguration, dctl *ecsapi.DeploymentController) error {
	switch {
	case launchType != "" && launchType != events.LaunchTypeEC2:
		return invalid(msgLaunchType, launchType)
	case len(cps) > 0:
		return invalid(msgCapacityProviders)
	case len(lbs) > 0:
		return invalid(msgUnsupported, "load balancers")
	case len(regs) > 0:
		return invalid(msgUnsupported, "service registries")
	case sc != nil && awsjson.Value(sc.Enabled):
		return invalid(msgUnsupported, "Service Connect")
	case dctl != nil && dctl.Type != "" && dctl.Type != "ECS":
		return invalid(msgUnsupported, "the "+dctl.Type+" deployment controller")
	}
	return nil
}
