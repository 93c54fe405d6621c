package registry

import (
	"container/list"
	"io"
	"sync"
)

// partCache keeps the chunks of recently read (or written) part objects in memory, the
// least recently used going first when it is full. Parts never change once
// written (each has its own name and chunk subject), and a part is only
// read through a blob record that lists it, so a cached part is always the
// stored one and needs no invalidation. Reading a part from JetStream costs
// several copies through the server and the client; a hot layer pulled by
// many hosts is served from here instead, as a filesystem registry serves
// it from the page cache.
type partCache struct {
	mu   sync.Mutex
	max  int64
	size int64 // bytes of the parts kept
	// reserved is the bytes of parts being read to be kept: counted
	// against max from the start, so that the parts readers collect and
	// the parts kept never add up to more than max.
	reserved int64
	order    *list.List // of *cachedPart, most recently used first
	byKey    map[string]*list.Element
}

type cachedPart struct {
	name   string
	chunks [][]byte
	size   int64
}

// newPartCache returns a cache of at most max bytes; max <= 0 disables it.
func newPartCache(max int64) *partCache {
	return &partCache{max: max, order: list.New(), byKey: map[string]*list.Element{}}
}

// fits reports whether a part of size bytes would be kept: at most an
// eighth of the cache, so that one large blob does not flush the rest.
func (c *partCache) fits(size int64) bool { return c.max > 0 && size <= c.max/8 }

func (c *partCache) get(name string) [][]byte {
	if c.max <= 0 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byKey[name]
	if !ok {
		return nil
	}
	c.order.MoveToFront(el)
	return el.Value.(*cachedPart).chunks
}

// blobFits reports whether the parts of a blob of size bytes may be kept:
// a blob larger than the cache is not, so that reading (or pushing) it
// does not keep evicting its own parts before they are read again (a scan
// defeats least-recently-used) and flush everything else on the way.
func (c *partCache) blobFits(size int64) bool { return c.max > 0 && size <= c.max }

// remove drops parts, if kept.
func (c *partCache) remove(names []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range names {
		if el, ok := c.byKey[n]; ok {
			c.order.Remove(el)
			delete(c.byKey, n)
			c.size -= el.Value.(*cachedPart).size
		}
	}
}

// reserve makes room for a part of size bytes about to be collected (the
// least recently used parts go); false when it would not be kept, or when
// parts being collected already hold the room. A reservation ends with put
// or unreserve.
func (c *partCache) reserve(size int64) bool {
	if !c.fits(size) {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reserved+size > c.max {
		return false
	}
	c.reserved += size
	c.evict()
	return true
}

// unreserve gives back a reservation whose part was not completed.
func (c *partCache) unreserve(size int64) {
	c.mu.Lock()
	c.reserved -= size
	c.mu.Unlock()
}

// put keeps a part's chunks, collected under a reservation of size bytes;
// they must not be modified afterwards.
func (c *partCache) put(name string, chunks [][]byte, size int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reserved -= size
	if _, ok := c.byKey[name]; ok {
		return
	}
	c.byKey[name] = c.order.PushFront(&cachedPart{name: name, chunks: chunks, size: size})
	c.size += size
	c.evict()
}

// evict drops the least recently used parts until the kept and reserved
// bytes fit.
func (c *partCache) evict() {
	for c.size+c.reserved > c.max && c.order.Len() > 0 {
		el := c.order.Back()
		p := el.Value.(*cachedPart)
		c.order.Remove(el)
		delete(c.byKey, p.name)
		c.size -= p.size
	}
}

// keep caches a part just written from its buffer (write-through: the
// first pull of a layer pushed to this replica is served from memory while
// it stays among the recently used), cut into chunks of chunk bytes as a
// read would deliver them. It reports whether it kept buf, which must then
// not be modified or reused.
func (c *partCache) keep(name string, buf []byte, chunk int) bool {
	if len(buf) == 0 || !c.reserve(int64(len(buf))) {
		return false
	}
	chunks := make([][]byte, 0, (len(buf)+chunk-1)/chunk)
	for off := 0; off < len(buf); off += chunk {
		chunks = append(chunks, buf[off:min(off+chunk, len(buf)):min(off+chunk, len(buf))])
	}
	c.put(name, chunks, int64(len(buf)))
	return true
}

// chunksReader reads a cached part.
type chunksReader struct {
	chunks [][]byte
	cur    []byte
}

func (r *chunksReader) Read(p []byte) (int, error) {
	for len(r.cur) == 0 {
		if len(r.chunks) == 0 {
			return 0, io.EOF
		}
		r.cur, r.chunks = r.chunks[0], r.chunks[1:]
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

// WriteTo writes the rest in whole chunks.
func (r *chunksReader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for len(r.cur) > 0 || len(r.chunks) > 0 {
		if len(r.cur) == 0 {
			r.cur, r.chunks = r.chunks[0], r.chunks[1:]
		}
		n, err := w.Write(r.cur)
		total += int64(n)
		r.cur = r.cur[n:]
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

func (r *chunksReader) Close() error { return nil }
