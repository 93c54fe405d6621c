package registry

import (
	"log/slog"

	"github.com/nats-io/nats.go"
)

// defaultReadConns is how many connections blob reads use by default.
const defaultReadConns = 4

// readConn is a connection blob reads use, with the byte budget of blob
// reads (direct gets have no flow control; see fetchBudget), which all
// read connections share: it bounds the memory of reads in flight.
type readConn struct {
	nc     *nats.Conn
	own    bool // opened by the registry, closed with it
	budget *budget
}

// openReadConns opens n connections with nc's options (in-process ones
// included), falling back to nc itself when n < 0 or they cannot be opened.
// Reads of one connection are parsed by one goroutine on each side, and
// the server answers a connection's direct gets one at a time: several
// connections let parts (the prefetched ones, and those of concurrent
// pulls) stream in parallel.
func openReadConns(nc *nats.Conn, n int, log *slog.Logger) []*readConn {
	if n == 0 {
		n = defaultReadConns
	}
	var out []*readConn
	shared := newBudget(fetchBudget)
	for i := 0; i < n; i++ {
		o := nc.Opts
		o.Name = nc.Opts.Name + " blob reads"
		o.ClosedCB, o.DisconnectedErrCB, o.ReconnectedCB, o.DiscoveredServersCB, o.AsyncErrorCB = nil, nil, nil, nil, nil
		o.ConnectedCB, o.LameDuckModeHandler = nil, nil
		c, err := o.Connect()
		if err != nil {
			log.Warn("blob read connection, reading on the shared one", "err", err)
			break
		}
		out = append(out, &readConn{nc: c, own: true, budget: shared})
	}
	if len(out) == 0 {
		out = append(out, &readConn{nc: nc, budget: shared})
	}
	return out
}

// reader picks the connection for the next part read, in turn.
func (st *store) reader() *readConn {
	return st.readers[int(st.nextRead.Add(1))%len(st.readers)]
}

// closeReadConns closes the connections the registry opened.
func (st *store) closeReadConns() {
	for _, rc := range st.readers {
		if rc.own {
			rc.nc.Close()
		}
	}
}
