package web

import (
	"sync"
	"time"
)

// cacheTTL bounds how long a cached value can miss a write by another process (the
// scmadmin user and keys commands), which the store's Version does not count.
const cacheTTL = time.Second

// cache keeps values read from the store while the store is unchanged: each entry holds the
// store's Version from before it was read, and serves only while Version still says so and
// for at most cacheTTL. A write by this server so retires every entry at once.
type cache[K comparable, V any] struct {
	mu      sync.Mutex
	entries map[K]cacheEntry[V]
	max     int
	now     func() time.Time
}

type cacheEntry[V any] struct {
	v       V
	version uint64
	at      time.Time
}

func newCache[K comparable, V any](max int) *cache[K, V] {
	return &cache[K, V]{entries: make(map[K]cacheEntry[V]), max: max, now: time.Now}
}

// get returns the value for k read at version, if there is one still fresh.
func (c *cache[K, V]) get(k K, version uint64) (V, bool) {
	c.mu.Lock()
	e, ok := c.entries[k]
	c.mu.Unlock()
	if !ok || e.version != version || c.now().Sub(e.at) >= cacheTTL {
		var zero V
		return zero, false
	}
	return e.v, true
}

// put keeps v, read from the store at version, for k. When the cache is full it first
// drops what is out of date, and everything if that is not enough.
func (c *cache[K, V]) put(k K, v V, version uint64) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
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
	c.entries[k] = cacheEntry[V]{v: v, version: version, at: now}
}
