package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// taskDefsStream is the JetStream stream behind the task definitions bucket
// (events.BucketTaskDefs, "ecs_taskdefs").
const taskDefsStream = "KV_ecs_taskdefs"

// natsIP is a NATS node container's address on the project network: the
// monitoring port 8222 is not published, the host reaches it there.
func (s *stack) natsIP(t *testing.T, node string) string {
	t.Helper()
	out, err := exec.Command("docker", "inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", s.container(node, 1)).Output()
	if err != nil {
		t.Fatalf("docker inspect %s: %v", node, err)
	}
	f := strings.Fields(string(out))
	if len(f) == 0 {
		t.Fatalf("%s has no address", node)
	}
	return f[0]
}

// streamLeader asks the nodes' monitoring endpoint (/jsz) which node leads
// stream, so a fault test can hit the leader of what it loads.
func (s *stack) streamLeader(t *testing.T, stream string) string {
	t.Helper()
	var leader string
	eventually(t, time.Minute, time.Second, func() error {
		var lastErr error
		for _, node := range []string{"nats-1", "nats-2", "nats-3"} {
			l, err := s.askLeader(t, node, stream)
			if err == nil && l != "" {
				leader = l
				return nil
			}
			lastErr = err
		}
		return fmt.Errorf("no node names a leader of %s: %v", stream, lastErr)
	})
	return leader
}

func (s *stack) askLeader(t *testing.T, node, stream string) (string, error) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + s.natsIP(t, node) + ":8222/jsz?accounts=true&streams=true")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var jsz struct {
		AccountDetails []struct {
			StreamDetail []struct {
				Name    string
				Cluster struct{ Leader string }
			} `json:"stream_detail"`
		} `json:"account_details"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&jsz); err != nil {
		return "", err
	}
	for _, a := range jsz.AccountDetails {
		for _, st := range a.StreamDetail {
			if st.Name == stream {
				return st.Cluster.Leader, nil
			}
		}
	}
	return "", fmt.Errorf("%s: no stream %s", node, stream)
}

// testPartitionNATSNode cuts the node leading the task definitions stream
// off the project network under load (a partition of one node: it loses
// its routes and its clients); the majority side keeps working and nothing
// committed is lost. The node is connected again afterwards.
func (s *stack) testPartitionNATSNode(t *testing.T) {
	leader := s.streamLeader(t, taskDefsStream)
	node, network := s.container(leader, 1), s.project+"_berth"
	s.underLoad(t, "nats-partition-"+randomHex(3), func() {
		if out, err := exec.Command("docker", "network", "disconnect", network, node).CombinedOutput(); err != nil {
			t.Fatalf("docker network disconnect: %v\n%s", err, out)
		}
		t.Logf("partitioned %s (leader of %s) from %s", leader, taskDefsStream, network)
	})
	if out, err := exec.Command("docker", "network", "connect", "--alias", leader, network, node).CombinedOutput(); err != nil {
		t.Fatalf("docker network connect: %v\n%s", err, out)
	}
	after := s.streamLeader(t, taskDefsStream)
	t.Logf("%s leader after the partition healed: %s", taskDefsStream, after)
}
