package main

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	colmetrics "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/berth-project/berth/internal/natstest"
	"github.com/berth-project/berth/internal/testenv"
)

// cw runs an aws cloudwatch command (query protocol, /usr/bin/aws) and
// decodes its output. The region is named because the test CLI clears
// AWS_DEFAULT_REGION, which the query signer would take as the region.
func (p *berthProc) cw(t testing.TB, out any, args ...string) error {
	t.Helper()
	res := p.cli.Run(t, "", append([]string{"--region", testenv.Region, "cloudwatch"}, args...)...)
	if res.Exit != 0 {
		return fmt.Errorf("aws cloudwatch %v: exit %d: %s", args, res.Exit, res.Stderr)
	}
	return json.Unmarshal([]byte(res.Stdout), out)
}

type cwDatapoint struct {
	Timestamp                                   string
	Average, Maximum, Minimum, Sum, SampleCount float64
	Unit                                        string
}

// stats is get-metric-statistics over the last 10 minutes, oldest first.
func (p *berthProc) stats(t testing.TB, ns, metric string, dims ...string) ([]cwDatapoint, error) {
	now := time.Now().UTC()
	args := []string{"get-metric-statistics", "--namespace", ns, "--metric-name", metric,
		"--start-time", now.Add(-10 * time.Minute).Format(time.RFC3339), "--end-time", now.Add(time.Minute).Format(time.RFC3339),
		"--period", "60", "--statistics", "Average", "Maximum", "Minimum", "Sum", "SampleCount", "--dimensions"}
	var out struct{ Datapoints []cwDatapoint }
	if err := p.cw(t, &out, append(args, dims...)...); err != nil {
		return nil, err
	}
	sort.Slice(out.Datapoints, func(i, j int) bool { return out.Datapoints[i].Timestamp < out.Datapoints[j].Timestamp })
	return out.Datapoints, nil
}

// TestE2E_ContainerInsights is the acceptance of issue 14 on the real
// dockerd through the all-in-one: enable Container Insights on default,
// run a task that burns a core and one that holds 100 MiB, and read the
// metrics back with the Debian CLI (query protocol); then disable it and
// see no more datapoints.
func TestE2E_ContainerInsights(t *testing.T) {
	requireDocker(t)
	t.Parallel()
	bin := buildBerth(t)
	owner := e2eOwner(t)
	const interval = 5 * time.Second
	recv := &otlpReceiver{values: map[string][]float64{}, spans: map[string][]otlpSpan{}}
	otlp := httptest.NewServer(recv)
	defer otlp.Close()
	promAddr := testenv.FreeAddr(t)
	p := startBerthWithAgent(t, bin, t.TempDir(), owner, "--agent-insights-interval", interval.String(),
		"--metrics-addr", promAddr, "--otlp-endpoint", otlp.URL)
	image := p.pushBusybox(t, "busybox", "insights")

	p.aws(t, "ecs", "update-cluster-settings", "--cluster", "default", "--settings", "name=containerInsights,value=enabled")
	burn := p.registerTaskDef(t, taskDef("ci-burn", map[string]any{"name": "burn", "image": image, "cpu": 1024, "memory": 64,
		"essential": true, "stopTimeout": 2, "command": []string{"sh", "-c", "while :; do :; done"}}))
	// dd fills one 100 MiB buffer from /dev/zero at once, then blocks
	// writing it to a pipe nobody reads: 100 MiB stay resident.
	hog := p.registerTaskDef(t, taskDef("ci-hog", map[string]any{"name": "hog", "image": image, "memory": 256,
		"essential": true, "stopTimeout": 2, "command": []string{"sh", "-c", "dd if=/dev/zero bs=104857600 count=1 | sleep 3600"}}))
	c := p.ecs(t)
	started := time.Now()
	var burnARN string
	for _, td := range []string{burn, hog} {
		arn := p.runTasks(t, td, 1)[0]
		if td == burn {
			burnARN = arn
		}
		waitTask(t, c, arn, time.Minute, status("RUNNING"))
	}

	var cpu, mem []cwDatapoint
	natstest.Eventually(t, 2*time.Minute, time.Second, func() error {
		var err error
		if cpu, err = p.stats(t, "ECS/ContainerInsights", "CpuUtilized", "Name=ClusterName,Value=default", "Name=TaskDefinitionFamily,Value=ci-burn"); err != nil || len(cpu) == 0 {
			return fmt.Errorf("CpuUtilized: %v %v", err, cpu)
		}
		if mem, err = p.stats(t, "ECS/ContainerInsights", "MemoryUtilized", "Name=ClusterName,Value=default", "Name=TaskDefinitionFamily,Value=ci-hog"); err != nil || len(mem) == 0 {
			return fmt.Errorf("MemoryUtilized: %v %v", err, mem)
		}
		if m := mem[len(mem)-1].Maximum; m < 95 {
			return fmt.Errorf("MemoryUtilized %v MB, still allocating", m)
		}
		return nil
	})
	t.Logf("first datapoints %s after the tasks ran: burn CpuUtilized %+v; hog MemoryUtilized %+v", time.Since(started).Round(time.Second), cpu, mem)
	last := cpu[len(cpu)-1]
	// One busy thread is 1024 units at most; the shared test machine gives
	// it less, so this checks the scale and unit, not the host's load.
	if last.Maximum < 150 || last.Maximum > 1100 || last.Unit != "None" {
		t.Errorf("CpuUtilized %+v, want about 1024 units (less on a loaded host)", last)
	}
	if m := mem[len(mem)-1]; m.Maximum < 95 || m.Maximum > 115 || m.Unit != "Megabytes" {
		t.Errorf("MemoryUtilized %+v, want about 100 MB", m)
	}
	cluster, err := p.stats(t, "ECS/ContainerInsights", "CpuUtilized", "Name=ClusterName,Value=default")
	if err != nil || len(cluster) == 0 {
		t.Fatalf("cluster CpuUtilized: %v %v", err, cluster)
	}

	want := []string{"CpuReserved", "CpuUtilized", "MemoryReserved", "MemoryUtilized", "NetworkRxBytes", "NetworkTxBytes",
		"StorageReadBytes", "StorageWriteBytes", "TaskCount", "ContainerInstanceCount", "ServiceCount"}
	natstest.Eventually(t, time.Minute, time.Second, func() error {
		var lm struct{ Metrics []struct{ MetricName string } }
		if err := p.cw(t, &lm, "list-metrics", "--namespace", "ECS/ContainerInsights", "--dimensions", "Name=ClusterName,Value=default"); err != nil {
			return err
		}
		have := map[string]bool{}
		for _, m := range lm.Metrics {
			have[m.MetricName] = true
		}
		var missing []string
		for _, w := range want {
			if !have[w] {
				missing = append(missing, w)
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("list-metrics lacks %s", strings.Join(missing, ", "))
		}
		return nil
	})
	if tc, err := p.stats(t, "ECS/ContainerInsights", "TaskCount", "Name=ClusterName,Value=default"); err != nil || len(tc) == 0 || tc[len(tc)-1].Maximum != 2 {
		t.Errorf("TaskCount: %v %+v", err, tc)
	}
	if u, err := p.stats(t, "AWS/ECS", "CPUReservation", "Name=ClusterName,Value=default"); err != nil || len(u) == 0 || u[len(u)-1].Maximum <= 0 {
		t.Errorf("AWS/ECS CPUReservation: %v %+v", err, u)
	}

	checkPrometheus(t, promAddr)
	checkPerformanceLog(t, p, image)

	// Disabled: after the agent has seen the setting (one sample may be in
	// flight), no datapoint is added over four intervals.
	p.aws(t, "ecs", "update-cluster-settings", "--cluster", "default", "--settings", "name=containerInsights,value=disabled")
	count := func() float64 {
		dps, err := p.stats(t, "ECS/ContainerInsights", "CpuUtilized", "Name=ClusterName,Value=default")
		if err != nil {
			t.Fatal(err)
		}
		var n float64
		for _, d := range dps {
			n += d.SampleCount
		}
		return n
	}
	base := count()
	deadline := time.Now().Add(4 * interval)
	for time.Now().Before(deadline) {
		if n := count(); n > base+3 { // one sample in flight: two tasks and the deleted service's task
			t.Fatalf("disabled cluster: datapoints grew from %v to %v", base, n)
		}
	}
	// SIGTERM flushes the OTLP exporter into the in-process receiver.
	p.stop(t, syscall.SIGTERM)
	recv.mu.Lock()
	defer recv.mu.Unlock()
	if mem := recv.values["ecs.task.memory.utilized"]; len(mem) == 0 || slices.Max(mem) < 95 {
		t.Errorf("OTLP receiver: ecs.task.memory.utilized %v, want about 100", mem)
	}
	if len(recv.values["ecs.task.cpu.utilized"]) == 0 {
		t.Errorf("OTLP receiver: no ecs.task.cpu.utilized: %v", recv.values)
	}
	checkRunTaskTrace(t, recv.spans, burnARN)
}

// checkRunTaskTrace: the agent's span that started the task belongs to the
// trace of the run-task call, which also holds the gateway's span, the
// scheduler's RunTask handler span and its placement span.
func checkRunTaskTrace(t *testing.T, spans map[string][]otlpSpan, taskARN string) {
	t.Helper()
	var traceID string
	for id, ss := range spans {
		for _, s := range ss {
			if s.name == "agent.StartTask" && s.attrs["ecs.task.arn"] == taskARN {
				traceID = id
			}
		}
	}
	if traceID == "" {
		t.Fatalf("OTLP receiver: no agent.StartTask span for %s among %d traces", taskARN, len(spans))
	}
	names := map[string]bool{}
	for _, s := range spans[traceID] {
		names[s.name] = true
	}
	t.Logf("trace %s of run-task: %d spans %v", traceID, len(spans[traceID]), names)
	for _, want := range []string{"gateway ecs.RunTask", "ecs.RunTask", "scheduler.place", "agent.StartTask"} {
		if !names[want] {
			t.Errorf("trace %s lacks span %q: %v", traceID, want, names)
		}
	}
}

// checkPrometheus reads /metrics: the Container Insights series of both
// families and the gateway's request counter by operation.
func checkPrometheus(t *testing.T, addr string) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	text := string(body)
	var cpu, mem float64
	for _, line := range strings.Split(text, "\n") {
		fields := strings.Fields(line)
		if len(fields) != 2 {
			continue
		}
		v, _ := strconv.ParseFloat(fields[1], 64)
		switch {
		case strings.HasPrefix(line, "ecs_task_cpu_utilized{") && strings.Contains(line, `TaskDefinitionFamily="ci-burn"`):
			cpu = v
		case strings.HasPrefix(line, "ecs_task_memory_utilized_mebibytes{") && strings.Contains(line, `TaskDefinitionFamily="ci-hog"`):
			mem = v
		}
	}
	t.Logf("prometheus: burn ecs_task_cpu_utilized %.0f, hog ecs_task_memory_utilized_mebibytes %.1f", cpu, mem)
	if cpu < 150 || mem < 95 || mem > 115 {
		t.Errorf("/metrics: cpu %v, memory %v:\n%s", cpu, mem, text)
	}
	for _, want := range []string{`berth_gateway_requests_total{api="cloudwatch",operation="GetMetricStatistics",status="2xx"}`,
		`berth_jetstream_consumer_pending{consumer="metrics-telemetry",stream="TELEMETRY"}`, `berth_agents_connected{ClusterName="default"} 1`} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// otlpReceiver is an in-process OTLP/HTTP receiver keeping gauge values by
// metric name and spans by trace id.
type otlpReceiver struct {
	mu     sync.Mutex
	values map[string][]float64
	spans  map[string][]otlpSpan
}

// otlpSpan is what the tests read of a received span.
type otlpSpan struct {
	name  string
	attrs map[string]string
}

func (r *otlpReceiver) serveTraces(w http.ResponseWriter, body []byte) {
	var in coltrace.ExportTraceServiceRequest
	if proto.Unmarshal(body, &in) != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	for _, rs := range in.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			for _, sp := range ss.Spans {
				attrs := map[string]string{}
				for _, kv := range sp.Attributes {
					attrs[kv.Key] = kv.GetValue().GetStringValue()
				}
				id := hex.EncodeToString(sp.TraceId)
				r.spans[id] = append(r.spans[id], otlpSpan{name: sp.Name, attrs: attrs})
			}
		}
	}
	r.mu.Unlock()
	out, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

func (r *otlpReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	if req.URL.Path == "/v1/traces" {
		r.serveTraces(w, body)
		return
	}
	var in colmetrics.ExportMetricsServiceRequest
	if req.URL.Path != "/v1/metrics" || proto.Unmarshal(body, &in) != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rm := range in.ResourceMetrics {
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				for _, dp := range m.GetGauge().GetDataPoints() {
					r.values[m.Name] = append(r.values[m.Name], dp.GetAsDouble())
				}
			}
		}
	}
	out, _ := proto.Marshal(&colmetrics.ExportMetricsServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

// perfEvents reads the cluster's performance log group with the Debian CLI
// (filter-log-events) and returns its EMF events by Type.
func (p *berthProc) perfEvents(t testing.TB, cluster string) (map[string][]map[string]any, error) {
	group := "/aws/ecs/containerinsights/" + cluster + "/performance"
	res := p.cli.Run(t, "", "--region", testenv.Region, "logs", "filter-log-events", "--log-group-name", group)
	if res.Exit != 0 {
		return nil, fmt.Errorf("aws logs filter-log-events: exit %d: %s", res.Exit, res.Stderr)
	}
	var out struct {
		Events []struct {
			LogStreamName string `json:"logStreamName"`
			Message       string `json:"message"`
		} `json:"events"`
	}
	if err := json.Unmarshal([]byte(res.Stdout), &out); err != nil {
		return nil, err
	}
	byType := map[string][]map[string]any{}
	for _, e := range out.Events {
		var ev map[string]any
		if err := json.Unmarshal([]byte(e.Message), &ev); err != nil {
			return nil, fmt.Errorf("performance event in %s is not JSON: %q", e.LogStreamName, e.Message)
		}
		ev["logStreamName"] = e.LogStreamName
		typ, _ := ev["Type"].(string)
		byType[typ] = append(byType[typ], ev)
	}
	return byType, nil
}

// checkPerformanceLog reads the performance log group: Task events of the
// running tasks (with their CloudWatchMetrics block) and Container and
// Cluster events; then it creates a service and waits for its Service
// event and its RunningTaskCount datapoint, and deletes it.
func checkPerformanceLog(t *testing.T, p *berthProc, image string) {
	t.Helper()
	natstest.Eventually(t, time.Minute, time.Second, func() error {
		evs, err := p.perfEvents(t, "default")
		if err != nil {
			return err
		}
		fams := map[any]bool{}
		for _, ev := range evs["Task"] {
			if ev["CloudWatchMetrics"] == nil || ev["TaskId"] == "" || !strings.HasPrefix(ev["logStreamName"].(string), "AgentTelemetry-") {
				return fmt.Errorf("task event %v", ev)
			}
			fams[ev["TaskDefinitionFamily"]] = true
		}
		if !fams["ci-burn"] || !fams["ci-hog"] || len(evs["Container"]) == 0 || len(evs["Cluster"]) == 0 {
			return fmt.Errorf("performance events: %d Task (families %v), %d Container, %d Cluster",
				len(evs["Task"]), fams, len(evs["Container"]), len(evs["Cluster"]))
		}
		return nil
	})

	td := p.registerTaskDef(t, taskDef("ci-svc", map[string]any{"name": "app", "image": image, "memory": 32,
		"essential": true, "stopTimeout": 2, "command": []string{"sleep", "3600"}}))
	p.aws(t, "ecs", "create-service", "--service-name", "ci-web", "--task-definition", td, "--desired-count", "1")
	defer func() {
		p.aws(t, "ecs", "delete-service", "--service", "ci-web", "--force")
	}()
	var svc map[string]any
	natstest.Eventually(t, 2*time.Minute, time.Second, func() error {
		evs, err := p.perfEvents(t, "default")
		if err != nil {
			return err
		}
		for _, ev := range evs["Service"] {
			if ev["ServiceName"] == "ci-web" && ev["RunningTaskCount"] == 1.0 {
				svc = ev
				return nil
			}
		}
		return fmt.Errorf("no Service event of ci-web with one running task among %d Service events", len(evs["Service"]))
	})
	t.Logf("service event: %v", svc)
	if svc["ClusterName"] != "default" || svc["DesiredTaskCount"] != 1.0 || svc["DeploymentCount"] != 1.0 || svc["CloudWatchMetrics"] == nil {
		t.Errorf("service event %v", svc)
	}
	natstest.Eventually(t, time.Minute, time.Second, func() error {
		dps, err := p.stats(t, "ECS/ContainerInsights", "RunningTaskCount", "Name=ClusterName,Value=default", "Name=ServiceName,Value=ci-web")
		if err != nil || len(dps) == 0 || dps[len(dps)-1].Maximum != 1 || dps[len(dps)-1].Unit != "Count" {
			return fmt.Errorf("RunningTaskCount of ci-web: %v %+v", err, dps)
		}
		return nil
	})
	if sc, err := p.stats(t, "ECS/ContainerInsights", "ServiceCount", "Name=ClusterName,Value=default"); err != nil || len(sc) == 0 || sc[len(sc)-1].Maximum != 1 {
		t.Errorf("ServiceCount: %v %+v", err, sc)
	}
}
