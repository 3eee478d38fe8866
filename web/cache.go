package web

import (
	"context"
	"errors"
	"sync"
	"time"
)

// cacheTTL bounds how long a cached value can miss a write by another process (the
// scmadmin user and keys commands), which the store's Version does not count. After
// cacheFresh a value in use is read again in the background while it still serves: late
// enough that a hot entry is read about once a second, early enough that most reads finish
// before it expires.
const (
	cacheTTL   = time.Second
	cacheFresh = cacheTTL * 4 / 5
)

// cache keeps values read from the store while the store is unchanged: each entry holds the
// store's Version from before it was read, and serves only while Version still says so and
// for at most cacheTTL. A write by this server so retires every entry at once.
//
// Requests that miss the same entry together wait for one read of it, and an entry in use is
// read again before it expires: under load, every connection would otherwise run the same
// query at once, every second.
type cache[K comparable, V any] struct {
	version func() uint64 // the store's Version
	max     int
	now     func() time.Time

	mu      sync.Mutex
	entries map[K]cacheEntry[V]
	reading map[K]*cacheRead[V]
}

type cacheEntry[V any] struct {
	v       V
	version uint64
	at      time.Time
}

// cacheRead is a read in progress; done is closed when v and err are set.
type cacheRead[V any] struct {
	version uint64
	at      time.Time // when it started: its value is as old as that
	done    chan struct{}
	v       V
	err     error
}

func newCache[K comparable, V any](max int, version func() uint64) *cache[K, V] {
	return &cache[K, V]{version: version, max: max, now: time.Now,
		entries: make(map[K]cacheEntry[V]), reading: make(map[K]*cacheRead[V])}
}

// load returns the value for k: the cached one while it is current, else what read returns
// (kept if it is not an error). A request that finds the same read in progress waits for it.
func (c *cache[K, V]) load(ctx context.Context, k K, read func(context.Context) (V, error)) (V, error) {
	version := c.version() // before reading, so that a write during the read retires it
	c.mu.Lock()
	if e, ok := c.entries[k]; ok && e.version == version {
		if age := c.now().Sub(e.at); age < cacheTTL {
			if _, busy := c.reading[k]; age >= cacheFresh && !busy {
				r := c.start(k, version)
				// The read outlives the request that happened to start it. Should it panic, the
				// next request to read k meets the panic too, where the server recovers and logs it.
				go func() {
					defer func() { recover() }()
					c.finish(k, r, func() (V, error) { return read(context.WithoutCancel(ctx)) })
				}()
			}
			c.mu.Unlock()
			return e.v, nil
		}
	}
	// A read that began too long ago (it hangs, say) gives a value too old: read anew.
	if r, ok := c.reading[k]; ok && r.version == version && c.now().Sub(r.at) < cacheTTL {
		c.mu.Unlock()
		select {
		case <-r.done:
		case <-ctx.Done(): // this request is over, whatever the read does
			var zero V
			return zero, ctx.Err()
		}
		if r.err == nil {
			return r.v, nil
		}
		return read(ctx) // the error may be the other request's own, such as its cancellation
	}
	r := c.start(k, version)
	c.mu.Unlock()
	c.finish(k, r, func() (V, error) { return read(ctx) })
	return r.v, r.err
}

// start records a read of k at version; c.mu is held.
func (c *cache[K, V]) start(k K, version uint64) *cacheRead[V] {
	r := &cacheRead[V]{version: version, at: c.now(), done: make(chan struct{})}
	c.reading[k] = r
	return r
}

// finish runs r's read and keeps its value, unless it failed. Even if read panics, r ends
// and its waiters go on: they would wait for ever otherwise, and every later request with them.
func (c *cache[K, V]) finish(k K, r *cacheRead[V], read func() (V, error)) {
	defer func() {
		c.mu.Lock()
		if c.reading[k] == r {
			delete(c.reading, k)
		}
		if r.err == nil {
			c.keep(k, r.v, r.version, r.at)
		}
		c.mu.Unlock()
		close(r.done)
	}()
	r.err = errReadPanicked // unless read returns
	r.v, r.err = read()
}

var errReadPanicked = errors.New("web: a cached read panicked")

// keep stores v, read at version from at on, for k; c.mu is held. When the cache is full it
// first drops what is out of date, and everything if that is not enough.
func (c *cache[K, V]) keep(k K, v V, version uint64, at time.Time) {
	now := c.now()
	if _, ok := c.entries[k]; !ok && len(c.entries) >= c.max {
		for k, e := range c.entries {
			if e.version != version || now.Sub(e.at) >= cacheTTL {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= c.max {
			clear(c.entries)
		}
	}
	c.entries[k] = cacheEntry[V]{v: v, version: version, at: at}
}
