package docker

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/events"
)

// A fake daemon that ends the event stream after one event: the client must
// reconnect, resume with since=<last event time>, and say it reconnected.
func TestEvents_Reconnects(t *testing.T) {
	var mu sync.Mutex
	var queries []string
	conn := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/_ping") {
			w.Header().Set("Api-Version", "1.41")
			return
		}
		if !strings.HasSuffix(r.URL.Path, "/events") {
			http.NotFound(w, r)
			return
		}
		mu.Lock()
		conn++
		n := conn
		queries = append(queries, r.URL.RawQuery)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		msg := events.Message{Type: events.ContainerEventType, Action: "health_status: healthy",
			Actor: events.Actor{ID: "c1", Attributes: map[string]string{LabelTaskARN: "arn"}}, TimeNano: int64(n) * 1e9}
		if n == 2 {
			msg.Action, msg.Actor.Attributes["exitCode"] = events.ActionDie, "3"
		}
		_ = json.NewEncoder(w).Encode(msg)
		w.(http.Flusher).Flush()
		if n >= 2 {
			<-r.Context().Done() // keep the second stream open
		}
	}))
	t.Cleanup(srv.Close) // after t.Context() is cancelled, which ends the open stream

	c, err := New(Options{Host: "tcp://" + strings.TrimPrefix(srv.URL, "http://"), EventsRetryMax: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ch := c.Events(t.Context(), map[string]string{LabelManaged: "me"})
	var got []Event
	for len(got) < 3 {
		select {
		case ev := <-ch:
			got = append(got, ev)
		case <-time.After(5 * time.Second):
			t.Fatalf("events so far: %+v", got)
		}
	}
	if got[0].Action != ActionHealthStatus || got[0].Health != "healthy" || got[0].ContainerID != "c1" {
		t.Errorf("first = %+v", got[0])
	}
	if got[1].Action != ActionReconnected {
		t.Errorf("second = %+v, want reconnected", got[1])
	}
	if got[2].Action != ActionDie || got[2].ExitCode == nil || *got[2].ExitCode != 3 {
		t.Errorf("third = %+v", got[2])
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(queries[0], "label") || strings.Contains(queries[0], "since") {
		t.Errorf("first query = %s", queries[0])
	}
	if !strings.Contains(queries[1], "since=1.000000000") {
		t.Errorf("second query = %s, want since=1.000000000", queries[1])
	}
}
