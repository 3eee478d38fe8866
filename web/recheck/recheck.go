// Package recheck tests configurations again and again, so that a host that broke is known
// before a user finds out: every round (one Interval long) lists the configurations and gives
// each its own slot in the round, evenly spread, with at most MaxRunning tests at once. Of the
// servers sharing a database, the one holding the lease tests; the others wait to take it.
package recheck

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// MaxRunning is how many tests run at once, at most.
const MaxRunning = 4

// Scheduler runs the rounds. Its fields are set before Run and not changed after.
type Scheduler struct {
	// Interval is a round's length: each configuration is tested once a round.
	Interval time.Duration
	// Configs lists the ids of the configurations to test this round.
	Configs func(ctx context.Context) ([]string, error)
	// Test tests configuration id, returning when the test is over.
	Test func(ctx context.Context, id string)
	// Lease takes, or renews, the lease that makes this server the one that tests, until ttl
	// from now; it reports whether this server holds it. Release gives it up.
	Lease   func(ctx context.Context, ttl time.Duration) (bool, error)
	Release func(ctx context.Context) error
	Log     *slog.Logger
}

// maxRenewal bounds how long the lease goes unrenewed: a stopped server's lease runs out
// (3 renewals) within 30 s, and another server takes over.
const maxRenewal = 10 * time.Second

// Run runs rounds until ctx is done, then gives up the lease and returns once the tests in
// flight (whose ctx is done too) have returned.
func (s *Scheduler) Run(ctx context.Context) {
	var wg sync.WaitGroup
	r := &round{s: s, ctx: ctx, wg: &wg, places: make(chan struct{}, MaxRunning), running: map[string]bool{}}
	defer func() {
		if err := s.Release(context.WithoutCancel(ctx)); err != nil {
			s.Log.Warn("recheck: could not give up the lease", "err", err)
		}
		wg.Wait()
	}()
	renewal := min(s.Interval, maxRenewal)
	for {
		held, err := s.Lease(ctx, 3*renewal)
		if err != nil && ctx.Err() == nil {
			s.Log.Warn("recheck: could not take the lease", "err", err)
		}
		wake := time.Now().Add(renewal)
		if held {
			wake = r.step(wake)
		} else {
			r.queue, r.end = nil, time.Time{} // another server tests: start a round when this one takes over
		}
		t := time.NewTimer(time.Until(wake))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// round is the state of the rounds: the configurations yet to start this round, and those
// whose test is running.
type round struct {
	s       *Scheduler
	ctx     context.Context
	wg      *sync.WaitGroup
	places  chan struct{} // MaxRunning of them
	queue   []string
	next    time.Time // when queue[0] is due
	gap     time.Duration
	end     time.Time // when the round ends and the next begins
	mu      sync.Mutex
	running map[string]bool
}

// step starts a round when the last has ended, starts the tests that are due, and returns
// when it is next to be called: the next test's slot, the round's end, or by (for the lease),
// whichever is first.
func (r *round) step(by time.Time) time.Time {
	now := time.Now()
	if len(r.queue) == 0 && !now.Before(r.end) {
		ids, err := r.s.Configs(r.ctx)
		if err != nil {
			if r.ctx.Err() == nil {
				r.s.Log.Warn("recheck: could not list the configurations", "err", err)
			}
			return by
		}
		r.queue, r.end = ids, now.Add(r.s.Interval)
		if len(ids) > 0 {
			// Slots in the middle of their share of the round: a server that starts does not
			// test at once what was tested just before it stopped.
			r.gap = r.s.Interval / time.Duration(len(ids))
			r.next = now.Add(r.gap / 2)
		}
	}
	for len(r.queue) > 0 && !now.Before(r.next) {
		r.start(r.queue[0])
		r.queue, r.next = r.queue[1:], r.next.Add(r.gap)
	}
	wake := r.end
	if len(r.queue) > 0 {
		wake = r.next
	}
	if by.Before(wake) {
		return by
	}
	return wake
}

// start tests id once a place is free, unless its last test is still running or waiting.
func (r *round) start(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.running[id] {
		return
	}
	r.running[id] = true
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer func() {
			r.mu.Lock()
			delete(r.running, id)
			r.mu.Unlock()
		}()
		select {
		case r.places <- struct{}{}:
		case <-r.ctx.Done():
			return
		}
		defer func() { <-r.places }()
		r.s.Test(r.ctx, id)
	}()
}
