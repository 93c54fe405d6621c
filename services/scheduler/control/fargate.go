package control

import (
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/awsjson"
	"github.com/berth-project/berth/events/ecsapi"
	"github.com/berth-project/berth/internal/apierr"
	"github.com/berth-project/berth/scheduler"
)

// Fargate and awsvpc on the control plane. A Fargate task (launchType
// FARGATE, or a FARGATE / FARGATE_SPOT capacity provider) runs on a Berth
// agent that offers Fargate capacity: one advertising AttrFargate (the agent
// does when its awsvpc network is on). It holds its resources there like any
// task, but DescribeTasks, ListTasks --container-instance and the
// instance's task counts do not show it on that instance, as on AWS. An
// awsvpc task (Fargate or EC2) carries its RunTask networkConfiguration and
// shows its network, as the agent reports it, as an ElasticNetworkInterface
// attachment.

// AttrFargate is the instance attribute of a Berth agent offering Fargate
// capacity (FARGATE and FARGATE_SPOT).
const AttrFargate = "berth.fargate"

// Fargate values DescribeTasks shows.
const (
	launchTypeFargate      = "FARGATE"
	fargatePlatformVersion = "1.4.0"
	fargatePlatformFamily  = "Linux"
	fargateEphemeralGiB    = 20
	attachmentENI          = "ElasticNetworkInterface"
)

// Network and Fargate messages; (AWS) where seen from the real service.
const (
	msgNetConfRequired  = "Network Configuration must be provided when networkMode 'awsvpc' is specified."                                              // (AWS)
	msgNetConfNotValid  = "Network Configuration is not valid for the given networkMode of this task definition."                                       // (AWS)
	msgPublicIP         = "Assign public IP is not supported for this launch type."                                                                     // (AWS)
	msgPublicIPValue    = "Invalid value '%s' for 'assignPublicIp'. Valid values: ENABLED, DISABLED."                                                   // (unverified)
	msgSubnetsEmpty     = "subnets can not be empty."                                                                                                   // (unverified)
	msgTooManySubnets   = "subnets can have at most 16 items."                                                                                          // (unverified)
	msgTooManySGs       = "securityGroups can have at most 5 items."                                                                                    // (unverified)
	msgSubnetID         = "Error retrieving subnet information for [%s]: Invalid id: \"%s\" (expecting \"subnet-...\")"                                 // (unverified)
	msgSecurityGroupID  = "Error retrieving security group information for [%s]: Invalid id: \"%s\" (expecting \"sg-...\")"                             // (unverified)
	msgLaunchAndCP      = "Specifying both a launch type and capacity provider strategy is not supported. Remove one and try again."                    // (AWS)
	msgTaskDefLaunch    = "Task definition does not support launch_type %s."                                                                            // (AWS)
	msgFargateSize      = "No Fargate configuration exists for given values: %s CPU, %s memory. See the Amazon ECS documentation for the valid values." // (AWS)
	msgPlatformUnknown  = "The specified platform does not exist."                                                                                      // (unverified)
	msgEphemeralStorage = "The ephemeral storage size must be between 21 and 200 GiB."                                                                  // (unverified)
	msgEphemeralEC2     = "Ephemeral storage configuration is only supported for tasks using the Fargate launch type."                                  // (unverified)
)

var (
	subnetIDRE = regexp.MustCompile(`^subnet-([0-9a-f]{8}|[0-9a-f]{17})$`)
	sgIDRE     = regexp.MustCompile(`^sg-([0-9a-f]{8}|[0-9a-f]{17})$`)
)

// launch is how the tasks of one RunTask run: on EC2 container instances
// (providers nil) or on Fargate capacity, the capacity provider of each
// task in order.
type launch struct {
	fargate   bool
	providers []string
}

// provider is the capacity provider of the i-th task ("" on EC2).
func (l launch) provider(i int) string {
	if !l.fargate || len(l.providers) == 0 {
		return ""
	}
	return l.providers[i%len(l.providers)]
}

// resolveLaunch decides between EC2 and Fargate from RunTask's launchType,
// capacityProviderStrategy and the cluster's default strategy.
func resolveLaunch(c *events.ClusterRecord, launchType string, strategy []ecsapi.CapacityProviderStrategyItem, count int) (launch, error) {
	switch {
	case launchType != "" && len(strategy) > 0:
		return launch{}, invalid(msgLaunchAndCP)
	case launchType == events.LaunchTypeEC2:
		return launch{}, nil
	case launchType == launchTypeFargate:
		return launch{fargate: true, providers: []string{"FARGATE"}}, nil
	case launchType != "":
		return launch{}, invalid(msgLaunchType, launchType)
	case len(strategy) > 0:
		if err := checkCapacity(c.CapacityProviders, strategy); err != nil {
			return launch{}, err
		}
		return launch{fargate: true, providers: distribute(recordStrategy(strategy), count)}, nil
	case len(c.DefaultCapacityProviderStrategy) > 0:
		return launch{fargate: true, providers: distribute(c.DefaultCapacityProviderStrategy, count)}, nil
	}
	return launch{}, nil
}

// distribute spreads count tasks over a capacity provider strategy as ECS
// does: the provider with a base gets its base first, the rest go by
// weight (all providers alike when every weight is 0).
func distribute(strategy []events.ClusterCapacityProviderItem, count int) []string {
	out := make([]string, 0, count)
	for _, it := range strategy {
		for n := int32(0); n < it.Base && len(out) < count; n++ {
			out = append(out, it.CapacityProvider)
		}
	}
	total := int32(0)
	for _, it := range strategy {
		total += it.Weight
	}
	placed := make([]int32, len(strategy))
	for k := 0; len(out) < count; k++ {
		// The provider furthest below its weighted share takes the next task.
		best, bestGap := 0, float64(-1<<31)
		for i, it := range strategy {
			share := 1.0 / float64(len(strategy))
			if total > 0 {
				share = float64(it.Weight) / float64(total)
			}
			if share == 0 {
				continue
			}
			gap := share*float64(k+1) - float64(placed[i])
			if gap > bestGap {
				best, bestGap = i, gap
			}
		}
		placed[best]++
		out = append(out, strategy[best].CapacityProvider)
	}
	return out
}

// checkPlatformVersion accepts Fargate's platform versions Berth offers.
func checkPlatformVersion(l launch, v string) error {
	if !l.fargate || v == "" || v == "LATEST" || v == fargatePlatformVersion {
		return nil
	}
	return apierr.New(events.CodePlatformUnknown, msgPlatformUnknown)
}

// checkLaunchSpec checks a resolved task spec against the launch and the
// network configuration, records both on sp and adds the placement
// attribute of Fargate capacity.
func checkLaunchSpec(sp *taskSpec, l launch, nc *ecsapi.NetworkConfiguration) error {
	td := &sp.td.TaskDefinition
	if l.fargate {
		if !slices.Contains(td.Compatibilities, launchTypeFargate) {
			return invalid(msgTaskDefLaunch, launchTypeFargate)
		}
		if !scheduler.FargateTaskSize(sp.res.CPU, sp.res.Memory) {
			return invalid(msgFargateSize, strconv.FormatInt(sp.res.CPU, 10), strconv.FormatInt(sp.res.Memory, 10))
		}
		sp.attrs = append(sp.attrs, scheduler.Attribute{Name: AttrFargate})
	}
	if err := checkEphemeral(l, sp.overrides); err != nil {
		return err
	}
	if err := checkNetwork(l, td.NetworkMode, nc); err != nil {
		return err
	}
	sp.launch, sp.network = l, nc
	return nil
}

func checkEphemeral(l launch, ov *ecsapi.TaskOverride) error {
	if ov == nil || ov.EphemeralStorage == nil {
		return nil
	}
	if !l.fargate {
		return invalid(msgEphemeralEC2)
	}
	if n := awsjson.Value(ov.EphemeralStorage.SizeInGiB); n < 21 || n > 200 {
		return invalid(msgEphemeralStorage)
	}
	return nil
}

// checkNetwork validates the networkConfiguration of a task in mode.
func checkNetwork(l launch, mode string, nc *ecsapi.NetworkConfiguration) error {
	awsvpc := strings.EqualFold(mode, "awsvpc")
	switch {
	case !awsvpc && nc != nil:
		return invalid(msgNetConfNotValid)
	case !awsvpc:
		return nil
	case nc == nil || nc.AwsvpcConfiguration == nil:
		return invalid(msgNetConfRequired)
	}
	vc := nc.AwsvpcConfiguration
	switch vc.AssignPublicIp {
	case "", "DISABLED":
	case "ENABLED":
		if !l.fargate {
			return invalid(msgPublicIP)
		}
	default:
		return invalid(msgPublicIPValue, vc.AssignPublicIp)
	}
	switch {
	case len(vc.Subnets) == 0:
		return invalid(msgSubnetsEmpty)
	case len(vc.Subnets) > 16:
		return invalid(msgTooManySubnets)
	case len(vc.SecurityGroups) > 5:
		return invalid(msgTooManySGs)
	}
	for _, s := range vc.Subnets {
		if !subnetIDRE.MatchString(s) {
			return invalid(msgSubnetID, s, s)
		}
	}
	for _, g := range vc.SecurityGroups {
		if !sgIDRE.MatchString(g) {
			return invalid(msgSecurityGroupID, g, g)
		}
	}
	return nil
}

// applyLaunch marks the i-th new task of sp as Fargate and/or awsvpc.
func applyLaunch(t *events.TaskRecord, sp *taskSpec, i int) {
	if p := sp.launch.provider(i); p != "" {
		t.LaunchType = launchTypeFargate
		t.CapacityProviderName = p
		t.PlatformVersion = fargatePlatformVersion
	}
	if sp.network != nil {
		nc := *sp.network
		if nc.AwsvpcConfiguration != nil {
			vc := *nc.AwsvpcConfiguration
			if vc.AssignPublicIp == "" {
				vc.AssignPublicIp = "DISABLED"
			}
			nc.AwsvpcConfiguration = &vc
		}
		t.NetworkConfiguration = &nc
		t.AttachmentID = newUUID()
	}
}

// renderFargate adds to out what a Fargate or awsvpc task shows: the
// platform, no container instance, the ENI attachment and the containers'
// network interfaces.
func renderFargate(out *ecsapi.Task, t *events.TaskRecord) {
	if t.LaunchType == launchTypeFargate {
		out.ContainerInstanceArn = ""
		out.CapacityProviderName = t.CapacityProviderName
		out.PlatformVersion = t.PlatformVersion
		out.PlatformFamily = fargatePlatformFamily
		out.EphemeralStorage = &ecsapi.EphemeralStorage{SizeInGiB: awsjson.Int32(fargateEphemeralGiB)}
		if ov := t.Overrides; ov != nil && ov.EphemeralStorage != nil {
			out.EphemeralStorage = &ecsapi.EphemeralStorage{SizeInGiB: ov.EphemeralStorage.SizeInGiB}
		}
	}
	a, ok := eniAttachment(t)
	if !ok {
		return
	}
	out.Attachments = []ecsapi.Attachment{a}
	if t.Network == nil || t.Network.PrivateIPv4Address == "" {
		return
	}
	for i := range out.Containers {
		out.Containers[i].NetworkInterfaces = []ecsapi.NetworkInterface{{
			AttachmentId: t.AttachmentID, PrivateIpv4Address: t.Network.PrivateIPv4Address,
		}}
	}
}

// eniAttachment is the ElasticNetworkInterface attachment of an awsvpc
// task: PRECREATED until its agent reports the network, ATTACHED while the
// task's namespace exists, DELETED once it is gone.
func eniAttachment(t *events.TaskRecord) (ecsapi.Attachment, bool) {
	if t.AttachmentID == "" || t.NetworkConfiguration == nil || t.NetworkConfiguration.AwsvpcConfiguration == nil {
		return ecsapi.Attachment{}, false
	}
	a := ecsapi.Attachment{Id: t.AttachmentID, Type: attachmentENI, Status: "PRECREATED"}
	subnets := t.NetworkConfiguration.AwsvpcConfiguration.Subnets
	if len(subnets) > 0 {
		a.Details = append(a.Details, ecsapi.KeyValuePair{Name: "subnetId", Value: subnets[0]})
	}
	n := t.Network
	if n == nil {
		if t.Stopped() {
			a.Status = "DELETED"
		}
		return a, true
	}
	a.Status = "ATTACHED"
	if !n.Attached || t.Stopped() {
		a.Status = "DELETED"
	}
	a.Details = append(a.Details, ecsapi.KeyValuePair{Name: "networkInterfaceId", Value: n.NetworkInterfaceID})
	if n.MacAddress != "" {
		a.Details = append(a.Details, ecsapi.KeyValuePair{Name: "macAddress", Value: n.MacAddress})
	}
	if ip, err := netip.ParseAddr(n.PrivateIPv4Address); err == nil && ip.Is4() {
		a.Details = append(a.Details,
			ecsapi.KeyValuePair{Name: "privateDnsName", Value: "ip-" + strings.ReplaceAll(ip.String(), ".", "-") + ".ec2.internal"},
			ecsapi.KeyValuePair{Name: "privateIPv4Address", Value: ip.String()})
	}
	return a, true
}
