package web

import (
	"context"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/scmadmin/scmadmin/store"
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
	// maxEntries bounds the limiter's memory: past it, the entries that failed least
	// recently and hold no lock are forgotten. A lock is never forgotten before it ends:
	// each takes at least freeFailures hashed passwords, so their number is bounded by
	// how fast the server hashes.
	maxEntries = 10_000
	maxKeyLen  = 64
)

// signInLimiter keeps failed sign-ins in memory, and counts them in the database too (when
// shared is set), so that servers sharing it count together: each sign-in reads the
// account's and the address's counts there before it may try, and each failure adds to them.
type signInLimiter struct {
	shared   *store.Store
	mu       sync.Mutex
	accounts map[string]*accountFailures
	addrs    map[string]*addrFailureWindow
	now      func() time.Time
	max      int
	// changed is closed, and replaced, whenever an attempt ends: sign-ins waiting for the
	// attempts in flight look again.
	changed chan struct{}
}

type accountFailures struct {
	count        int
	last, until  time.Time
	auditedUntil time.Time // the lock whose first refusal was audited
	pending      int       // attempts whose password is being checked
}

type addrFailureWindow struct {
	count       int
	start, last time.Time
	audited     bool
	pending     int
}

func newSignInLimiter(shared *store.Store) *signInLimiter {
	return &signInLimiter{shared: shared, accounts: map[string]*accountFailures{}, addrs: map[string]*addrFailureWindow{},
		now: time.Now, max: maxEntries, changed: make(chan struct{})}
}

func accountKey(username string) string { return truncate(strings.ToLower(username), maxKeyLen) }

// The keys of the limits' counts in the database (store.CountFailures).
func sharedAccountKey(key string) string { return "sign-in account " + key }
func sharedAddrKey(addr string) string   { return "sign-in address " + truncate(addr, maxKeyLen) }

// sharedTimeout bounds the database's part in a limit: without an answer, the count of this
// server stands alone.
const sharedTimeout = 2 * time.Second

// readShared reads the database's counts of account key and addr; zero without a database or
// an answer from it.
func (l *signInLimiter) readShared(ctx context.Context, key, addr string) (account, fromAddr store.Failures) {
	if l.shared == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sharedTimeout)
	defer cancel()
	counts, err := l.shared.ReadFailures(ctx, sharedAccountKey(key), sharedAddrKey(addr))
	if err != nil {
		return
	}
	return counts[0], counts[1]
}

// countShared counts a failure of account key and of addr in the database, at now, and
// returns the counts there (every server's); zero without a database or an answer from it. It
// runs to its end whatever the request does: a client that leaves does not take its failure
// with it.
func (l *signInLimiter) countShared(key, addr string, now time.Time) (account, fromAddr store.Failures) {
	if l.shared == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), sharedTimeout)
	defer cancel()
	counts, err := l.shared.CountFailures(ctx, now, store.FailureWindow{Key: sharedAccountKey(key), Quiet: maxBackoff},
		store.FailureWindow{Key: sharedAddrKey(addr), Window: addrWindow})
	if err != nil {
		return
	}
	return counts[0], counts[1]
}

// merge takes into a and w the counts of the database where they are ahead (other servers
// failed too), unless they have expired.
func merge(a *accountFailures, w *addrFailureWindow, account, fromAddr store.Failures, now time.Time) {
	if account.N > a.count && now.Sub(account.LastAt) <= maxBackoff {
		a.count, a.last = account.N, account.LastAt
		if n := a.count - freeFailures; n >= 0 {
			a.until = maxTime(a.until, account.LastAt.Add(min(firstBackoff<<min(n, 10), maxBackoff)))
		}
	}
	if fromAddr.N > w.count && now.Sub(fromAddr.StartedAt) <= addrWindow {
		w.count, w.start = fromAddr.N, fromAddr.StartedAt
		w.last = maxTime(w.last, fromAddr.LastAt)
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// begin decides whether a sign-in as username from addr may try its password now. An
// attempt is counted as a failure only once its password proved wrong; meanwhile it is
// pending, and no more attempts run at once than failures remain before a lock, so that
// guesses sent in parallel cannot all pass while the passwords are hashed: the others wait
// for the outcome (or their request's end, the error). When it may not try, wait says for
// how long, and audit whether this is the first refusal of the lock (the one to record).
// An attempt begun must end with succeeded, failed or dropped.
func (l *signInLimiter) begin(ctx context.Context, username, addr string) (wait time.Duration, audit bool, err error) {
	key := accountKey(username)
	account, fromAddr := l.readShared(ctx, key, addr)
	l.mu.Lock()
	for {
		now := l.now()
		if len(l.accounts)+len(l.addrs) >= l.max {
			l.prune(now)
		}
		a, w := l.current(key, addr, now)
		merge(a, w, account, fromAddr, now)
		if wait, audit = l.locked(a, w, now); wait > 0 {
			l.mu.Unlock()
			return wait, audit, nil
		}
		if a.pending < max(1, freeFailures-a.count) && w.pending < max(1, addrFailures-w.count) {
			a.pending++
			w.pending++
			l.mu.Unlock()
			return 0, false, nil
		}
		changed := l.changed
		l.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return 0, false, ctx.Err()
		}
		l.mu.Lock()
	}
}

// current returns the entries of account key and addr, made if need be, with what has
// expired forgotten.
func (l *signInLimiter) current(key, addr string, now time.Time) (*accountFailures, *addrFailureWindow) {
	a := l.accounts[key]
	if a == nil {
		a = &accountFailures{}
		l.accounts[key] = a
	} else if now.Sub(a.last) > maxBackoff {
		a.count = 0
	}
	w := l.addrs[addr]
	if w == nil {
		w = &addrFailureWindow{start: now}
		l.addrs[addr] = w
	} else if now.Sub(w.start) > addrWindow {
		w.count, w.start, w.audited = 0, now, false
	}
	return a, w
}

// locked says how long a or w still refuses sign-ins, and whether to audit this refusal.
func (l *signInLimiter) locked(a *accountFailures, w *addrFailureWindow, now time.Time) (wait time.Duration, audit bool) {
	if a.until.After(now) {
		wait = a.until.Sub(now)
		audit = !a.auditedUntil.Equal(a.until)
		a.auditedUntil = a.until
	}
	if w.count >= addrFailures {
		wait = max(wait, w.start.Add(addrWindow).Sub(now))
		audit = audit || !w.audited
		w.audited = true
	}
	return wait, audit
}

// succeeded ends an attempt whose password was right: the account's failures are forgotten.
func (l *signInLimiter) succeeded(username, addr string) {
	failed := false
	l.end(username, addr, func(a *accountFailures, _ *addrFailureWindow, _ time.Time) {
		failed = a.count > 0 // here or, as read when the attempt began, on any server
		a.count, a.until = 0, time.Time{}
	})
	if failed && l.shared != nil {
		ctx, cancel := context.WithTimeout(context.Background(), sharedTimeout)
		l.shared.ClearFailures(ctx, sharedAccountKey(accountKey(username))) // failing, the count expires by itself
		cancel()
	}
}

// failed ends an attempt whose password was wrong: it counts against the account and the
// address, here and in the database, and may lock them.
func (l *signInLimiter) failed(username, addr string) {
	account, fromAddr := l.countShared(accountKey(username), addr, l.now())
	l.end(username, addr, func(a *accountFailures, w *addrFailureWindow, now time.Time) {
		account.N, fromAddr.N = account.N-1, fromAddr.N-1 // this failure is counted below
		merge(a, w, account, fromAddr, now)
		a.count++
		a.last = now
		if n := a.count - freeFailures; n >= 0 {
			a.until = now.Add(min(firstBackoff<<min(n, 10), maxBackoff))
		}
		w.count++
		w.last = now
	})
}

// dropped ends an attempt whose password was never checked (the server was busy, or the
// client left): it counts for nothing.
func (l *signInLimiter) dropped(username, addr string) {
	l.end(username, addr, func(*accountFailures, *addrFailureWindow, time.Time) {})
}

func (l *signInLimiter) end(username, addr string, outcome func(*accountFailures, *addrFailureWindow, time.Time)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	key := accountKey(username)
	a, w := l.accounts[key], l.addrs[addr]
	if a == nil || w == nil {
		return // cannot happen: entries with attempts pending are never forgotten
	}
	a.pending--
	w.pending--
	outcome(a, w, l.now())
	close(l.changed)
	l.changed = make(chan struct{})
}

// prune forgets what has expired and, while there are still too many entries, those that
// failed least recently among the ones that hold no lock and have no attempt pending.
func (l *signInLimiter) prune(now time.Time) {
	type candidate struct {
		key    string
		isAddr bool
		last   time.Time
	}
	var idle []candidate
	for k, a := range l.accounts {
		if a.pending > 0 || a.until.After(now) {
			continue
		}
		if now.Sub(a.last) > maxBackoff {
			delete(l.accounts, k)
		} else {
			idle = append(idle, candidate{key: k, last: a.last})
		}
	}
	for k, w := range l.addrs {
		if w.pending > 0 || (w.count >= addrFailures && now.Sub(w.start) <= addrWindow) {
			continue
		}
		if now.Sub(w.start) > addrWindow {
			delete(l.addrs, k)
		} else {
			idle = append(idle, candidate{key: k, isAddr: true, last: w.last})
		}
	}
	// Down to nine tenths of the bound, so that a flood does not sort at every attempt.
	excess := len(l.accounts) + len(l.addrs) - l.max*9/10
	if excess <= 0 {
		return
	}
	sort.Slice(idle, func(i, j int) bool { return idle[i].last.Before(idle[j].last) })
	for _, c := range idle[:min(excess, len(idle))] {
		if c.isAddr {
			delete(l.addrs, c.key)
		} else {
			delete(l.accounts, c.key)
		}
	}
}
