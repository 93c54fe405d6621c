package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/natsutil"
)

// stage is one layer of a call, timed on its own.
type stage struct {
	name string
	call func(ctx context.Context) error
}

// printStages times, on st, the layers an API call goes through, from the
// inside out: one JetStream KV read and one compare-and-set write (each a
// round trip to the embedded server; the write is appended to the file
// store), then each operation as a NATS request straight to the service
// (no HTTP, no SigV4, no SDK). The gap to the full SDK call is the client,
// HTTP and the gateway.
func printStages(ctx context.Context, w io.Writer, st *stack, n int) error {
	js, err := jetstream.New(st.svcNC)
	if err != nil {
		return err
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "bench_stages", Storage: jetstream.FileStorage, History: 1})
	if err != nil {
		return err
	}
	rev, err := kv.Put(ctx, "k", []byte(`{"family":"bench"}`))
	if err != nil {
		return err
	}
	mem, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "bench_stages_mem", Storage: jetstream.MemoryStorage, History: 1})
	if err != nil {
		return err
	}
	memRev, err := mem.Put(ctx, "k", []byte(`{"family":"bench"}`))
	if err != nil {
		return err
	}
	regBody := []byte(`{"family":"bench-stages","containerDefinitions":[{"name":"nginx","image":"nginx","cpu":384,"memory":384,"essential":true,` +
		`"portMappings":[{"containerPort":80,"hostPort":0,"protocol":"tcp"}]}]}`)
	if _, err := natsutil.RequestRaw(ctx, st.svcNC, events.SubjAPI(events.APIECS, "RegisterTaskDefinition"), regBody, nil); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	descBody := []byte(`{"taskDefinition":"bench-stages"}`)
	hdr := nats.Header{}
	stages := []stage{
		{"KV Get (1 JetStream round trip)", func(ctx context.Context) error {
			_, err := kv.Get(ctx, "k")
			return err
		}},
		{"KV Update with expected revision (1 stored write)", func(ctx context.Context) error {
			r, err := kv.Update(ctx, "k", []byte(`{"family":"bench"}`), rev)
			rev = r
			return err
		}},
		{"KV Update, memory storage (comparison only: Berth stores on file)", func(ctx context.Context) error {
			r, err := mem.Update(ctx, "k", []byte(`{"family":"bench"}`), memRev)
			memRev = r
			return err
		}},
		{"RegisterTaskDefinition as a NATS request (no gateway)", func(ctx context.Context) error {
			_, err := natsutil.RequestRaw(ctx, st.svcNC, events.SubjAPI(events.APIECS, "RegisterTaskDefinition"), regBody, hdr)
			return err
		}},
		{"DescribeTaskDefinition as a NATS request (no gateway)", func(ctx context.Context) error {
			_, err := natsutil.RequestRaw(ctx, st.svcNC, events.SubjAPI(events.APIECS, "DescribeTaskDefinition"), descBody, hdr)
			return err
		}},
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight|tabwriter.Debug)
	fmt.Fprintln(tw, "Berth stage\tp50 ms\tp99 ms\t")
	for _, s := range stages {
		lat := make([]time.Duration, n)
		for i := range lat {
			t0 := time.Now()
			if err := s.call(ctx); err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
			lat[i] = time.Since(t0)
		}
		slices.Sort(lat)
		fmt.Fprintf(tw, "%s\t%s\t%s\t\n", s.name, ms(lat[n/2]), ms(lat[min(n-1, n*99/100)]))
	}
	return tw.Flush()
}
