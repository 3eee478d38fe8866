package web

import (
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/scmadmin/scmadmin/store"
)

// An address may send badKeysAllowed bad API keys per badKeyWindow; after that every API
// request it makes, good key or not, is refused (429) until the window ends. Keys are
// unguessable: the limit keeps a flood of guesses from costing a lookup each.
const (
	badKeysAllowed = 20
	badKeyWindow   = 15 * time.Minute
	// maxFailureAddrs bounds the counters' memory: past it, ended windows are swept, and if that
	// is not enough, everything is forgotten.
	maxFailureAddrs = 10_000
)

// apiKeyKey is the context key of the store.APIKey a request was authenticated with.
const apiKeyKey = "scmadmin.apikey"

// failureWindows counts failures per address in fixed windows, in memory, and in the
// database too (when shared is set): each failure adds to the count there and takes back
// every server's, so that servers sharing the database count together. Requests read the
// memory alone (they are many): another server's failures count here from this server's next
// failure from the address on. It is the address half of the sign-in limiter, kept apart so
// that the two limits count separately.
type failureWindows struct {
	limit  int
	window time.Duration
	now    func() time.Time
	// shared is the database; name prefixes the addresses' keys there.
	shared *store.Store
	name   string

	mu    sync.Mutex
	addrs map[string]*failureWindow
}

type failureWindow struct {
	count int
	start time.Time
}

func newFailureWindows(limit int, window time.Duration, shared *store.Store, name string) *failureWindows {
	return &failureWindows{limit: limit, window: window, now: time.Now, shared: shared, name: name, addrs: map[string]*failureWindow{}}
}

// wait returns how long addr must wait before it may try again, or 0.
func (f *failureWindows) wait(addr string) time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	w := f.addrs[addr]
	if w == nil || w.count < f.limit {
		return 0
	}
	return max(0, w.start.Add(f.window).Sub(f.now()))
}

// fail counts a failure from addr. Its count in the database runs to its end whatever the
// request does: a client that leaves does not take its failure with it.
func (f *failureWindows) fail(addr string) {
	now := f.now()
	shared, since := 0, time.Time{}
	if f.shared != nil {
		ctx, cancel := context.WithTimeout(context.Background(), sharedTimeout)
		counts, err := f.shared.CountFailures(ctx, now, store.FailureWindow{Key: f.name + " " + truncate(addr, maxKeyLen), Window: f.window})
		if err == nil {
			shared, since = counts[0].N, counts[0].StartedAt // else this server's count stands alone
		}
		cancel()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	w := f.addrs[addr]
	if w == nil || now.Sub(w.start) >= f.window {
		if len(f.addrs) >= maxFailureAddrs {
			f.sweep(now)
		}
		w = &failureWindow{start: now}
		f.addrs[addr] = w
	}
	w.count++
	if shared > w.count {
		w.count, w.start = shared, since
	}
}

func (f *failureWindows) sweep(now time.Time) {
	for addr, w := range f.addrs {
		if now.Sub(w.start) >= f.window {
			delete(f.addrs, addr)
		}
	}
	if len(f.addrs) >= maxFailureAddrs {
		// A flood of addresses: forgetting is better than growing without bound.
		clear(f.addrs)
	}
}

// requireAPIKey lets through a request whose Authorization header carries a working API key
// whose scope reaches scope (store.ScopeRead or store.ScopeAdmin), acting as the cluster admin
// who made it. Refusals are the JSON API's error envelope: 401 without a key or with a bad or
// revoked one, 403 for a key whose scope or maker falls short, 429 after too many bad keys
// from the address. The key never reaches a log: requests are logged without their headers.
func (s *server) requireAPIKey(scope string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			addr := c.RealIP()
			if wait := s.badKeys.wait(addr); wait > 0 {
				c.Response().Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds()+0.999)))
				return apiFail(http.StatusTooManyRequests,
					"Too many bad API keys from "+addr+": try again in "+humanDuration(wait)+".")
			}
			key, ok := apiKeyOf(c.Request().Header.Get(echo.HeaderAuthorization))
			if !ok {
				return unauthorized(c, "No API key: send one in the Authorization header, as Simple KEY, Bearer KEY or KEY.")
			}
			k, err := s.authenticate(c.Request().Context(), key)
			switch {
			case errors.Is(err, store.ErrBadAPIKey):
				s.badKeys.fail(addr)
				return unauthorized(c, "This API key is not one scmadmin made.")
			case errors.Is(err, store.ErrRevoked):
				s.badKeys.fail(addr)
				return unauthorized(c, "The API key "+k.Name+" was revoked.")
			case err != nil:
				return err
			}
			u, err := s.user(c.Request(), k.UserID)
			if err != nil {
				return err
			}
			if !u.IsAdmin {
				return apiFail(http.StatusForbidden, "The API key "+k.Name+" acts as "+u.Username+", who is no longer a cluster admin.")
			}
			if !k.Allows(scope) {
				return apiFail(http.StatusForbidden, "The API key "+k.Name+" has the scope "+k.Scope+"; this route needs "+scope+".")
			}
			c.Set(userKey, u)
			c.Set(apiKeyKey, k)
			return next(c)
		}
	}
}

// apiKeyOf returns the key an Authorization header carries in one of the forms Algorithmia's
// clients send: "Simple KEY", "Bearer KEY", or the bare KEY.
func apiKeyOf(header string) (string, bool) {
	key := strings.TrimSpace(header)
	scheme, rest, _ := strings.Cut(key, " ")
	if strings.EqualFold(scheme, "Simple") || strings.EqualFold(scheme, "Bearer") {
		key = strings.TrimSpace(rest)
	}
	return key, key != ""
}

// apiActor is who makes a change through the JSON API, for the audit trail: the key, by name.
func apiActor(c echo.Context) store.Actor {
	k, _ := c.Get(apiKeyKey).(store.APIKey)
	return store.Actor{Username: "api key " + k.Name, Addr: c.RealIP()}
}

// apiFail is the error envelope with status as its code, for the error handler to answer.
func apiFail(status int, message string) error {
	return &apiError{Status: status, Code: status, Message: message}
}

// unauthorized answers 401, saying which credentials the API takes.
func unauthorized(c echo.Context, message string) error {
	h := c.Response().Header()
	h.Add(echo.HeaderWWWAuthenticate, `Bearer realm="scmadmin"`)
	h.Add(echo.HeaderWWWAuthenticate, `Simple realm="scmadmin"`)
	return apiFail(http.StatusUnauthorized, message)
}

// maxCachedAPIKeys bounds the keys kept checked: far more than the platform's clients.
const maxCachedAPIKeys = 256

// authenticate checks key, from memory while no API key changed and the key's last use was
// recorded less than store.APIKeyTouchEvery ago: the store looks a key up, hashes it and
// compares in constant time, which cost twice a trivial request. The cache is keyed by the
// key's SHA-256, never by the key.
func (s *server) authenticate(ctx context.Context, key string) (store.APIKey, error) {
	sum := sha256.Sum256([]byte(key))
	k, err := s.apiKeys.load(ctx, s.versions.read, sum, func(ctx context.Context) (store.APIKey, error) {
		return s.st.AuthenticateAPIKey(ctx, key)
	})
	if err == nil && time.Since(k.LastUsedAt) >= store.APIKeyTouchEvery {
		return s.st.AuthenticateAPIKey(ctx, key) // records the use, which retires the cached key
	}
	return k, err
}
