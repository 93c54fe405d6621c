package metrics_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	colmetrics "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	"google.golang.org/protobuf/proto"

	"github.com/berth-project/berth/metrics"
)

// otlpReceiver is an in-process OTLP/HTTP receiver: it decodes every
// POST /v1/metrics and keeps the gauge values by metric name.
type otlpReceiver struct {
	mu     sync.Mutex
	values map[string][]float64
	ctype  string
}

func (r *otlpReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	var in colmetrics.ExportMetricsServiceRequest
	if req.URL.Path != "/v1/metrics" || proto.Unmarshal(body, &in) != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ctype = req.Header.Get("Content-Type")
	for _, rm := range in.ResourceMetrics {
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				if g := m.GetGauge(); g != nil {
					for _, dp := range g.DataPoints {
						r.values[m.Name] = append(r.values[m.Name], dp.GetAsDouble())
					}
				}
			}
		}
	}
	out, _ := proto.Marshal(&colmetrics.ExportMetricsServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

// TestExporter_PrometheusAndOTLP: the latest task values appear on
// /metrics (Prometheus text) and reach an OTLP/HTTP receiver.
func TestExporter_PrometheusAndOTLP(t *testing.T) {
	recv := &otlpReceiver{values: map[string][]float64{}}
	srv := httptest.NewServer(recv)
	defer srv.Close()
	x, err := metrics.NewExporter(t.Context(), metrics.ExporterConfig{Prometheus: true, OTLPEndpoint: srv.URL, OTLPInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Shutdown(t.Context())
	x.ObserveTelemetry(sample(time.Now()))

	rec := httptest.NewRecorder()
	x.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	text := rec.Body.String()
	for _, want := range []string{
		`ecs_task_cpu_utilized{ClusterName="default",TaskDefinitionFamily="burn",TaskId="t1"} 1000`,
		`ecs_task_memory_utilized_mebibytes{ClusterName="default",ServiceName="web",TaskDefinitionFamily="hog",TaskId="t2"} 100`,
		`ecs_task_network_rx_rate_bytes_per_second{ClusterName="default",TaskDefinitionFamily="burn",TaskId="t1"} 10`,
		`ecs_task_cpu_reserved{`, `ecs_task_memory_reserved_mebibytes{`, `ecs_task_network_tx_rate_bytes_per_second{`,
		`ecs_task_storage_read_bytes{`, `ecs_task_storage_write_bytes{`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s:\n%s", want, text)
		}
	}
	if err := x.Flush(t.Context()); err != nil {
		t.Fatalf("flush: %v", err)
	}
	recv.mu.Lock()
	defer recv.mu.Unlock()
	got := recv.values["ecs.task.cpu.utilized"]
	if len(got) != 2 || (got[0] != 1000 && got[1] != 1000) || recv.ctype != "application/x-protobuf" {
		t.Fatalf("OTLP receiver: %v (%s)", recv.values, recv.ctype)
	}
}

func TestCheckMetricsAddr(t *testing.T) {
	for addr, ok := range map[string]bool{"127.0.0.1:9090": true, "[::1]:9090": true, "localhost:9090": true, "0.0.0.0:9090": false, ":9090": false, "10.0.0.1:9090": false} {
		if err := metrics.CheckMetricsAddr(addr, false); (err == nil) != ok {
			t.Errorf("%s: %v", addr, err)
		}
		if err := metrics.CheckMetricsAddr(addr, true); err != nil {
			t.Errorf("%s public: %v", addr, err)
		}
	}
}
