package agent

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/berth-project/berth/services/agent/docker"
	"github.com/berth-project/berth/services/agent/engine"
)

// statsMaxAge: an older cached sample is not used as the previous one.
const statsMaxAge = 5 * time.Minute

// statsCache serves Docker stats documents for the metadata endpoint the
// way the ECS agent does: the daemon's JSON, with precpu_stats taken from the
// previous sample the agent saw (so CPU rates work without the daemon's
// one-second double sample, which is used only for a container's first
// request) and network_rate_stats computed between the two samples.
type statsCache struct {
	mu   sync.Mutex
	last map[string]statsSample // by container ID
}

type statsSample struct {
	doc    map[string]json.RawMessage
	read   time.Time
	rx, tx uint64
	hasNet bool
}

type networkRateStats struct {
	RxBytesPerSec float64 `json:"rx_bytes_per_sec"`
	TxBytesPerSec float64 `json:"tx_bytes_per_sec"`
}

func newStatsCache() *statsCache { return &statsCache{last: map[string]statsSample{}} }

// get returns the stats document of a container, or nil when it does not
// run (or Docker fails).
func (s *statsCache) get(ctx context.Context, dc *docker.Client, c engine.ContainerReport) map[string]json.RawMessage {
	if c.RuntimeID == "" || c.LastStatus != engine.ContainerRunning {
		return nil
	}
	s.mu.Lock()
	prev, havePrev := s.last[c.RuntimeID]
	s.mu.Unlock()
	if havePrev && time.Since(prev.read) > statsMaxAge {
		havePrev = false
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	raw, err := dc.Stats(ctx, c.RuntimeID, !havePrev)
	if err != nil {
		return nil
	}
	cur, ok := parseSample(raw)
	if !ok {
		return nil
	}
	doc := cur.doc
	if havePrev && prev.read.Before(cur.read) {
		doc = make(map[string]json.RawMessage, len(cur.doc)+1)
		for k, v := range cur.doc {
			doc[k] = v
		}
		doc["precpu_stats"] = prev.doc["cpu_stats"]
		doc["preread"] = prev.doc["read"]
		if cur.hasNet && prev.hasNet {
			dt := cur.read.Sub(prev.read).Seconds()
			rates := networkRateStats{
				RxBytesPerSec: float64(cur.rx-min(prev.rx, cur.rx)) / dt,
				TxBytesPerSec: float64(cur.tx-min(prev.tx, cur.tx)) / dt,
			}
			doc["network_rate_stats"], _ = json.Marshal(rates)
		}
	} else if cur.hasNet {
		doc["network_rate_stats"], _ = json.Marshal(networkRateStats{})
	}
	s.mu.Lock()
	s.last[c.RuntimeID] = cur
	for id, smp := range s.last {
		if time.Since(smp.read) > statsMaxAge {
			delete(s.last, id)
		}
	}
	s.mu.Unlock()
	return doc
}

func parseSample(raw json.RawMessage) (statsSample, bool) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &doc); err != nil {
		return statsSample{}, false
	}
	var head struct {
		Read     time.Time `json:"read"`
		Networks map[string]struct {
			Rx uint64 `json:"rx_bytes"`
			Tx uint64 `json:"tx_bytes"`
		} `json:"networks"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return statsSample{}, false
	}
	smp := statsSample{doc: doc, read: head.Read, hasNet: len(head.Networks) > 0}
	for _, n := range head.Networks {
		smp.rx += n.Rx
		smp.tx += n.Tx
	}
	return smp, true
}
