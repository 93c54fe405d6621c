package logship

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/apierr"
	"github.com/berth-project/berth/services/agent/docker"
)

const shutdownFlush = 3 * time.Second

// follower ships one container's output.
type follower struct {
	s             *Shipper
	id            string
	opts          docker.AWSLogs
	group, stream string
}

func (f *follower) run(ctx context.Context) {
	backoff := 200 * time.Millisecond
	for ctx.Err() == nil {
		done, err := f.once(ctx)
		if done {
			return
		}
		if err != nil && ctx.Err() == nil {
			f.s.log.Warn("following container log", "container_id", f.id, "err", err, "retry_in", backoff)
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// Cursor renders a line's position: its Docker timestamp in nanoseconds
// and its index among lines with the same timestamp, fixed width so that
// cursors compare as strings.
func Cursor(ns int64, idx int) string { return fmt.Sprintf("%020d.%06d", ns, idx) }

func cursorNS(c string) int64 {
	ns, _ := strconv.ParseInt(strings.SplitN(c, ".", 2)[0], 10, 64)
	return ns
}

// once follows the log from the checkpoint until the log stream ends. It
// reports done when the container has exited (or is gone) and everything
// was shipped.
func (f *follower) once(ctx context.Context) (bool, error) {
	insp, err := f.s.api.ContainerInspect(ctx, f.id, client.ContainerInspectOptions{})
	if errdefs.IsNotFound(err) {
		f.s.cps.forget(f.id)
		return true, nil
	}
	if err != nil {
		return false, err
	}
	tty := insp.Container.Config != nil && insp.Container.Config.Tty
	if err := f.read(ctx, tty, true); err != nil || ctx.Err() != nil {
		return false, err
	}
	insp, err = f.s.api.ContainerInspect(ctx, f.id, client.ContainerInspectOptions{})
	if errdefs.IsNotFound(err) {
		return true, nil
	}
	if err != nil || insp.Container.State == nil || insp.Container.State.Running || insp.Container.State.Restarting {
		return false, err // the stream broke while the container runs: follow again
	}
	// The container has exited: read once more without following, from the
	// checkpoint, in case the follow stream ended before the last lines.
	if err := f.read(ctx, tty, false); err != nil || ctx.Err() != nil {
		return false, err
	}
	cp := f.s.cps.get(f.id)
	cp.Done = true
	return true, f.s.cps.put(f.id, cp)
}

// read ships the container's log from the checkpoint to the end of the
// Docker log stream (which, when following, lasts while the container runs).
func (f *follower) read(ctx context.Context, tty, follow bool) error {
	cp := f.s.cps.get(f.id)
	lo := client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Follow: follow, Timestamps: true}
	if cp.Cursor != "" {
		since := cursorNS(cp.Cursor) - 1
		lo.Since = fmt.Sprintf("%d.%09d", since/1e9, since%1e9)
	}
	rc, err := f.s.api.ContainerLogs(ctx, f.id, lo)
	if err != nil {
		return err
	}
	defer rc.Close()
	var src io.Reader = rc
	if !tty {
		pr, pw := io.Pipe()
		go func() {
			_, err := stdcopy.StdCopy(pw, pw, rc)
			pw.CloseWithError(err)
		}()
		defer pr.Close()
		src = pr
	}
	lines := make(chan events.LogShipEvent, 1024)
	readErr := make(chan error, 1)
	go func() { readErr <- readLines(src, cp.Cursor, lines) }()
	if err := f.batch(ctx, lines); err != nil {
		rc.Close()
		for range lines { // unblock the reader
		}
		<-readErr
		return err
	}
	if err := <-readErr; err != nil && ctx.Err() == nil {
		return err
	}
	return nil
}

// readLines parses "<RFC3339Nano> <message>\n" lines into events after
// the cursor `after`, and closes out at the end of src.
func readLines(src io.Reader, after string, out chan<- events.LogShipEvent) error {
	defer close(out)
	r := bufio.NewReaderSize(src, 64<<10)
	var lastNS int64
	idx := 0
	for {
		line, err := r.ReadString('\n')
		if line != "" {
			tsText, msg, ok := strings.Cut(strings.TrimSuffix(line, "\n"), " ")
			if ts, perr := time.Parse(time.RFC3339Nano, tsText); ok && perr == nil {
				ns := ts.UnixNano()
				if ns == lastNS {
					idx++
				} else {
					lastNS, idx = ns, 0
				}
				if c := Cursor(ns, idx); c > after {
					out <- events.LogShipEvent{Timestamp: ns / 1e6, Message: msg, Cursor: c}
				}
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// batch collects lines and ships them every FlushInterval, or sooner when
// a batch is full, until lines closes.
func (f *follower) batch(ctx context.Context, lines <-chan events.LogShipEvent) error {
	t := time.NewTicker(f.s.cfg.FlushInterval)
	defer t.Stop()
	var pending []events.LogShipEvent
	size := 0
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		err := f.ship(ctx, pending)
		pending, size = nil, 0
		return err
	}
	for {
		select {
		case ev, ok := <-lines:
			if !ok {
				return flush()
			}
			pending = append(pending, ev)
			size += len(ev.Message) + 26
			if len(pending) >= f.s.cfg.MaxBatch || size >= maxBatchBytes {
				if err := flush(); err != nil {
					return err
				}
			}
		case <-t.C:
			if err := flush(); err != nil {
				return err
			}
		case <-ctx.Done():
			return flush()
		}
	}
}

// ship sends one batch until the logs service acknowledges it, then saves
// the checkpoint. When ctx ends it tries once more, briefly.
func (f *follower) ship(ctx context.Context, evs []events.LogShipEvent) error {
	req := events.LogShipRequest{LogGroupName: f.group, LogStreamName: f.stream, CreateGroup: f.opts.CreateGroup, Events: evs}
	backoff := 100 * time.Millisecond
	for {
		cctx, cancel := ctx, context.CancelFunc(func() {})
		if ctx.Err() != nil {
			cctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), shutdownFlush)
		}
		res, err := f.s.cfg.Ship(cctx, req)
		cancel()
		if err == nil {
			cp := f.s.cps.get(f.id)
			cp.Cursor = max(cp.Cursor, res.Cursor)
			return f.s.cps.put(f.id, cp)
		}
		if ctx.Err() != nil {
			return err
		}
		level := f.s.log.Debug
		if _, ok := apierr.As(err); ok || backoff >= time.Second {
			level = f.s.log.Warn
		}
		level("shipping container log", "container_id", f.id, "group", f.group, "stream", f.stream, "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
		if errors.Is(err, context.Canceled) && ctx.Err() != nil {
			return err
		}
	}
}
