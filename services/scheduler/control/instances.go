package control

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/ecsapi"
	"github.com/berth-project/berth/internal/ids"
	"github.com/berth-project/berth/internal/jsonx"
	"github.com/berth-project/berth/internal/natsutil"
)

// Limits of the container-instance operations.
const (
	maxDescribeInstances = 100
	maxUpdateInstances   = 10
	maxReservedPorts     = 100
)

// identityKey is the index key that maps a host's identity (the
// instanceIdentityDocument's instanceId) to its container instance id:
// iid.<cluster>.<Token(instanceId)>. It is created in the same atomic batch
// as the instance, so two agents racing to register one host get one
// container instance.
func identityKey(cluster, ec2ID string) string {
	return "iid." + events.Token(cluster) + "." + events.Token(ec2ID)
}

// identityRecord is the value at identityKey.
type identityRecord struct {
	InstanceID string `json:"instanceId"`
}

// registration is a checked RegisterContainerInstance request.
type registration struct {
	cpu, memory int64
	tcp, udp    []int
	attrs       []ecsapi.Attribute
	ec2ID       string
}

func (s *Service) registerContainerInstance(ctx context.Context, in *ecsapi.RegisterContainerInstanceRequest) (any, error) {
	c, err := s.activeCluster(ctx, in.Cluster)
	if err != nil {
		return nil, err
	}
	reg, err := checkRegistration(in)
	if err != nil {
		return nil, err
	}
	if err := checkTags(in.Tags); err != nil {
		return nil, err
	}
	wantID := ""
	if in.ContainerInstanceArn != "" {
		id, ok := s.instanceRef(c.Name, in.ContainerInstanceArn)
		if !ok || !events.IsARN(in.ContainerInstanceArn) {
			return nil, invalid(msgInstanceArn)
		}
		wantID = id
	}
	for range maxAttempts {
		rec, retry, err := s.tryRegister(ctx, c, in, reg, wantID)
		if err != nil {
			return nil, err
		}
		if retry {
			continue
		}
		ci := s.renderInstance(rec, true)
		return &ecsapi.RegisterContainerInstanceResponse{ContainerInstance: &ci}, nil
	}
	return nil, fmt.Errorf("register container instance: %w", errTooMuchContention)
}

// tryRegister makes one attempt at a registration: it re-activates the
// instance the host already has (found by containerInstanceArn or by the
// identity index) or creates a new one with its index entry. retry is true
// when another writer got there first.
func (s *Service) tryRegister(ctx context.Context, c *events.ClusterRecord, in *ecsapi.RegisterContainerInstanceRequest, reg registration, wantID string) (*events.InstanceRecord, bool, error) {
	id := wantID
	var idxRev uint64
	if id == "" && reg.ec2ID != "" {
		raw, rev, deleted, err := s.state.last(ctx, identityKey(c.Name, reg.ec2ID))
		if err != nil {
			return nil, false, err
		}
		idxRev = rev
		if raw != nil && !deleted {
			var idx identityRecord
			if err := jsonx.Unmarshal(raw, &idx); err != nil {
				return nil, false, fmt.Errorf("decode identity index: %w", err)
			}
			id = idx.InstanceID
		}
	}
	var cur *events.InstanceRecord
	var rev uint64
	if id != "" {
		var err error
		if cur, rev, err = s.state.getInstance(ctx, c.Name, id); err != nil {
			return nil, false, err
		}
		if cur == nil && wantID != "" {
			return nil, false, invalid(msgInstanceNotFound)
		}
	}
	now := s.cfg.Now().UTC()
	b := s.state.newBatch()
	var next *events.InstanceRecord
	if cur != nil {
		next = reactivate(cur, reg, in, now)
	} else {
		id = ids.Hex32()
		next = &events.InstanceRecord{
			ID:               id,
			ARN:              s.instanceARN(c.Name, id),
			Cluster:          c.Name,
			ClusterARN:       c.ARN,
			EC2InstanceID:    reg.ec2ID,
			Status:           events.InstanceActive,
			AgentConnected:   true,
			RegisteredCPU:    reg.cpu,
			RegisteredMemory: reg.memory,
			RegisteredTCP:    reg.tcp,
			RegisteredUDP:    reg.udp,
			RemainingCPU:     reg.cpu,
			RemainingMemory:  reg.memory,
			ReservedTCP:      slices.Clone(reg.tcp),
			ReservedUDP:      slices.Clone(reg.udp),
			Attributes:       reg.attrs,
			VersionInfo:      in.VersionInfo,
			Tags:             nonNilTags(in.Tags),
			RegisteredAt:     now,
			ConnectedAt:      now,
		}
		if reg.ec2ID != "" {
			b.put(identityKey(c.Name, reg.ec2ID), identityRecord{InstanceID: id}, idxRev)
		}
	}
	next.Version++
	next.UpdatedAt = now
	i := b.putInstance(c.Name, id, next, rev)
	s.pub.carryInstance(b, i, cur)
	revs, err := s.state.commit(ctx, b)
	if natsutil.IsConflict(err) {
		return nil, true, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("register container instance: %w", err)
	}
	s.cache.putInstance(next, revs[i])
	s.pub.publish(ctx, s.pub.instanceEvent(next))
	return next, false, nil
}

// reactivate is the record of a known host registering again: ACTIVE (a
// DRAINING instance stays DRAINING), connected, with the new resources
// (what its tasks hold is kept) and attributes (custom ones added by
// PutAttributes survive unless the registration names them).
func reactivate(cur *events.InstanceRecord, reg registration, in *ecsapi.RegisterContainerInstanceRequest, now time.Time) *events.InstanceRecord {
	next := cloneInstance(cur)
	heldCPU := cur.RegisteredCPU - cur.RemainingCPU
	heldMem := cur.RegisteredMemory - cur.RemainingMemory
	next.RegisteredCPU, next.RegisteredMemory = reg.cpu, reg.memory
	next.RemainingCPU, next.RemainingMemory = reg.cpu-heldCPU, reg.memory-heldMem
	next.ReservedTCP = union(reg.tcp, minus(cur.ReservedTCP, cur.RegisteredTCP))
	next.ReservedUDP = union(reg.udp, minus(cur.ReservedUDP, cur.RegisteredUDP))
	next.RegisteredTCP, next.RegisteredUDP = reg.tcp, reg.udp
	if next.Status == events.InstanceInactive {
		next.Status = events.InstanceActive
		next.DeregisteredAt = nil
	}
	next.StatusReason = ""
	next.AgentConnected = true
	next.ConnectedAt = now
	if next.EC2InstanceID == "" {
		next.EC2InstanceID = reg.ec2ID
	}
	attrs := slices.Clone(reg.attrs)
	for _, a := range cur.Attributes {
		if !builtinAttribute(a.Name) && !slices.ContainsFunc(attrs, func(b ecsapi.Attribute) bool { return b.Name == a.Name }) {
			attrs = append(attrs, a)
		}
	}
	sortAttributes(attrs)
	next.Attributes = attrs
	if in.VersionInfo != nil {
		vi := *in.VersionInfo
		next.VersionInfo = &vi
	}
	if len(in.Tags) > 0 {
		next.Tags = mergeTags(next.Tags, in.Tags)
	}
	return next
}

// union returns the sorted union of two port lists.
func union(a, b []int) []int {
	out := slices.Clone(a)
	for _, p := range b {
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	if out == nil {
		out = []int{}
	}
	return out
}

// minus returns the ports of a that are not in b.
func minus(a, b []int) []int {
	var out []int
	for _, p := range a {
		if !slices.Contains(b, p) {
			out = append(out, p)
		}
	}
	return out
}

// checkRegistration validates totalResources, attributes and the identity
// document.
func checkRegistration(in *ecsapi.RegisterContainerInstanceRequest) (registration, error) {
	var reg registration
	haveCPU, haveMem, havePorts := false, false, false
	for _, r := range in.TotalResources {
		switch r.Name {
		case events.ResourceCPU, events.ResourceMemory:
			v, ok := resourceInt(r)
			if !ok || v < 0 {
				return reg, invalid(msgResourceValue, r.Name)
			}
			if r.Name == events.ResourceCPU {
				reg.cpu, haveCPU = v, true
			} else {
				reg.memory, haveMem = v, true
			}
		case events.ResourcePorts, events.ResourcePortsUDP:
			ports, err := parsePorts(r)
			if err != nil {
				return reg, err
			}
			if r.Name == events.ResourcePorts {
				reg.tcp, havePorts = ports, true
			} else {
				reg.udp = ports
			}
		default:
			return reg, invalid(msgResourceName, r.Name)
		}
	}
	if !haveCPU || !haveMem {
		return reg, invalid(msgTotalResources)
	}
	if !havePorts {
		reg.tcp = slices.Clone(events.DefaultReservedPorts)
	}
	if reg.udp == nil {
		reg.udp = []int{}
	}
	if len(reg.tcp)+len(reg.udp) > maxReservedPorts {
		return reg, invalid(msgTooManyPorts)
	}
	doc, err := parseIdentity(in.InstanceIdentityDocument)
	if err != nil {
		return reg, err
	}
	reg.ec2ID = doc.InstanceID
	attrs := map[string]string{}
	if doc.AvailabilityZone != "" {
		attrs["ecs.availability-zone"] = doc.AvailabilityZone
	}
	if doc.InstanceType != "" {
		attrs["ecs.instance-type"] = doc.InstanceType
	}
	if doc.Architecture != "" {
		attrs["ecs.cpu-architecture"] = doc.Architecture
	}
	for _, a := range in.Attributes {
		if err := checkAttribute(a); err != nil {
			return reg, err
		}
		attrs[a.Name] = a.Value
	}
	for name, v := range attrs {
		reg.attrs = append(reg.attrs, ecsapi.Attribute{Name: name, Value: v})
	}
	if reg.attrs == nil {
		reg.attrs = []ecsapi.Attribute{}
	}
	sortAttributes(reg.attrs)
	return reg, nil
}

// resourceInt reads an INTEGER (or LONG, or whole DOUBLE) resource value.
func resourceInt(r ecsapi.Resource) (int64, bool) {
	switch {
	case r.IntegerValue != nil && (r.Type == "" || r.Type == "INTEGER"):
		return int64(*r.IntegerValue), true
	case r.LongValue != nil && r.Type == "LONG":
		return *r.LongValue, true
	case r.DoubleValue != nil && r.Type == "DOUBLE" && *r.DoubleValue == float64(int64(*r.DoubleValue)):
		return int64(*r.DoubleValue), true
	}
	return 0, false
}

// parsePorts reads a STRINGSET of port numbers, sorted, without repeats.
func parsePorts(r ecsapi.Resource) ([]int, error) {
	if r.Type != "" && r.Type != "STRINGSET" {
		return nil, invalid(msgResourceValue, r.Name)
	}
	out := make([]int, 0, len(r.StringSetValue))
	for _, v := range r.StringSetValue {
		p, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || p < 1 || p > 65535 {
			return nil, invalid(msgResourceValue, r.Name)
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out, nil
}

// identityDocument is the part of an EC2 instance identity document Berth
// reads; agents send their host's stable id as instanceId.
type identityDocument struct {
	InstanceID       string `json:"instanceId"`
	AvailabilityZone string `json:"availabilityZone"`
	InstanceType     string `json:"instanceType"`
	Architecture     string `json:"architecture"`
}

func parseIdentity(doc string) (identityDocument, error) {
	var d identityDocument
	if strings.TrimSpace(doc) == "" {
		return d, nil
	}
	if err := jsonx.Unmarshal([]byte(doc), &d); err != nil {
		return d, invalid(msgIdentityDocument)
	}
	if len(d.InstanceID) > 255 {
		return d, invalid(msgIdentityDocument)
	}
	return d, nil
}

// builtinAttribute reports whether name is one ECS and its agent set
// (ecs.* and com.amazonaws.ecs.*); every other attribute is custom and
// counts towards the limit of custom attributes per instance.
func builtinAttribute(name string) bool {
	return strings.HasPrefix(name, "ecs.") || strings.HasPrefix(name, "com.amazonaws.ecs.")
}
