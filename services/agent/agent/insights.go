package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/events/ecsapi"
	"github.com/berth-project/berth/internal/natsutil"
	"github.com/berth-project/berth/services/agent/docker"
	"github.com/berth-project/berth/services/agent/engine"
)

// DefaultInsightsInterval is how often the agent samples its containers
// for Container Insights (when the cluster has it enabled).
const DefaultInsightsInterval = time.Minute

// insights samples the containers of this host once per interval while the
// cluster has containerInsights enabled and publishes one
// events.TelemetrySample on the TELEMETRY stream. While it is disabled the
// agent makes no stats calls at all.
type insights struct {
	prev  map[string]containerPoint // by Docker container id
	calls atomic.Int64
}

// containerPoint is what one stats call said about a container.
type containerPoint struct {
	read                                 time.Time
	cpuNS                                uint64
	memBytes                             float64
	hasNet                               bool
	rx, tx, rxp, txp, rxd, txd, rxe, txe uint64
	blkRead, blkWrite                    uint64
}

// InsightsStatsCalls is the number of Docker stats calls made for Container
// Insights (none while the cluster has it disabled).
func (a *Agent) InsightsStatsCalls() int64 { return a.ins.calls.Load() }

func (a *Agent) runInsights(ctx context.Context) {
	interval := a.cfg.InsightsInterval
	if interval <= 0 {
		interval = DefaultInsightsInterval
	}
	js, err := jetstream.New(a.nc)
	if err != nil {
		a.log.Warn("container insights off", "err", err)
		return
	}
	// Every step the agent checks the setting (a NATS request, no stats
	// call) and primes containers it has not sampled yet, so a new task
	// has its first value one interval after it is seen, not two.
	step := min(interval, 10*time.Second)
	t := time.NewTicker(step)
	defer t.Stop()
	next := time.Now().Add(interval)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !a.insightsEnabled(ctx) {
			clear(a.ins.prev)
			continue
		}
		if time.Now().Before(next) {
			a.primeInsights(ctx)
			continue
		}
		next = time.Now().Add(interval - step/2)
		smp := a.sampleInsights(ctx)
		if len(smp.Tasks) > 0 {
			a.publishInsights(ctx, js, smp)
		}
	}
}

func (a *Agent) publishInsights(ctx context.Context, js jetstream.JetStream, smp events.TelemetrySample) {
	data, _ := json.Marshal(smp)
	id := fmt.Sprintf("%s-%d", a.instanceID, smp.Timestamp.UnixNano())
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	// The subject names the container instance: the agent's NATS identity
	// may publish telemetry for its own instance only.
	if _, err := js.Publish(ctx, events.SubjTelemetry(a.proto.Cluster(), a.proto.InstanceID()), data, jetstream.WithMsgID(id)); err != nil && ctx.Err() == nil {
		a.log.Warn("container insights sample not published", "err", err)
	}
}

// primeInsights takes a first sample of running containers not sampled yet.
func (a *Agent) primeInsights(ctx context.Context) {
	pts := a.fetchStats(ctx, a.eng.Tasks(), func(id string) bool { _, ok := a.ins.prev[id]; return !ok })
	for id, p := range pts {
		a.ins.prev[id] = p
	}
}

// statsConcurrency bounds the stats calls in flight: a busy daemon takes
// up to a second per one-shot call, so 50 containers one after the other
// would take most of a minute.
const statsConcurrency = 8

// fetchStats makes one stats call per running container of reps that want
// accepts, at most statsConcurrency at a time.
func (a *Agent) fetchStats(ctx context.Context, reps []engine.Report, want func(id string) bool) map[string]containerPoint {
	var ids []string
	for _, rep := range reps {
		if rep.LastStatus != engine.TaskRunning {
			continue
		}
		for _, c := range rep.Containers {
			if c.RuntimeID != "" && c.LastStatus == engine.ContainerRunning && want(c.RuntimeID) {
				ids = append(ids, c.RuntimeID)
			}
		}
	}
	out := make(map[string]containerPoint, len(ids))
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, statsConcurrency)
	for _, id := range ids {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			a.ins.calls.Add(1)
			raw, err := a.dc.Stats(sctx, id, false)
			if err != nil {
				return
			}
			if p, ok := parseContainerPoint(raw); ok {
				mu.Lock()
				out[id] = p
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return out
}

// insightsEnabled asks the scheduler for the cluster's settings.
func (a *Agent) insightsEnabled(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var out ecsapi.DescribeClustersResponse
	err := natsutil.Call(ctx, a.nc, events.SubjAPI(events.APIECS, "DescribeClusters"),
		ecsapi.DescribeClustersRequest{Clusters: []string{a.cfg.Cluster}, Include: []string{"SETTINGS"}}, &out)
	if err != nil || len(out.Clusters) == 0 {
		return false
	}
	for _, st := range out.Clusters[0].Settings {
		if st.Name == events.ClusterSettingContainerInsights {
			return st.Value == events.ContainerInsightsEnabled || st.Value == events.ContainerInsightsEnhanced
		}
	}
	return false
}

// sampleInsights reads every running container's stats once and computes
// each task's values against the previous sample; a container's first
// sample only primes it (as the ECS agent discards the first).
func (a *Agent) sampleInsights(ctx context.Context) events.TelemetrySample {
	smp := events.TelemetrySample{
		Cluster: a.cfg.Cluster, ContainerInstanceArn: a.proto.InstanceArn(), InstanceID: a.instanceID,
		Timestamp: time.Now().UTC(), RegisteredCPU: float64(a.host.CPUs * 1024), RegisteredMemory: float64(a.host.MemoryMiB),
	}
	seen := map[string]bool{}
	reps := a.eng.Tasks()
	pts := a.fetchStats(ctx, reps, func(string) bool { return true })
	for _, rep := range reps {
		if rep.LastStatus != engine.TaskRunning {
			continue
		}
		asg, _ := a.desired.get(rep.TaskARN)
		if smp.ClusterArn == "" {
			smp.ClusterArn = asg.ClusterArn
		}
		ts, ok := a.sampleTask(rep, asg, seen, pts)
		if ok {
			smp.Tasks = append(smp.Tasks, ts)
		}
	}
	for id := range a.ins.prev {
		if !seen[id] {
			delete(a.ins.prev, id)
		}
	}
	return smp
}

func (a *Agent) sampleTask(rep engine.Report, asg events.TaskAssignment, seen map[string]bool, pts map[string]containerPoint) (events.TaskSample, bool) {
	ts := events.TaskSample{
		TaskArn: rep.TaskARN, Family: rep.Family, Revision: rep.Revision, KnownStatus: "RUNNING", LaunchType: "EC2",
		CreatedAt: asg.CreatedAt, StartedAt: rep.StartedAt, PullStartedAt: rep.PullStartedAt, PullStoppedAt: rep.PullStoppedAt,
	}
	if name, ok := strings.CutPrefix(asg.Group, "service:"); ok {
		ts.ServiceName = name
	}
	var taskCPU, taskMem float64
	if asg.TaskDefinition != nil {
		def := docker.ApplyTaskOverride(*asg.TaskDefinition, asg.Overrides)
		if u, ok := docker.TaskCPUUnits(def.Cpu); ok {
			taskCPU = float64(u)
		}
		if m, ok := docker.TaskMemoryMiB(def.Memory); ok {
			taskMem = float64(m)
		}
	}
	complete := false
	for _, c := range rep.Containers {
		if c.RuntimeID == "" || c.LastStatus != engine.ContainerRunning {
			continue
		}
		seen[c.RuntimeID] = true
		cs, ok := a.sampleContainer(c, &ts, pts)
		if def := containerDef(asg, c.Name); def != nil {
			if def.Cpu != nil {
				cs.CpuReserved = float64(*def.Cpu)
			}
			if def.Memory != nil {
				cs.MemoryReserved = float64(*def.Memory)
			} else if def.MemoryReservation != nil {
				cs.MemoryReserved = float64(*def.MemoryReservation)
			}
		}
		if !ok {
			continue
		}
		complete = true
		ts.CpuUtilized += cs.CpuUtilized
		ts.MemoryUtilized += cs.MemoryUtilized
		ts.Containers = append(ts.Containers, cs)
		if taskCPU == 0 {
			ts.CpuReserved += cs.CpuReserved
		}
		if taskMem == 0 {
			ts.MemoryReserved += cs.MemoryReserved
		}
	}
	if taskCPU > 0 {
		ts.CpuReserved = taskCPU
	}
	if taskMem > 0 {
		ts.MemoryReserved = taskMem
	}
	return ts, complete
}

// sampleContainer computes a container's values from its fetched point
// and adds its network and storage to the task.
func (a *Agent) sampleContainer(c engine.ContainerReport, ts *events.TaskSample, pts map[string]containerPoint) (events.ContainerSample, bool) {
	cs := events.ContainerSample{Name: c.Name, DockerID: c.RuntimeID, Image: c.Image}
	cur, ok := pts[c.RuntimeID]
	if !ok {
		return cs, false
	}
	prev, had := a.ins.prev[c.RuntimeID]
	a.ins.prev[c.RuntimeID] = cur
	if !had || !cur.read.After(prev.read) || cur.cpuNS < prev.cpuNS {
		return cs, false
	}
	dt := cur.read.Sub(prev.read)
	cs.CpuUtilized = float64(cur.cpuNS-prev.cpuNS) / float64(dt.Nanoseconds()) * 1024
	cs.MemoryUtilized = cur.memBytes / (1 << 20)
	if cur.hasNet && prev.hasNet {
		ts.HasNetwork = true
		rate := func(now, before uint64) float64 { return float64(now-min(before, now)) / dt.Seconds() }
		ts.NetworkRxBytes += rate(cur.rx, prev.rx)
		ts.NetworkTxBytes += rate(cur.tx, prev.tx)
		ts.NetworkRxPackets += rate(cur.rxp, prev.rxp)
		ts.NetworkTxPackets += rate(cur.txp, prev.txp)
		ts.NetworkRxDropped += rate(cur.rxd, prev.rxd)
		ts.NetworkTxDropped += rate(cur.txd, prev.txd)
		ts.NetworkRxErrors += rate(cur.rxe, prev.rxe)
		ts.NetworkTxErrors += rate(cur.txe, prev.txe)
	}
	ts.StorageReadBytes += float64(cur.blkRead)
	ts.StorageWriteBytes += float64(cur.blkWrite)
	return cs, true
}

// statsDoc is the part of Docker's stats document Container Insights uses.
type statsDoc struct {
	Read     time.Time `json:"read"`
	CPUStats struct {
		CPUUsage struct {
			TotalUsage uint64 `json:"total_usage"`
		} `json:"cpu_usage"`
	} `json:"cpu_stats"`
	MemoryStats struct {
		Usage uint64            `json:"usage"`
		Stats map[string]uint64 `json:"stats"`
	} `json:"memory_stats"`
	Networks map[string]struct {
		RxBytes   uint64 `json:"rx_bytes"`
		TxBytes   uint64 `json:"tx_bytes"`
		RxPackets uint64 `json:"rx_packets"`
		TxPackets uint64 `json:"tx_packets"`
		RxDropped uint64 `json:"rx_dropped"`
		TxDropped uint64 `json:"tx_dropped"`
		RxErrors  uint64 `json:"rx_errors"`
		TxErrors  uint64 `json:"tx_errors"`
	} `json:"networks"`
	BlkioStats struct {
		IOServiceBytesRecursive []struct {
			Op    string `json:"op"`
			Value uint64 `json:"value"`
		} `json:"io_service_bytes_recursive"`
	} `json:"blkio_stats"`
}

// parseContainerPoint reads a stats document. Memory is usage minus the
// page cache as the ECS agent computes it: cache on cgroup v1 (detected by
// total_inactive_file), inactive_file on v2.
func parseContainerPoint(raw []byte) (containerPoint, bool) {
	var d statsDoc
	if err := json.Unmarshal(raw, &d); err != nil || d.Read.IsZero() {
		return containerPoint{}, false
	}
	p := containerPoint{read: d.Read, cpuNS: d.CPUStats.CPUUsage.TotalUsage}
	cached := d.MemoryStats.Stats["inactive_file"]
	if _, v1 := d.MemoryStats.Stats["total_inactive_file"]; v1 {
		cached = d.MemoryStats.Stats["cache"]
	}
	p.memBytes = float64(d.MemoryStats.Usage - min(cached, d.MemoryStats.Usage))
	p.hasNet = len(d.Networks) > 0
	for _, n := range d.Networks {
		p.rx += n.RxBytes
		p.tx += n.TxBytes
		p.rxp += n.RxPackets
		p.txp += n.TxPackets
		p.rxd += n.RxDropped
		p.txd += n.TxDropped
		p.rxe += n.RxErrors
		p.txe += n.TxErrors
	}
	for _, e := range d.BlkioStats.IOServiceBytesRecursive {
		switch strings.ToLower(e.Op) {
		case "read":
			p.blkRead += e.Value
		case "write":
			p.blkWrite += e.Value
		}
	}
	return p, true
}
