package web

import (
	"strings"
	"sync"
	"time"
)

// Sign-in limits: after freeFailures wrong passwords in a row an account waits, twice as
// long after each further one; an address may fail addrFailures times per addrWindow. Both
// make guessing slow without locking an account for long: an account's failures are
// forgotten after a quiet maxBackoff.
const (
	freeFailures = 5
	firstBackoff = 30 * time.Second
	maxBackoff   = 15 * time.Minute
	addrFailures = 30
	addrWindow   = 15 * time.Minute
	// maxEntries bounds the limiter's memory: past it, stale entries are swept, and if that
	// is not enough, everything is forgotten.
	maxEntries = 10_000
	maxKeyLen  = 64
)

// signInLimiter keeps failed sign-ins in memory: a restart forgets them.
type signInLimiter struct {
	mu       sync.Mutex
	accounts map[string]*accountFailures
	addrs    map[string]*addrFailureWindow
	now      func() time.Time
}

type accountFailures struct {
	count        int
	last, until  time.Time
	auditedUntil time.Time // the lock whose first refusal was audited
}

type addrFailureWindow struct {
	count   int
	start   time.Time
	audited bool
}

func newSignInLimiter() *signInLimiter {
	return &signInLimiter{accounts: map[string]*accountFailures{}, addrs: map[string]*addrFailureWindow{}, now: time.Now}
}

func accountKey(username string) string { return truncate(strings.ToLower(username), maxKeyLen) }

// begin decides whether a sign-in as username from addr may try its password now. If it may,
// the attempt is counted as a failure at once, so that guesses sent in parallel cannot all
// pass while the password is hashed; succeeded takes it back. When it may not, wait says for
// how long, and audit whether this is the first refusal of the lock (the one to record).
func (l *signInLimiter) begin(username, addr string) (wait time.Duration, audit bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if len(l.accounts)+len(l.addrs) > maxEntries {
		l.prune(now)
	}
	key := accountKey(username)
	a := l.accounts[key]
	if a != nil && now.Sub(a.last) > maxBackoff {
		a.count = 0
	}
	w := l.addrs[addr]
	if w != nil && now.Sub(w.start) > addrWindow {
		w = nil
	}
	if a != nil && a.until.After(now) {
		wait = a.until.Sub(now)
		audit = !a.auditedUntil.Equal(a.until)
		a.auditedUntil = a.until
	}
	if w != nil && w.count >= addrFailures {
		wait = max(wait, w.start.Add(addrWindow).Sub(now))
		audit = audit || !w.audited
		w.audited = true
	}
	if wait > 0 {
		return wait, audit
	}
	if a == nil {
		a = &accountFailures{}
		l.accounts[key] = a
	}
	a.count++
	a.last = now
	if n := a.count - freeFailures; n >= 0 {
		a.until = now.Add(min(firstBackoff<<min(n, 10), maxBackoff))
	}
	if w == nil {
		w = &addrFailureWindow{start: now}
		l.addrs[addr] = w
	}
	w.count++
	return 0, false
}

// succeeded takes back the attempt begin counted: the password was right.
func (l *signInLimiter) succeeded(username, addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.accounts, accountKey(username))
	if w := l.addrs[addr]; w != nil && w.count > 0 {
		w.count--
	}
}

func (l *signInLimiter) prune(now time.Time) {
	for k, a := range l.accounts {
		if now.Sub(a.last) > maxBackoff && !a.until.After(now) {
			delete(l.accounts, k)
		}
	}
	for k, w := range l.addrs {
		if now.Sub(w.start) > addrWindow {
			delete(l.addrs, k)
		}
	}
	if len(l.accounts)+len(l.addrs) > maxEntries {
		// A flood of names or addresses: forgetting is better than growing without bound.
		l.accounts, l.addrs = map[string]*accountFailures{}, map[string]*addrFailureWindow{}
	}
}
