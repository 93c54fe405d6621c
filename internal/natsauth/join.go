package natsauth

import "github.com/berth-project/berth/events/ecsapi"

// JoinResponse is the scheduler's answer to a join: the registered
// container instance and the credential its agent connects with from now
// on (user AgentUser(cluster, id)).
type JoinResponse struct {
	ContainerInstance *ecsapi.ContainerInstance `json:"containerInstance"`
	User              string                    `json:"user"`
	Password          string                    `json:"password"`
}
