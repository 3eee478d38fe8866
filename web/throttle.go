package web

import (
	"strings"
	"sync"
	"time"
)

// Sign-in limits: after freeFailures wrong passwords in a row an account waits, twice as
// long after each further one; an address may fail addrFailures times per addrWindow. Both
// make guessing slow without locking an account for long.
const (
	freeFailures = 5
	firstBackoff = 30 * time.Second
	maxBackoff   = 15 * time.Minute
	addrFailures = 30
	addrWindow   = 15 * time.Minute
	// pruneAbove is how many entries the limiter keeps before sweeping out stale ones.
	pruneAbove = 10_000
)

// signInLimiter keeps failed sign-ins in memory: a restart forgets them, which costs an
// attacker a restart for every 5 guesses per account.
type signInLimiter struct {
	mu       sync.Mutex
	accounts map[string]*accountFailures
	addrs    map[string]*addrFailureWindow
	now      func() time.Time
}

type accountFailures struct {
	count int
	until time.Time
}

type addrFailureWindow struct {
	count int
	start time.Time
}

func newSignInLimiter() *signInLimiter {
	return &signInLimiter{accounts: map[string]*accountFailures{}, addrs: map[string]*addrFailureWindow{}, now: time.Now}
}

// wait returns how long a sign-in as username from addr must wait; 0 lets it try.
func (l *signInLimiter) wait(username, addr string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	var d time.Duration
	if a := l.accounts[strings.ToLower(username)]; a != nil && a.until.After(now) {
		d = a.until.Sub(now)
	}
	if w := l.addrs[addr]; w != nil && w.count >= addrFailures {
		if end := w.start.Add(addrWindow); end.After(now) {
			d = max(d, end.Sub(now))
		}
	}
	return d
}

// failed records a wrong password.
func (l *signInLimiter) failed(username, addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if len(l.accounts)+len(l.addrs) > pruneAbove {
		l.prune(now)
	}
	key := strings.ToLower(username)
	a := l.accounts[key]
	if a == nil {
		a = &accountFailures{}
		l.accounts[key] = a
	}
	a.count++
	if n := a.count - freeFailures; n >= 0 {
		backoff := maxBackoff
		if n < 10 {
			backoff = min(firstBackoff<<n, maxBackoff)
		}
		a.until = now.Add(backoff)
	}
	w := l.addrs[addr]
	if w == nil || now.Sub(w.start) > addrWindow {
		w = &addrFailureWindow{start: now}
		l.addrs[addr] = w
	}
	w.count++
}

// succeeded clears an account's failures.
func (l *signInLimiter) succeeded(username string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.accounts, strings.ToLower(username))
}

func (l *signInLimiter) prune(now time.Time) {
	for k, a := range l.accounts {
		if now.Sub(a.until) > maxBackoff {
			delete(l.accounts, k)
		}
	}
	for k, w := range l.addrs {
		if now.Sub(w.start) > addrWindow {
			delete(l.addrs, k)
		}
	}
}
