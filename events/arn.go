package events

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Partition is the ARN partition Berth builds ARNs in.
const Partition = "aws"

// ARN service names (the third field of an ARN).
const (
	ARNServiceECS = "ecs"
	ARNServiceECR = "ecr"
)

// Resource types: the part of an ARN's resource before the first "/".
const (
	ResourceCluster           = "cluster"
	ResourceService           = "service"
	ResourceTask              = "task"
	ResourceContainerInstance = "container-instance"
	ResourceContainer         = "container"
	ResourceTaskDefinition    = "task-definition"
	ResourceCapacityProvider  = "capacity-provider"
	ResourceTaskSet           = "task-set"
	// ResourceRepository is an ECR repository (service ecr).
	ResourceRepository = "repository"
)

// ErrInvalidARN reports a string that is not an ARN of the expected form.
// Every parse error wraps it.
var ErrInvalidARN = errors.New("invalid ARN")

// ARN is an Amazon Resource Name split into its six fields:
// arn:<partition>:<service>:<region>:<account>:<resource>.
type ARN struct {
	Partition string
	Service   string
	Region    string
	Account   string
	Resource  string
}

// String joins the fields back into an ARN.
func (a ARN) String() string {
	return "arn:" + a.Partition + ":" + a.Service + ":" + a.Region + ":" + a.Account + ":" + a.Resource
}

// IsARN reports whether s looks like an ARN (starts with "arn:"), the test
// AWS applies to "name or ARN" parameters.
func IsARN(s string) bool { return strings.HasPrefix(s, "arn:") }

// ParseARN splits s into its fields. The resource may itself contain ':'
// (task-definition/<family>:<revision>). Partition, service, region, account
// and resource must be present; the account must be 12 digits.
func ParseARN(s string) (ARN, error) {
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" {
		return ARN{}, badARN(s, "want arn:<partition>:<service>:<region>:<account>:<resource>")
	}
	a := ARN{Partition: parts[1], Service: parts[2], Region: parts[3], Account: parts[4], Resource: parts[5]}
	switch {
	case a.Partition == "":
		return ARN{}, badARN(s, "empty partition")
	case a.Service == "":
		return ARN{}, badARN(s, "empty service")
	case a.Region == "":
		return ARN{}, badARN(s, "empty region")
	case !accountID(a.Account):
		return ARN{}, badARN(s, "account is not 12 digits")
	case a.Resource == "":
		return ARN{}, badARN(s, "empty resource")
	}
	return a, nil
}

func accountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func badARN(s, why string) error {
	return fmt.Errorf("%w %q: %s", ErrInvalidARN, s, why)
}

func ecsARN(region, account, resource string) string {
	return ARN{Partition: Partition, Service: ARNServiceECS, Region: region, Account: account, Resource: resource}.String()
}

// ClusterARN is arn:aws:ecs:<region>:<account>:cluster/<name>.
func ClusterARN(region, account, name string) string {
	return ecsARN(region, account, ResourceCluster+"/"+name)
}

// ServiceARN is arn:aws:ecs:<region>:<account>:service/<cluster>/<name>
// (the long format, always on).
func ServiceARN(region, account, cluster, name string) string {
	return ecsARN(region, account, ResourceService+"/"+cluster+"/"+name)
}

// TaskARN is arn:aws:ecs:<region>:<account>:task/<cluster>/<id>, id being
// 32 hex digits.
func TaskARN(region, account, cluster, id string) string {
	return ecsARN(region, account, ResourceTask+"/"+cluster+"/"+id)
}

// ContainerInstanceARN is
// arn:aws:ecs:<region>:<account>:container-instance/<cluster>/<id>.
func ContainerInstanceARN(region, account, cluster, id string) string {
	return ecsARN(region, account, ResourceContainerInstance+"/"+cluster+"/"+id)
}

// ContainerARN is
// arn:aws:ecs:<region>:<account>:container/<cluster>/<taskID>/<id>, id being
// a UUID.
func ContainerARN(region, account, cluster, taskID, id string) string {
	return ecsARN(region, account, ResourceContainer+"/"+cluster+"/"+taskID+"/"+id)
}

// TaskDefinitionARN is
// arn:aws:ecs:<region>:<account>:task-definition/<family>:<revision>.
func TaskDefinitionARN(region, account, family string, revision int) string {
	return ecsARN(region, account, ResourceTaskDefinition+"/"+family+":"+strconv.Itoa(revision))
}

// CapacityProviderARN is
// arn:aws:ecs:<region>:<account>:capacity-provider/<name>.
func CapacityProviderARN(region, account, name string) string {
	return ecsARN(region, account, ResourceCapacityProvider+"/"+name)
}

// TaskSetARN is
// arn:aws:ecs:<region>:<account>:task-set/<cluster>/<service>/<id>, id
// being e.g. "ecs-svc/1234567890123456789".
func TaskSetARN(region, account, cluster, service, id string) string {
	return ecsARN(region, account, ResourceTaskSet+"/"+cluster+"/"+service+"/"+id)
}

// RepositoryARN is arn:aws:ecr:<region>:<account>:repository/<name>; the
// name may contain '/'.
func RepositoryARN(region, account, name string) string {
	return ARN{Partition: Partition, Service: ARNServiceECR, Region: region, Account: account, Resource: ResourceRepository + "/" + name}.String()
}

// ECSResource is a parsed ECS ARN. Which name fields are set depends on Type:
//
//	cluster             Cluster
//	service             Cluster (empty in the old short format), Name
//	task                Cluster (empty in the old short format), ID
//	container-instance  Cluster (empty in the old short format), ID
//	container           Cluster and TaskID (both empty in the old short format), ID
//	task-definition     Name (the family), Revision (0 when the ARN has none)
//	capacity-provider   Name
//	task-set            Cluster, Name (the service), ID
type ECSResource struct {
	ARN
	Type     string
	Cluster  string
	Name     string
	ID       string
	TaskID   string
	Revision int
}

// ParseECSARN parses an ECS resource ARN of any type above.
func ParseECSARN(s string) (ECSResource, error) {
	a, err := ParseARN(s)
	if err != nil {
		return ECSResource{}, err
	}
	if a.Service != ARNServiceECS {
		return ECSResource{}, badARN(s, "not an ecs ARN")
	}
	typ, rest, ok := strings.Cut(a.Resource, "/")
	if !ok || rest == "" {
		return ECSResource{}, badARN(s, "resource is not <type>/<id>")
	}
	r := ECSResource{ARN: a, Type: typ}
	parts := strings.Split(rest, "/")
	if slicesHasEmpty(parts) {
		return ECSResource{}, badARN(s, "empty path segment")
	}
	switch typ {
	case ResourceCluster:
		if len(parts) != 1 {
			return ECSResource{}, badARN(s, "want cluster/<name>")
		}
		r.Cluster = parts[0]
	case ResourceService:
		switch len(parts) {
		case 1:
			r.Name = parts[0]
		case 2:
			r.Cluster, r.Name = parts[0], parts[1]
		default:
			return ECSResource{}, badARN(s, "want service/<cluster>/<name>")
		}
	case ResourceTask, ResourceContainerInstance:
		switch len(parts) {
		case 1:
			r.ID = parts[0]
		case 2:
			r.Cluster, r.ID = parts[0], parts[1]
		default:
			return ECSResource{}, badARN(s, "want "+typ+"/<cluster>/<id>")
		}
	case ResourceContainer:
		switch len(parts) {
		case 1:
			r.ID = parts[0]
		case 3:
			r.Cluster, r.TaskID, r.ID = parts[0], parts[1], parts[2]
		default:
			return ECSResource{}, badARN(s, "want container/<cluster>/<task>/<id>")
		}
	case ResourceTaskDefinition:
		if len(parts) != 1 {
			return ECSResource{}, badARN(s, "want task-definition/<family>:<revision>")
		}
		family, rev, hasRev := strings.Cut(parts[0], ":")
		if family == "" {
			return ECSResource{}, badARN(s, "empty family")
		}
		r.Name = family
		if hasRev {
			n, err := strconv.Atoi(rev)
			if err != nil || n < 1 || strconv.Itoa(n) != rev {
				return ECSResource{}, badARN(s, "revision is not a positive integer")
			}
			r.Revision = n
		}
	case ResourceCapacityProvider:
		if len(parts) != 1 {
			return ECSResource{}, badARN(s, "want capacity-provider/<name>")
		}
		r.Name = parts[0]
	case ResourceTaskSet:
		if len(parts) < 3 {
			return ECSResource{}, badARN(s, "want task-set/<cluster>/<service>/<id>")
		}
		r.Cluster, r.Name, r.ID = parts[0], parts[1], strings.Join(parts[2:], "/")
	default:
		return ECSResource{}, badARN(s, "unknown ecs resource type "+strconv.Quote(typ))
	}
	return r, nil
}

// ParseClusterARN parses arn:aws:ecs:<region>:<account>:cluster/<name>.
func ParseClusterARN(s string) (ECSResource, error) {
	r, err := ParseECSARN(s)
	if err != nil {
		return ECSResource{}, err
	}
	if r.Type != ResourceCluster {
		return ECSResource{}, badARN(s, "not a cluster ARN")
	}
	return r, nil
}

// ClusterNameOf returns the cluster name of ref, a cluster's short name or
// its full ARN. It does not check the ARN's region or account.
func ClusterNameOf(ref string) (string, error) {
	if !IsARN(ref) {
		return ref, nil
	}
	r, err := ParseClusterARN(ref)
	if err != nil {
		return "", err
	}
	return r.Cluster, nil
}

// ParseRepositoryARN parses arn:aws:ecr:<region>:<account>:repository/<name>
// and returns the ARN's fields and the repository name.
func ParseRepositoryARN(s string) (ARN, string, error) {
	a, err := ParseARN(s)
	if err != nil {
		return ARN{}, "", err
	}
	if a.Service != ARNServiceECR {
		return ARN{}, "", badARN(s, "not an ecr ARN")
	}
	name, ok := strings.CutPrefix(a.Resource, ResourceRepository+"/")
	if !ok || name == "" || slicesHasEmpty(strings.Split(name, "/")) {
		return ARN{}, "", badARN(s, "want repository/<name>")
	}
	return a, name, nil
}

func slicesHasEmpty(parts []string) bool {
	for _, p := range parts {
		if p == "" {
			return true
		}
	}
	return false
}
