package agent

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/ecsapi"
	"github.com/berth-project/berth/services/agent/docker"
	"github.com/berth-project/berth/services/agent/docker/dockertest"
)

// An agent with an awsvpc subnet offers awsvpc (ecs.capability.task-eni),
// runs an awsvpc task in its own namespace, reports the task's network
// (the ENI's id, address, subnet, MAC) and says it is detached once the
// task stopped. Its containers reach the task metadata endpoint.
func TestAgent_AWSVPC(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	netw := dockertest.AWSVPCNetwork(t, e.dc, e.owner) // a free subnet; the agent takes the network as it is
	cfg := e.config()
	cfg.AWSVPCSubnet = netw.Subnet.String()
	a, _ := e.start(cfg)

	e.mu.Lock()
	attrs := e.registers[len(e.registers)-1].Attributes
	e.mu.Unlock()
	if !slices.ContainsFunc(attrs, func(at ecsapi.Attribute) bool { return at.Name == "ecs.capability.task-eni" }) {
		t.Errorf("no ecs.capability.task-eni in %v", attrs)
	}
	if !slices.ContainsFunc(attrs, func(at ecsapi.Attribute) bool { return at.Name == "berth.fargate" }) {
		t.Errorf("no berth.fargate (Fargate capacity) in %v", attrs)
	}

	check := `out=$(wget -qO- "$ECS_CONTAINER_METADATA_URI_V4/task") || exit 1; case "$out" in *"\"TaskARN\": \"$EXPECT\""*) exit 0;; *) echo "$out"; exit 4;; esac`
	asg := e.task(a.ContainerInstanceArn(), ecsapi.TaskDefinition{NetworkMode: "awsvpc", Cpu: "256", Memory: "512",
		RequiresCompatibilities: []string{"FARGATE"}, ContainerDefinitions: []ecsapi.ContainerDefinition{
			sleeper("app", 0),
			{Name: "meta", Essential: ptr(false), Command: []string{"sh", "-c", check}},
		}})
	asg.TaskDefinition.ContainerDefinitions[1].Environment = []ecsapi.KeyValuePair{{Name: "EXPECT", Value: asg.TaskArn}}
	e.put(asg)
	r := e.waitReport(asg.TaskArn, 30*time.Second, "RUNNING and meta done", func(r events.TaskStateReport) bool {
		return r.LastStatus == "RUNNING" && container(r, "meta").LastStatus == "STOPPED"
	})
	if c := container(r, "meta"); c.ExitCode == nil || *c.ExitCode != 0 {
		t.Errorf("metadata endpoint from an awsvpc task: %s", summary(r))
	}
	if len(r.Containers) != 2 {
		t.Errorf("containers %s (the pause container is not one of them)", summary(r))
	}
	n := r.Network
	if n == nil {
		t.Fatalf("no network in %s", summary(r))
	}
	ip, err := netip.ParseAddr(n.PrivateIPv4Address)
	if err != nil || !netw.Subnet.Contains(ip) || n.NetworkInterfaceID != events.ENIID(asg.TaskArn) ||
		n.SubnetIPv4CidrBlock != netw.Subnet.String() || n.GatewayIPv4Address != netw.Gateway.String() || n.MacAddress == "" || !n.Attached {
		t.Fatalf("network %+v (subnet %s)", n, netw.Subnet)
	}

	// The metadata endpoint shows the task's network, as on Fargate.
	var mc metaContainer
	if code := getJSON(t, a.hostBase+"/v4/"+a.metadataID(asg.TaskArn, "app"), &mc); code != 200 || len(mc.Networks) != 1 ||
		mc.Networks[0].NetworkMode != "awsvpc" || !slices.Equal(mc.Networks[0].IPv4Addresses, []string{n.PrivateIPv4Address}) ||
		mc.Networks[0].MACAddress != n.MacAddress || mc.Networks[0].IPv4SubnetCIDRBlock != netw.Subnet.String() {
		t.Errorf("metadata %d: networks %+v", code, mc.Networks)
	}

	e.stopTask(&asg)
	r = e.waitStatus(asg.TaskArn, 30*time.Second, "STOPPED")
	if r.Network == nil || r.Network.Attached || r.Network.PrivateIPv4Address != n.PrivateIPv4Address {
		t.Errorf("stopped: network %+v", r.Network)
	}
	dockertest.Eventually(t, 10*time.Second, 100*time.Millisecond, func() error {
		if info, err := e.dc.InspectNetwork(t.Context(), docker.AWSVPCNetworkName(e.owner)); err != nil || info.Endpoints != 0 {
			return fmt.Errorf("endpoints %d (%v): the address is not free", info.Endpoints, err)
		}
		return nil
	})
}

func TestParseAWSVPCSubnet(t *testing.T) {
	if p, err := ParseAWSVPCSubnet(" 10.200.1.7/16 "); err != nil || p.String() != "10.200.0.0/16" {
		t.Errorf("got %v, %v", p, err)
	}
	for _, bad := range []string{"10.0.0.0/30", "fd00::/64", "10.0.0.0", "x"} {
		if _, err := ParseAWSVPCSubnet(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
		if err := (Config{AWSVPCSubnet: bad}).withDefaults().validate(); err == nil {
			t.Errorf("config with %q accepted", bad)
		}
	}
}

// A restarted agent adopts an awsvpc task as it is: the same containers,
// the same pause container, the same address.
func TestAgent_AWSVPCAdoptedAfterRestart(t *testing.T) {
	t.Parallel()
	e := newEnv(t, false)
	netw := dockertest.AWSVPCNetwork(t, e.dc, e.owner)
	cfg := e.config()
	cfg.AWSVPCSubnet = netw.Subnet.String()
	a, stop := e.start(cfg)
	asg := e.task(a.ContainerInstanceArn(), ecsapi.TaskDefinition{NetworkMode: "awsvpc", ContainerDefinitions: []ecsapi.ContainerDefinition{sleeper("app", 0)}})
	e.put(asg)
	r := e.waitReport(asg.TaskArn, 30*time.Second, "RUNNING with a network", func(r events.TaskStateReport) bool {
		return r.LastStatus == "RUNNING" && r.Network != nil
	})
	before, id := r.Network.PrivateIPv4Address, container(r, "app").RuntimeID
	stop()

	n := len(e.reportsOf(asg.TaskArn))
	e.start(cfg)
	r = e.waitReport(asg.TaskArn, 30*time.Second, "a report from the new agent", func(r events.TaskStateReport) bool {
		return len(e.reportsOf(asg.TaskArn)) > n && r.LastStatus == "RUNNING"
	})
	if r.Network == nil || r.Network.PrivateIPv4Address != before || !r.Network.Attached || container(r, "app").RuntimeID != id {
		t.Fatalf("after restart: %s, network %+v (was %s on %s)", summary(r), r.Network, before, id)
	}
	if got := len(e.containers(asg.TaskArn)); got != 2 {
		t.Fatalf("%d containers for the task, want app and its pause container", got)
	}
}
