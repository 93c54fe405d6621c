package scheduler

import (
	"math/rand/v2"
	"slices"
)

// Rand is the source of randomness for the random strategy and for ties
// left after every strategy. *rand.Rand from math/rand/v2 implements it; a
// seeded one makes placement deterministic. A *rand.Rand is not safe for
// concurrent use, so give each goroutine its own.
type Rand interface {
	IntN(n int) int
}

// Options tune one Place call.
type Options struct {
	// Rand breaks ties. Nil uses the math/rand/v2 top-level functions.
	Rand Rand
	// Allowed, when not nil, limits the candidates to the instances i with
	// Allowed[i] (a replica's share of the cluster, see
	// services/scheduler/control). The others still count where strategies
	// balance (spread), so a spread over the allowed instances accounts for
	// what runs elsewhere. Shorter than the instances: the rest are not
	// allowed.
	Allowed []bool
}

type globalRand struct{}

func (globalRand) IntN(n int) int { return rand.IntN(n) }

// Plan is a validated, compiled TaskRequest. It is immutable and safe for
// concurrent use; compile once and place many times.
type Plan struct {
	res        Resources
	attrs      []Attribute
	group      string
	exprs      []*Expr
	dynamic    bool // some memberOf expression reads task:group
	distinct   bool
	strategies []compiledStrategy // cut after the first random
}

// Compile validates a request and prepares it for placement. Errors match
// ErrInvalidParameter.
func Compile(req TaskRequest) (*Plan, error) {
	if err := ValidateResources(req.Resources); err != nil {
		return nil, err
	}
	if len(req.Group) > MaxGroupLength {
		return nil, invalidf("Task group name is longer than %d characters.", MaxGroupLength)
	}
	for _, a := range req.Attributes {
		if a.Name == "" {
			return nil, invalidf("Required attribute names cannot be empty.")
		}
	}
	exprs, distinct, err := compileConstraints(req.Constraints)
	if err != nil {
		return nil, err
	}
	ss := req.Strategies
	if len(ss) == 0 {
		ss = DefaultRunTaskStrategies()
	}
	strategies, err := compileStrategies(ss)
	if err != nil {
		return nil, err
	}
	for i, s := range strategies {
		if s.kind == randomPick {
			// Random settles every tie, so later strategies never decide.
			strategies = strategies[:i]
			break
		}
	}
	p := &Plan{
		res: Resources{
			CPU:      req.CPU,
			Memory:   req.Memory,
			TCPPorts: slices.Clone(req.TCPPorts),
			UDPPorts: slices.Clone(req.UDPPorts),
		},
		attrs:      slices.Clone(req.Attributes),
		group:      req.Group,
		exprs:      exprs,
		distinct:   distinct,
		strategies: strategies,
	}
	for _, e := range exprs {
		p.dynamic = p.dynamic || e.UsesTaskGroup()
	}
	return p, nil
}

// Place compiles req and places count tasks; see Plan.Place.
func Place(instances []Instance, req TaskRequest, count int, opts Options) (Result, error) {
	p, err := Compile(req)
	if err != nil {
		return Result{}, err
	}
	return p.Place(instances, count, opts)
}

// Resources returns what each task of the plan holds.
func (p *Plan) Resources() Resources { return p.res }

// Group returns the task group of the plan.
func (p *Plan) Group() string { return p.group }

// Place places count tasks on instances, one at a time, as if each placed
// task were already running when the next is placed: binpack fills one
// instance before the next, spread alternates, distinctInstance never
// doubles up and no resource is oversubscribed. For each task it
//
//  1. filters instances that are ACTIVE, have a connected agent and every
//     attribute the task requires, and have the CPU, memory, TCP and UDP
//     ports the task needs;
//  2. keeps those that satisfy every memberOf expression and, with
//     distinctInstance, hold no task of the group;
//  3. ranks them by the strategies in order, each breaking the ties of the
//     ones before it;
//  4. picks the best, ties broken at random.
//
// When a task cannot be placed, placement stops and Result.Failures gives
// one failure per reason, the reason reached by the closest instance first.
// Instances are never modified. A cluster without an ACTIVE instance yields
// ErrNoContainerInstances.
func (p *Plan) Place(instances []Instance, count int, opts Options) (Result, error) {
	if count < 1 {
		return Result{}, invalidf("Invalid count %d: count must be at least 1.", count)
	}
	active := false
	for i := range instances {
		if instances[i].Status == StatusActive {
			active = true
			break
		}
	}
	if !active {
		return Result{}, ErrNoContainerInstances
	}
	rnd := opts.Rand
	if rnd == nil {
		rnd = globalRand{}
	}
	s := newPlacement(p, instances)
	if opts.Allowed != nil {
		for i := range s.slots {
			if i >= len(opts.Allowed) || !opts.Allowed[i] {
				s.slots[i].flags |= fExcluded
			}
		}
	}
	res := Result{Placements: make([]Placement, 0, count)}
	for k := 0; k < count; k++ {
		i := s.choose(rnd)
		if i < 0 {
			res.Failures = s.failures()
			res.Unplaced = count - k
			break
		}
		s.commit(i)
		res.Placements = append(res.Placements, Placement{
			Index:       i,
			InstanceID:  instances[i].ID,
			InstanceARN: instances[i].ARN,
		})
	}
	return res, nil
}

// Check re-verifies one instance for one more task of the plan, e.g. after
// re-reading it before a compare-and-set commit. It returns "" when the task
// fits, otherwise the failure reason (ReasonCPU, …, or ReasonInactive for an
// instance that is not ACTIVE). Strategies play no part.
func (p *Plan) Check(in *Instance) string {
	if in.Status != StatusActive {
		return ReasonInactive
	}
	s := newPlacement(p, []Instance{*in})
	return s.reject(0).String()
}

// reason is a failure reason in pipeline order: a later reason means the
// instance got further, so it is "closer".
type reason uint8

const (
	rOK reason = iota
	rInactive
	rAgent
	rAttribute
	rCPU
	rMemory
	rPorts
	rPortsUDP
	rMemberOf
	rDistinct
	numReasons
)

var reasonText = [numReasons]string{
	rInactive:  ReasonInactive,
	rAgent:     ReasonAgent,
	rAttribute: ReasonAttribute,
	rCPU:       ReasonCPU,
	rMemory:    ReasonMemory,
	rPorts:     ReasonPorts,
	rPortsUDP:  ReasonPortsUDP,
	rMemberOf:  ReasonMemberOf,
	rDistinct:  ReasonDistinctInstance,
}

func (r reason) String() string { return reasonText[r] }

// Per-instance flags. The first four are fixed for a Place call; the
// memberOf pair caches the (lazily evaluated) constraint result.
const (
	fInactive uint8 = 1 << iota
	fAgent
	fTCP
	fUDP
	fMemberKnown
	fMemberFail
	fAttr
	fExcluded // not in Options.Allowed
)

// fNever marks an instance that cannot take a task of the plan whatever is
// placed: the flags fixed for the Place call.
const fNever = fInactive | fAgent | fAttr | fTCP | fUDP | fExcluded

// slot is the compact working state of one instance during a Place call.
type slot struct {
	cpu, mem int64 // remaining, after the tasks this call placed
	group    int32 // tasks of the plan's group, placed included
	placed   int32 // tasks this call placed
	flags    uint8
}

// placement is the working state of one Place call. Instances are read,
// never written; what this call has placed lives in slots.
type placement struct {
	p     *Plan
	insts []Instance
	slots []slot
	// bucket[j][i] is the value bucket of instance i for strategy j when it
	// spreads on an attribute; count[j][b] the group's tasks in bucket b.
	bucket [][]int32
	count  [][]int64
	ties   []int
	keys   [MaxStrategies]int64
	best   [MaxStrategies]int64
}

func newPlacement(p *Plan, insts []Instance) *placement {
	n := len(insts)
	s := &placement{
		p:      p,
		insts:  insts,
		slots:  make([]slot, n),
		bucket: make([][]int32, len(p.strategies)),
		count:  make([][]int64, len(p.strategies)),
	}
	// Candidates need their group count for distinctInstance and spread;
	// spreading on an attribute also counts the tasks everywhere else.
	needGroup, needGroupAll := p.distinct, false
	for _, st := range p.strategies {
		needGroup = needGroup || st.kind == spreadInstance
		needGroupAll = needGroupAll || st.kind == spreadAttribute
	}
	res := &p.res
	for i := range insts {
		in := &insts[i]
		sl := &s.slots[i]
		sl.cpu, sl.mem = in.RemainingCPU, in.RemainingMemory
		if needGroupAll || (needGroup && in.Status == StatusActive && in.AgentConnected) {
			sl.group = int32(groupCount(in, p.group))
		}
		switch {
		case in.Status != StatusActive:
			sl.flags = fInactive
		case !in.AgentConnected:
			sl.flags = fAgent
		case !hasAttributes(in, p.attrs):
			sl.flags = fAttr
		case sl.cpu >= res.CPU && sl.mem >= res.Memory:
			// Ports matter only where CPU and memory fit: those come first
			// in the pipeline, and remaining resources only shrink.
			for _, port := range res.TCPPorts {
				if in.ReservedTCP.Has(port) {
					sl.flags |= fTCP
					break
				}
			}
			for _, port := range res.UDPPorts {
				if in.ReservedUDP.Has(port) {
					sl.flags |= fUDP
					break
				}
			}
		}
	}
	for j, st := range p.strategies {
		if st.kind == spreadAttribute {
			s.bucket[j], s.count[j] = s.buckets(st.attr)
		}
	}
	return s
}

// buckets groups instances by the value of an attribute; bucket 0 holds the
// instances that lack it. Tasks on every instance count, whatever its
// status, so balance accounts for what already runs.
func (s *placement) buckets(attr string) ([]int32, []int64) {
	bucket := make([]int32, len(s.insts))
	count := []int64{0}
	var values []string // a cluster has few distinct values: scan, then map
	var ids map[string]int32
	res := &s.p.res
	for i := range s.insts {
		sl := &s.slots[i]
		never := sl.flags&fNever != 0 || sl.cpu < res.CPU || sl.mem < res.Memory
		if never && sl.group == 0 {
			continue // never a candidate, holds nothing to balance: bucket 0
		}
		v, ok := s.insts[i].Attributes[attr]
		b := int32(0)
		if ok {
			b = -1
			if ids == nil {
				for k, known := range values {
					if known == v {
						b = int32(k + 1)
						break
					}
				}
			} else if id, found := ids[v]; found {
				b = id
			}
			if b < 0 {
				b = int32(len(count))
				count = append(count, 0)
				values = append(values, v)
				if ids != nil {
					ids[v] = b
				} else if len(values) > 8 {
					ids = make(map[string]int32, 2*len(values))
					for k, known := range values {
						ids[known] = int32(k + 1)
					}
				}
			}
		}
		bucket[i] = b
		count[b] += int64(sl.group)
	}
	return bucket, count
}

// groupCount is how many tasks of group are on the instance; without a
// group every task counts.
func groupCount(in *Instance, group string) int {
	if group == "" {
		return in.RunningTasks + in.PendingTasks
	}
	return in.Groups[group]
}

// hasAttributes reports whether the instance has every required attribute
// (and its value, when one is required).
func hasAttributes(in *Instance, attrs []Attribute) bool {
	for _, a := range attrs {
		v, ok := in.Attributes[a.Name]
		if !ok || (a.Value != "" && v != a.Value) {
			return false
		}
	}
	return true
}

func (p *Plan) matchAll(in *Instance) bool {
	for _, e := range p.exprs {
		if !e.Match(in) {
			return false
		}
	}
	return true
}

// memberOK evaluates the memberOf expressions for instance i once, and
// again after a placement changed its task groups.
func (s *placement) memberOK(i int) bool {
	sl := &s.slots[i]
	if sl.flags&fMemberKnown == 0 {
		in := &s.insts[i]
		if sl.placed > 0 && s.p.dynamic && s.p.group != "" {
			// task:group expressions see the tasks placed so far.
			view := *in
			view.Groups = make(map[string]int, len(in.Groups)+1)
			for g, n := range in.Groups {
				view.Groups[g] = n
			}
			view.Groups[s.p.group] += int(sl.placed)
			in = &view
		}
		sl.flags |= fMemberKnown
		if !s.p.matchAll(in) {
			sl.flags |= fMemberFail
		}
	}
	return sl.flags&fMemberFail == 0
}

// feasible reports whether instance i can take one more task, cheapest
// checks first.
func (s *placement) feasible(i int) bool {
	sl := &s.slots[i]
	res := &s.p.res
	if sl.flags&fNever != 0 || sl.cpu < res.CPU || sl.mem < res.Memory {
		return false
	}
	if sl.placed > 0 && (len(res.TCPPorts) > 0 || len(res.UDPPorts) > 0) {
		return false
	}
	if s.p.distinct && sl.group > 0 {
		return false
	}
	return len(s.p.exprs) == 0 || s.memberOK(i)
}

// reject returns why instance i cannot take one more task, or rOK, by the
// first step of the pipeline that refuses it.
func (s *placement) reject(i int) reason {
	sl := &s.slots[i]
	res := &s.p.res
	switch {
	case sl.flags&(fInactive|fExcluded) != 0:
		return rInactive
	case sl.flags&fAgent != 0:
		return rAgent
	case sl.flags&fAttr != 0:
		return rAttribute
	case sl.cpu < res.CPU:
		return rCPU
	case sl.mem < res.Memory:
		return rMemory
	case sl.flags&fTCP != 0 || (sl.placed > 0 && len(res.TCPPorts) > 0):
		return rPorts
	case sl.flags&fUDP != 0 || (sl.placed > 0 && len(res.UDPPorts) > 0):
		return rPortsUDP
	case len(s.p.exprs) > 0 && !s.memberOK(i):
		return rMemberOf
	case s.p.distinct && sl.group > 0:
		return rDistinct
	}
	return rOK
}

// choose returns the index of the best instance for the next task, or -1.
func (s *placement) choose(rnd Rand) int {
	nk := len(s.p.strategies)
	res := &s.p.res
	s.ties = s.ties[:0]
	for i := range s.slots {
		if !s.feasible(i) {
			continue
		}
		sl := &s.slots[i]
		for j, st := range s.p.strategies {
			switch st.kind {
			case binpackCPU:
				s.keys[j] = sl.cpu - res.CPU
			case binpackMemory:
				s.keys[j] = sl.mem - res.Memory
			case spreadInstance:
				s.keys[j] = int64(sl.group)
			case spreadAttribute:
				s.keys[j] = s.count[j][s.bucket[j][i]]
			}
		}
		cmp := -1
		if len(s.ties) > 0 {
			cmp = compareKeys(s.keys[:nk], s.best[:nk])
		}
		switch {
		case cmp < 0:
			s.ties = append(s.ties[:0], i)
			s.best = s.keys
		case cmp == 0:
			s.ties = append(s.ties, i)
		}
	}
	switch len(s.ties) {
	case 0:
		return -1
	case 1:
		return s.ties[0]
	}
	return s.ties[rnd.IntN(len(s.ties))]
}

func compareKeys(a, b []int64) int {
	for j := range a {
		switch {
		case a[j] < b[j]:
			return -1
		case a[j] > b[j]:
			return 1
		}
	}
	return 0
}

// commit records one task placed on instance i.
func (s *placement) commit(i int) {
	sl := &s.slots[i]
	sl.cpu -= s.p.res.CPU
	sl.mem -= s.p.res.Memory
	sl.placed++
	sl.group++
	for j, st := range s.p.strategies {
		if st.kind == spreadAttribute {
			s.count[j][s.bucket[j][i]]++
		}
	}
	if s.p.dynamic {
		sl.flags &^= fMemberKnown | fMemberFail
	}
}

// failures lists, for each reason an ACTIVE instance was rejected for, the
// closest instance: the one with the most of the missing resource for CPU
// and memory, otherwise the first. Reasons reached further down the
// pipeline come first.
func (s *placement) failures() []Failure {
	var closest [numReasons]int
	var metric [numReasons]int64
	for r := range closest {
		closest[r] = -1
	}
	for i := range s.slots {
		r := s.reject(i)
		if r == rOK || r == rInactive {
			continue
		}
		var m int64
		switch r {
		case rCPU:
			m = s.slots[i].cpu
		case rMemory:
			m = s.slots[i].mem
		}
		if closest[r] < 0 || m > metric[r] {
			closest[r], metric[r] = i, m
		}
	}
	var out []Failure
	for r := numReasons - 1; r > rOK; r-- {
		if i := closest[r]; i >= 0 {
			out = append(out, Failure{
				ARN:        s.insts[i].ARN,
				Reason:     r.String(),
				InstanceID: s.insts[i].ID,
			})
		}
	}
	return out
}
