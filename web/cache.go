package web

import (
	"context"
	"net/http"
	"sync"

	"github.com/labstack/echo/v4"

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

// dataVersions reads the store's data versions for one request: once, and again only after
// this server wrote something, so that a page rendered after a write never shows what was
// cached before it.
type dataVersions struct {
	st   *store.Store
	memo *versionsMemo // nil outside a request: read every time
}

type versionsMemo struct {
	mu     sync.Mutex
	writes uint64
	read   bool
	v      store.Versions
}

func (d dataVersions) read(ctx context.Context) (store.Versions, error) {
	if d.memo == nil {
		return d.st.Versions(ctx)
	}
	d.memo.mu.Lock()
	defer d.memo.mu.Unlock()
	if writes := d.st.Writes(); !d.memo.read || writes != d.memo.writes {
		v, err := d.st.Versions(ctx)
		if err != nil {
			return store.Versions{}, err
		}
		d.memo.v, d.memo.writes, d.memo.read = v, writes, true
	}
	return d.memo.v, nil
}

type versionsKey struct{}

// withDataVersions gives the request its dataVersions, read when a cache first needs them.
func (s *server) withDataVersions(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		c.SetRequest(r.WithContext(context.WithValue(r.Context(), versionsKey{}, &versionsMemo{})))
		return next(c)
	}
}

// versionsOf returns the data versions of the request r.
func versionsOf(st *store.Store, r *http.Request) dataVersions {
	memo, _ := r.Context().Value(versionsKey{}).(*versionsMemo)
	return dataVersions{st: st, memo: memo}
}
