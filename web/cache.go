package web

import (
	"context"
	"sync"

	"github.com/scmadmin/scmadmin/store"
)

// cache keeps values read from the store while the data they depend on is unchanged: each
// entry holds the data version (store.Versions) read before its value was, and serves while
// that version is still current. A write by anyone, this server, another one or a command,
// changes the version and retires what depended on it, at once and only that.
type cache[K comparable, V any] struct {
	max int
	// version picks, from a request's data versions, the one this cache's values depend on.
	version func(store.Versions) uint64

	mu      sync.Mutex
	entries map[K]cacheEntry[V]
}

type cacheEntry[V any] struct {
	v       V
	version uint64
}

func newCache[K comparable, V any](max int, version func(store.Versions) uint64) *cache[K, V] {
	return &cache[K, V]{max: max, version: version, entries: make(map[K]cacheEntry[V])}
}

// load returns the value for k: the cached one while its version is current, else what read
// returns (kept if it is not an error). versions reads the request's data versions.
func (c *cache[K, V]) load(ctx context.Context, versions func(context.Context) (store.Versions, error), k K,
	read func(context.Context) (V, error)) (V, error) {
	vs, err := versions(ctx) // before reading, so that a write during the read retires it
	if err != nil {
		var zero V
		return zero, err
	}
	version := c.version(vs)
	c.mu.Lock()
	e, ok := c.entries[k]
	c.mu.Unlock()
	if ok && e.version == version {
		return e.v, nil
	}
	v, err := read(ctx)
	if err != nil {
		return v, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[k]; !ok && len(c.entries) >= c.max {
		// Full: drop what is out of date, and everything if that is not enough.
		for k, e := range c.entries {
			if e.version != version {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= c.max {
			clear(c.entries)
		}
	} else if ok && e.version > version {
		return v, nil // a newer read got there first
	}
	c.entries[k] = cacheEntry[V]{v: v, version: version}
	return v, nil
}

// dataVersions are the store's data versions as last read, with the change token they were
// read under: while the token is the same, so are they, and a request pays one 8-byte read
// instead of a query.
type dataVersions struct {
	st *store.Store

	mu    sync.Mutex
	token store.ChangeToken
	known bool
	v     store.Versions
}

// read returns the current data versions.
func (d *dataVersions) read(ctx context.Context) (store.Versions, error) {
	token := d.st.ChangeToken() // before reading, so that a write during the read retires it
	d.mu.Lock()
	v, current := d.v, d.known && d.token == token
	d.mu.Unlock()
	if current {
		return v, nil
	}
	v, err := d.st.Versions(ctx)
	if err != nil {
		return v, err
	}
	d.mu.Lock()
	d.token, d.v, d.known = token, v, true
	d.mu.Unlock()
	return v, nil
}
