package store

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Group commit. A webhook delivery is a small write transaction, and most of its cost is the
// commit: on SQLite, writing the pages it changed to the WAL (the same few pages for every
// delivery); on PostgreSQL, an fsync. Deliveries that arrive while another commits are
// therefore written together: one transaction, each in its own savepoint, one commit. When
// they come as a steady stream, one at a time (300 pushes a second are one every 3 ms), none
// arrives while another commits: a call that finds itself alone soon after the last batch
// ended, in a stream paced by its senders, lets others gather for batchGather before it
// commits, as the build hook's chains do. Calls that come faster than one a batchPaced come
// from callers that wait for each other's answers (a host's few connections pushing a
// backlog): they gather by themselves while a batch runs, and a wait would only slow them.

// maxBatch bounds the calls one batch transaction runs; batchTimeout, how long a batch may
// take, whoever waits for it.
const (
	maxBatch     = 64
	batchTimeout = 30 * time.Second
	// batchGather is how long a call alone in a stream waits for others: at most that much
	// later is its answer (a host waits seconds for a webhook's), and a stream of pushes
	// costs a transaction per batchGather instead of one per push. A call is in a stream
	// when the last batch ended less than batchStream before it runs.
	batchGather = 10 * time.Millisecond
	batchStream = 4 * batchGather
	batchPaced  = time.Millisecond
)

// batcher gathers the calls to inBatch that wait while a batch runs.
type batcher struct {
	running chan struct{} // holds a token while a call runs a batch
	mu      sync.Mutex    // guards the fields below
	waiting []*batchCall
	ended   time.Time     // when the last batch ended
	arrived time.Time     // when the last call came
	gap     time.Duration // how far apart calls come: a moving average, each gap at most 2·batchPaced
}

// newBatcher starts as if calls came paced: a closed loop brings the average down within a
// few batches.
func newBatcher() *batcher { return &batcher{running: make(chan struct{}, 1), gap: 2 * batchPaced} }

type batchCall struct {
	ctx  context.Context
	fn   func(context.Context, *wtx) error
	done chan error // receives fn's outcome once its batch has committed (or failed)
}

// inBatch runs fn in a write transaction shared with the other inBatch calls waiting at the
// same time, in a savepoint of its own: when fn returns an error, its writes alone are rolled
// back and the error returned, and the others' commit. It returns once fn's writes are
// committed, or the error that stopped them. fn may run in another goroutine, under another
// call's transaction: it must do nothing but write through tx, with the context it is given,
// and leave the same result whenever it runs (a batch that fails runs its calls again, one
// by one). ctx ends the wait for a batch; once fn's batch has started, it is every caller's,
// and no one caller's cancellation stops it.
func (s *Store) inBatch(ctx context.Context, fn func(context.Context, *wtx) error) error {
	c := &batchCall{ctx: ctx, fn: fn, done: make(chan error, 1)}
	b := s.batch
	now := time.Now()
	b.mu.Lock()
	b.waiting = append(b.waiting, c)
	// Capped, a gap after a gather (or a pause) cannot keep the average over batchPaced by
	// itself: calls that come together, a closed loop's, keep it under whatever they wait.
	b.gap += (min(now.Sub(b.arrived), 2*batchPaced) - b.gap) / 8
	b.arrived = now
	b.mu.Unlock()
	// Either a running batch takes this call, or this call runs the next batch.
	select {
	case err := <-c.done:
		return err
	case b.running <- struct{}{}:
	case <-ctx.Done():
		if b.leave(c) {
			return ctx.Err()
		}
		return <-c.done // a batch has taken it
	}
	defer func() { <-b.running }()
	select {
	case err := <-c.done: // taken by the batch that just ended
		return err
	default:
	}
	if b.inStream(c, time.Now()) {
		time.Sleep(batchGather)
	}
	s.runBatch(b.take(c))
	b.mu.Lock()
	b.ended = time.Now()
	b.mu.Unlock()
	return <-c.done
}

// inStream reports whether c, about to run a batch at now, should let others gather first:
// it waits alone, the last batch ended less than batchStream ago, and calls come at least
// batchPaced apart. A call after a pause runs at once; calls that wait together already make
// a batch, and so do calls that come faster.
func (b *batcher) inStream(c *batchCall, now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.waiting) == 1 && b.waiting[0] == c && now.Sub(b.ended) < batchStream && b.gap >= batchPaced
}

// leave takes c out of the waiting calls, and reports whether it was still waiting.
func (b *batcher) leave(c *batchCall) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	i := slices.Index(b.waiting, c)
	if i >= 0 {
		b.waiting = slices.Delete(b.waiting, i, i+1)
	}
	return i >= 0
}

// take returns c and as many of the other waiting calls as a batch takes, which stop waiting.
func (b *batcher) take(c *batchCall) []*batchCall {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.waiting = slices.DeleteFunc(b.waiting, func(w *batchCall) bool { return w == c })
	n := min(len(b.waiting), maxBatch-1)
	calls := append([]*batchCall{c}, b.waiting[:n]...)
	b.waiting = slices.Delete(b.waiting, 0, n)
	return calls
}

// runBatch runs calls in one transaction, each in a savepoint, and tells each its outcome.
// A call alone, or each call when that transaction fails as a whole (a deadlock with
// another server's batch on PostgreSQL, say), runs in a transaction of its own.
func (s *Store) runBatch(calls []*batchCall) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(calls[0].ctx), batchTimeout)
	defer cancel()
	outcomes := make([]error, len(calls))
	together := len(calls) > 1 &&
		s.inTx(ctx, func(tx *wtx) error { return runSavepoints(ctx, tx, calls, outcomes) }) == nil
	for i, c := range calls {
		if !together {
			if outcomes[i] = c.ctx.Err(); outcomes[i] == nil {
				outcomes[i] = s.inTx(ctx, func(tx *wtx) error { return call(ctx, tx, c.fn) })
			}
		}
		c.done <- outcomes[i]
	}
}

// runSavepoints runs each of calls that is still awaited in a savepoint of tx, and keeps its
// outcome; it fails only when a savepoint itself does.
func runSavepoints(ctx context.Context, tx *wtx, calls []*batchCall, outcomes []error) error {
	for i, c := range calls {
		if outcomes[i] = c.ctx.Err(); outcomes[i] != nil {
			continue
		}
		if _, err := tx.ExecContext(ctx, `SAVEPOINT batched`); err != nil {
			return err
		}
		if outcomes[i] = call(ctx, tx, c.fn); outcomes[i] != nil {
			if _, err := tx.ExecContext(ctx, `ROLLBACK TO SAVEPOINT batched`); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `RELEASE SAVEPOINT batched`); err != nil {
			return err
		}
	}
	return nil
}

// call runs fn, a panic in it an error: it may be another request's.
func call(ctx context.Context, tx *wtx, fn func(context.Context, *wtx) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("store: a batched write panicked: %v", p)
		}
	}()
	return fn(ctx, tx)
}
