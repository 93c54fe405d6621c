package outbox

import (
	"encoding/binary"
	"fmt"

	"github.com/nats-io/nats.go"
)

// Telling the other replicas what was stored. The relay skips a write
// whose events its Publisher saw stored; with several replicas sharing the
// relay's consumer, most writes it takes were published by another replica.
// Following the events stream for their ids costs one delivery per event
// and replica; a look-up costs a request per event. So each Publisher
// sends, after each Publish or Ensure, one core NATS message on
// Config.Share with the hashes of the ids it saw stored, and every
// Publisher of the service marks them. The message is sent only after the
// stream acknowledged the events: a replica that dies before it sends
// nothing, and the others look its events up.

// senderHeader carries the Publisher that sent a Share message, so that a
// Publisher skips its own.
const senderHeader = "Berth-Outbox-Sender"

// maxShareIDs bounds the ids in one Share message (64 KiB).
const maxShareIDs = 8192

// idHash is the 64-bit FNV-1a hash of an event id (never 0, which marks
// an empty slot of the ring): the same in every process, so replicas can
// exchange hashes instead of ids.
func idHash(id string) uint64 {
	const offset64, prime64 = 14695981039346656037, 1099511628211
	h := uint64(offset64)
	for i := 0; i < len(id); i++ {
		h ^= uint64(id[i])
		h *= prime64
	}
	if h == 0 {
		h = 1
	}
	return h
}

// share tells the other replicas that the events hashed in stored are
// stored. A failure only costs them look-ups, so it is logged.
func (p *Publisher) share(stored []uint64) {
	if p.cfg.Share == "" {
		return
	}
	for len(stored) > 0 {
		n := min(len(stored), maxShareIDs)
		data := make([]byte, 8*n)
		for i, h := range stored[:n] {
			binary.BigEndian.PutUint64(data[8*i:], h)
		}
		msg := &nats.Msg{Subject: p.cfg.Share, Data: data, Header: nats.Header{senderHeader: []string{p.sender}}}
		if err := p.nc.PublishMsg(msg); err != nil {
			p.cfg.Log.Warn("share stored event ids", "err", err)
			return
		}
		stored = stored[n:]
	}
}

// listen marks as seen the ids the other replicas share; the returned
// function stops it.
func (p *Publisher) listen() (func(), error) {
	sub, err := p.nc.Subscribe(p.cfg.Share, func(m *nats.Msg) {
		if m.Header.Get(senderHeader) == p.sender || len(m.Data)%8 != 0 {
			return
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		for i := 0; i < len(m.Data); i += 8 {
			if h := binary.BigEndian.Uint64(m.Data[i:]); h != 0 {
				p.markLocked(h)
			}
		}
	})
	if err != nil {
		return nil, fmt.Errorf("outbox: listen on %s: %w", p.cfg.Share, err)
	}
	return func() { _ = sub.Unsubscribe() }, nil
}
