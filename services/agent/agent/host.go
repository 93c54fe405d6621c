package agent

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/awsjson"
	"github.com/berth-project/berth/events/ecsapi"
	"github.com/berth-project/berth/services/agent/docker"
)

// hostFacts is what registration says about the host.
type hostFacts struct {
	CPUs          int
	MemoryMiB     int64
	Arch          string // x86_64, arm64
	DockerVersion string
	APIVersion    string // negotiated, "1.41"
	EngineID      string
}

// localDocker reports whether the daemon runs on this host, so /proc and
// runtime describe the machine containers run on.
func localDocker(daemonHost string) bool {
	return daemonHost == "" || strings.HasPrefix(daemonHost, "unix://") || strings.HasPrefix(daemonHost, "npipe://")
}

// gatherHost combines Docker's view with this machine's.
func gatherHost(info docker.HostInfo, daemonHost string) hostFacts {
	f := hostFacts{
		CPUs:          info.NCPU,
		MemoryMiB:     info.MemTotal / (1 << 20),
		Arch:          archName(info.Architecture),
		DockerVersion: info.ServerVersion,
		APIVersion:    info.APIVersion,
		EngineID:      info.ID,
	}
	if localDocker(daemonHost) {
		f.CPUs = runtime.NumCPU()
		f.Arch = archName(runtime.GOARCH)
		if mib, err := memTotalMiB("/proc/meminfo"); err == nil {
			f.MemoryMiB = mib
		}
	}
	return f
}

// archName maps Go and uname architecture names onto ECS's
// ecs.cpu-architecture values.
func archName(a string) string {
	switch a {
	case "amd64", "x86_64":
		return "x86_64"
	case "arm64", "aarch64":
		return "arm64"
	}
	return a
}

// memTotalMiB reads MemTotal from a /proc/meminfo file.
func memTotalMiB(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return parseMemTotal(f)
}

func parseMemTotal(r io.Reader) (int64, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			break
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("meminfo: MemTotal %q: %w", rest, err)
		}
		if len(fields) > 1 && !strings.EqualFold(fields[1], "kB") {
			return 0, fmt.Errorf("meminfo: MemTotal unit %q", fields[1])
		}
		return kb / 1024, nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("meminfo: no MemTotal line")
}

// identity is what the agent keeps in its data folder.
type identity struct {
	// InstanceID is the instanceIdentityDocument's instanceId: the scheduler
	// hands the same container instance back to the same instanceId.
	InstanceID string `json:"instanceId"`
	// MetadataKey signs the per-container ids of the task metadata endpoint,
	// so they stay valid across restarts and cannot be guessed.
	MetadataKey string `json:"metadataKey"`
}

const identityFile = "agent.json"

// loadIdentity reads the identity from dir, or derives a new one and
// persists it there. With dir empty nothing is persisted and the derived
// identity is used.
func loadIdentity(dir, machineID, engineID, owner string) (identity, error) {
	seed := machineID + "\n" + engineID + "\n" + owner
	derived := identity{InstanceID: deriveInstanceID(seed)}
	if dir == "" {
		sum := sha256.Sum256([]byte("metadata-key\n" + seed))
		derived.MetadataKey = hex.EncodeToString(sum[:])
		return derived, nil
	}
	path := filepath.Join(dir, identityFile)
	raw, err := os.ReadFile(path)
	switch {
	case err == nil:
		var id identity
		if err := json.Unmarshal(raw, &id); err != nil {
			return identity{}, fmt.Errorf("agent state %s: %w", path, err)
		}
		if id.InstanceID != "" && id.MetadataKey != "" {
			return id, nil
		}
		// Fill in what is missing (a hand-written file with only an id).
		if id.InstanceID == "" {
			id.InstanceID = derived.InstanceID
		}
		if id.MetadataKey == "" {
			id.MetadataKey = randomKey()
		}
		return id, writeIdentity(dir, id)
	case errors.Is(err, os.ErrNotExist):
		derived.MetadataKey = randomKey()
		return derived, writeIdentity(dir, derived)
	default:
		return identity{}, fmt.Errorf("agent state: %w", err)
	}
}

func randomKey() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// deriveInstanceID makes an EC2-looking id (i- and 17 hex digits).
func deriveInstanceID(seed string) string {
	sum := sha256.Sum256([]byte(seed))
	return "i-" + hex.EncodeToString(sum[:])[:17]
}

func writeIdentity(dir string, id identity) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("agent data folder: %w", err)
	}
	raw, _ := json.MarshalIndent(id, "", "  ")
	tmp, err := os.CreateTemp(dir, ".agent-*.json")
	if err != nil {
		return fmt.Errorf("agent state: %w", err)
	}
	if _, err := tmp.Write(append(raw, '\n')); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("agent state: %w", err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("agent state: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, identityFile)); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("agent state: %w", err)
	}
	return nil
}

// machineID is /etc/machine-id (or the D-Bus copy), else the host name.
func machineID() string {
	for _, p := range []string{"/etc/machine-id", "/var/lib/dbus/machine-id"} {
		if raw, err := os.ReadFile(p); err == nil {
			if s := string(bytes.TrimSpace(raw)); s != "" {
				return s
			}
		}
	}
	h, _ := os.Hostname()
	return h
}

// Platform attribute names.
const (
	attrOSType       = "ecs.os-type"
	attrOSFamily     = "ecs.os-family"
	attrArch         = "ecs.cpu-architecture"
	attrAZ           = "ecs.availability-zone"
	attrInstanceType = "ecs.instance-type"
)

// attributes lists the instance's attributes: platform, placement, the
// capabilities the agent really has, then the custom ones.
func attributes(cfg Config, h hostFacts) []ecsapi.Attribute {
	var out []ecsapi.Attribute
	add := func(name, value string) {
		out = append(out, ecsapi.Attribute{Name: name, Value: value})
	}
	add(attrOSType, "linux")
	add(attrOSFamily, "LINUX")
	add(attrArch, h.Arch)
	add(attrAZ, cfg.AvailabilityZone)
	add(attrInstanceType, cfg.InstanceType)
	minor, _ := apiMinor(h.APIVersion)
	for _, c := range events.AgentCapabilities(minor, cfg.LoggingDrivers, cfg.AWSVPCSubnet != "") {
		add(c, "")
	}
	for _, k := range slices.Sorted(maps.Keys(cfg.Attributes)) {
		i := slices.IndexFunc(out, func(a ecsapi.Attribute) bool { return a.Name == k })
		if i >= 0 {
			out[i].Value = cfg.Attributes[k] // custom values override built-in ones
		} else {
			add(k, cfg.Attributes[k])
		}
	}
	return out
}

func apiMinor(v string) (int, bool) {
	major, minor, ok := strings.Cut(v, ".")
	if !ok || major != "1" {
		return 0, false
	}
	n, err := strconv.Atoi(minor)
	return n, err == nil
}

// resources are the registered resources: CPU, MEMORY, PORTS, PORTS_UDP.
func resources(cfg Config, h hostFacts, ownPorts []int) []ecsapi.Resource {
	mem := max(h.MemoryMiB-int64(cfg.ReservedMemoryMiB), 0)
	ports := append(slices.Clone(cfg.ReservedPorts), ownPorts...)
	return []ecsapi.Resource{
		{Name: "CPU", Type: "INTEGER", IntegerValue: awsjson.Int32(int32(h.CPUs * 1024))},
		{Name: "MEMORY", Type: "INTEGER", IntegerValue: awsjson.Int32(int32(min(mem, 1<<31-1)))},
		{Name: "PORTS", Type: "STRINGSET", StringSetValue: portStrings(ports)},
		{Name: "PORTS_UDP", Type: "STRINGSET", StringSetValue: portStrings(cfg.ReservedPortsUDP)},
	}
}

func portStrings(ports []int) []string {
	ports = slices.Clone(ports)
	slices.Sort(ports)
	ports = slices.Compact(ports)
	out := make([]string, 0, len(ports))
	for _, p := range ports {
		out = append(out, strconv.Itoa(p))
	}
	return out
}

// identityDocument is the instanceIdentityDocument, shaped like EC2's.
func identityDocument(cfg Config, h hostFacts, instanceID string) string {
	doc := map[string]string{
		"instanceId":       instanceID,
		"region":           cfg.Region,
		"availabilityZone": cfg.AvailabilityZone,
		"instanceType":     cfg.InstanceType,
		"architecture":     h.Arch,
	}
	if cfg.Account != "" {
		doc["accountId"] = cfg.Account
	}
	raw, _ := json.Marshal(doc)
	return string(raw)
}

// registerRequest is the RegisterContainerInstance request for this host.
func registerRequest(cfg Config, h hostFacts, instanceID string, ownPorts []int) ecsapi.RegisterContainerInstanceRequest {
	return ecsapi.RegisterContainerInstanceRequest{
		Cluster:                  cfg.Cluster,
		InstanceIdentityDocument: identityDocument(cfg, h, instanceID),
		TotalResources:           resources(cfg, h, ownPorts),
		Attributes:               attributes(cfg, h),
		VersionInfo: &ecsapi.VersionInfo{
			AgentVersion:  Version,
			DockerVersion: "DockerVersion: " + h.DockerVersion,
		},
	}
}
