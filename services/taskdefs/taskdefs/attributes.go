package taskdefs

import (
	"regexp"
	"slices"
	"strings"

	"github.com/berth-project/berth/events/ecsapi"
)

// Container-instance attributes ECS puts in requiresAttributes.
const (
	capPrefix       = "com.amazonaws.ecs.capability."
	attrAPI118      = capPrefix + "docker-remote-api.1.18"
	attrAPI119      = capPrefix + "docker-remote-api.1.19"
	attrAPI121      = capPrefix + "docker-remote-api.1.21"
	attrAPI124      = capPrefix + "docker-remote-api.1.24"
	attrAPI125      = capPrefix + "docker-remote-api.1.25"
	attrECRAuth     = capPrefix + "ecr-auth"
	attrTaskIAMRole = capPrefix + "task-iam-role"
	attrPrivileged  = capPrefix + "privileged-container"
	attrLogDriver   = capPrefix + "logging-driver." // + driver

	attrExecAWSLogs   = "ecs.capability.execution-role-awslogs"
	attrExecECRPull   = "ecs.capability.execution-role-ecr-pull"
	attrEFS           = "ecs.capability.efs"
	attrEFSAuth       = "ecs.capability.efsAuth"
	attrHealthCheck   = "ecs.capability.container-health-check"
	attrTaskENI       = "ecs.capability.task-eni"
	attrOrdering      = "ecs.capability.container-ordering"
	attrEnvFiles      = "ecs.capability.env-files.s3"
	attrSSMEnv        = "ecs.capability.secrets.ssm.environment-variables"
	attrASMEnv        = "ecs.capability.secrets.asm.environment-variables"
	attrSSMLog        = "ecs.capability.secrets.ssm.bootstrap.log-driver"
	attrASMLog        = "ecs.capability.secrets.asm.bootstrap.log-driver"
	attrPrivateReg    = "ecs.capability.private-registry-authentication.secretsmanager"
	attrFirelens      = "ecs.capability.firelens."      // + fluentbit | fluentd
	attrDockerPlugin  = "ecs.capability.docker-plugin." // + driver
	attrPidIpcSharing = "ecs.capability.pid-ipc-namespace-sharing"
)

// attrOrder is the order real responses list attributes in (consistent
// across every AWS output we compared); attributes not in it follow, in the
// order they were found.
var attrOrder = []string{
	attrLogDriver, // any driver takes this slot
	attrAPI124,
	attrExecAWSLogs,
	attrEFSAuth,
	attrECRAuth,
	attrAPI119,
	attrEFS,
	attrAPI121,
	attrAPI125,
	attrTaskIAMRole,
	attrHealthCheck,
	attrExecECRPull,
	attrAPI118,
	attrTaskENI,
}

var ecrImage = regexp.MustCompile(`^[0-9]{12}\.dkr\.ecr(-fips)?\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/`)

// requiresAttributes derives the container-instance attributes a task
// definition needs, the way ECS does at registration. The mapping comes
// from comparing real DescribeTaskDefinition outputs with their inputs and
// from the Docker Remote API versions the model documents per member
// (logConfiguration 1.18, its options 1.19, dockerLabels and ulimits 1.18,
// initProcessEnabled 1.25).
func requiresAttributes(td *ecsapi.TaskDefinition) []ecsapi.Attribute {
	var found []string
	add := func(names ...string) {
		for _, n := range names {
			if !slices.Contains(found, n) {
				found = append(found, n)
			}
		}
	}
	execRole := td.ExecutionRoleArn != ""
	for i := range td.ContainerDefinitions {
		c := &td.ContainerDefinitions[i]
		if lc := c.LogConfiguration; lc != nil && lc.LogDriver != "" {
			add(attrLogDriver+lc.LogDriver, attrAPI118)
			if len(lc.Options) > 0 {
				add(attrAPI119)
			}
			if lc.LogDriver == "awslogs" && execRole {
				add(attrExecAWSLogs)
			}
			for _, so := range lc.SecretOptions {
				add(secretAttr(so.ValueFrom, attrSSMLog, attrASMLog))
			}
		}
		if ecrImage.MatchString(c.Image) {
			add(attrECRAuth)
			if execRole {
				add(attrExecECRPull)
			}
		}
		if c.HealthCheck != nil {
			add(attrAPI124, attrHealthCheck)
		}
		if c.MemoryReservation != nil {
			add(attrAPI121)
		}
		if len(c.DockerLabels) > 0 || len(c.Ulimits) > 0 {
			add(attrAPI118)
		}
		if lp := c.LinuxParameters; lp != nil && lp.InitProcessEnabled != nil && *lp.InitProcessEnabled {
			add(attrAPI125)
		}
		if c.Privileged != nil && *c.Privileged {
			add(attrPrivileged)
		}
		if len(c.DependsOn) > 0 {
			add(attrOrdering)
		}
		if len(c.EnvironmentFiles) > 0 {
			add(attrEnvFiles)
		}
		for _, sec := range c.Secrets {
			add(secretAttr(sec.ValueFrom, attrSSMEnv, attrASMEnv))
		}
		if c.RepositoryCredentials != nil {
			add(attrPrivateReg)
		}
		if fl := c.FirelensConfiguration; fl != nil && fl.Type != "" {
			add(attrFirelens + fl.Type)
		}
	}
	if td.TaskRoleArn != "" {
		add(attrTaskIAMRole)
	}
	if td.NetworkMode != "" {
		add(attrAPI118)
	}
	if td.NetworkMode == "awsvpc" {
		add(attrTaskENI)
	}
	if td.PidMode != "" || td.IpcMode != "" {
		add(attrPidIpcSharing)
	}
	for _, v := range td.Volumes {
		if efs := v.EfsVolumeConfiguration; efs != nil {
			add(attrEFS, attrAPI125)
			if efs.AuthorizationConfig != nil || efs.TransitEncryption == "ENABLED" {
				add(attrEFSAuth)
			}
		}
		if dv := v.DockerVolumeConfiguration; dv != nil {
			driver := dv.Driver
			if driver == "" {
				driver = "local"
			}
			add(attrDockerPlugin+driver, attrAPI125)
		}
	}
	return orderAttrs(found)
}

func secretAttr(valueFrom, ssm, asm string) string {
	if strings.Contains(valueFrom, ":secretsmanager:") {
		return asm
	}
	return ssm
}

func orderAttrs(found []string) []ecsapi.Attribute {
	rank := func(name string) int {
		if strings.HasPrefix(name, attrLogDriver) {
			return 0
		}
		if i := slices.Index(attrOrder, name); i >= 0 {
			return i
		}
		return len(attrOrder)
	}
	slices.SortStableFunc(found, func(a, b string) int { return rank(a) - rank(b) })
	out := make([]ecsapi.Attribute, len(found))
	for i, n := range found {
		out[i] = ecsapi.Attribute{Name: n}
	}
	return out
}

// fargateLogDrivers are the log drivers Fargate supports.
var fargateLogDrivers = []string{"awslogs", "splunk", "awsfirelens"}

// fargateIssue returns why td cannot run on Fargate ("" when it can). The
// first checks carry AWS's wording because RegisterTaskDefinition answers
// them when FARGATE is required.
func fargateIssue(td *ecsapi.TaskDefinition, cpu, mem int) string {
	switch {
	case td.NetworkMode != "awsvpc":
		return "Fargate only supports network mode 'awsvpc'."
	case td.Cpu == "":
		return "Fargate requires that 'cpu' be defined at the task level."
	case td.Memory == "":
		return "Fargate requires that 'memory' be defined at the task level."
	case !fargatePair(cpu, mem):
		return "No Fargate configuration exists for given values."
	case td.PidMode != "" && td.PidMode != "task":
		return "Tasks using the Fargate launch type do not support pidMode '" + td.PidMode + "'. The supported value for pidMode is 'task'."
	case td.IpcMode != "":
		return "Tasks using the Fargate launch type do not support ipcMode '" + td.IpcMode + "'."
	case len(td.PlacementConstraints) > 0:
		return "Task placement constraints are not supported for tasks using the Fargate launch type."
	}
	for _, v := range td.Volumes {
		if v.Host != nil && v.Host.SourcePath != "" {
			return "Host volumes with a sourcePath are not supported for tasks using the Fargate launch type."
		}
		if v.DockerVolumeConfiguration != nil {
			return "Docker volumes are not supported for tasks using the Fargate launch type."
		}
	}
	for _, c := range td.ContainerDefinitions {
		if c.Privileged != nil && *c.Privileged {
			return "Privileged containers are not supported for tasks using the Fargate launch type."
		}
		if lc := c.LogConfiguration; lc != nil && lc.LogDriver != "" && !slices.Contains(fargateLogDrivers, lc.LogDriver) {
			return "Log driver " + lc.LogDriver + " is not supported for tasks using the Fargate launch type."
		}
	}
	return ""
}

// externalIssue returns why td cannot run on an external (ECS Anywhere)
// instance ("" when it can).
func externalIssue(td *ecsapi.TaskDefinition) string {
	if td.NetworkMode == "awsvpc" {
		return "Task definitions using the EXTERNAL launch type do not support network mode 'awsvpc'."
	}
	for _, v := range td.Volumes {
		if v.EfsVolumeConfiguration != nil || v.FsxWindowsFileServerVolumeConfiguration != nil {
			return "Task definitions using the EXTERNAL launch type do not support EFS or FSx volumes."
		}
	}
	return ""
}

// compatibilities lists the launch types td validates against, in AWS's
// order: ["EXTERNAL","EC2"] for a bridge/host definition, ["EC2","FARGATE"]
// for an awsvpc one that fits Fargate.
func compatibilities(td *ecsapi.TaskDefinition, cpu, mem int) []string {
	var out []string
	if externalIssue(td) == "" {
		out = append(out, "EXTERNAL")
	}
	out = append(out, "EC2")
	if fargateIssue(td, cpu, mem) == "" {
		out = append(out, "FARGATE")
	}
	if slices.Contains(td.RequiresCompatibilities, "MANAGED_INSTANCES") {
		out = append(out, "MANAGED_INSTANCES")
	}
	return out
}
