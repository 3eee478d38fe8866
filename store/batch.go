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
// delivery); on PostgreSQL, an fsync. Deliveries that arrive while another batch is written
// are therefore written together, in the next one: one transaction, each in its own savepoint,
// one commit.
//
// A steady stream of pushes (300 a second are one every 3 ms) never has one arrive while
// another is written, so a call that finds itself alone, in such a stream, first waits up to
// batchGather for others to join it, as the build hook's chains do. A call is in a stream when
// the last batch was answered less than batchStream ago and calls come on average batchPaced or
// more apart, each gap counted from the previous call or the last answer, whichever is later.
// A caller that sends its next call as soon as it is answered (a host pushing a backlog) thus
// shows gaps of next to nothing and is not held: its calls gather by themselves while a batch
// runs. The wait also ends once no call has come for twice the average time from one call (or
// the end of a wait) to the next, as when the few callers of a closed loop have all come; and a
// wait that no other call joined makes the next ones rarer (the 2, 4, … 64 next chances are
// let go), so that a lone caller that calls again a little while after each answer is not held
// every time.

// maxBatch bounds the calls one batch transaction runs; batchTimeout, how long a batch may
// take, whoever waits for it.
const (
	maxBatch     = 64
	batchTimeout = 30 * time.Second
	// batchGather is how long a call alone in a stream waits for others: at most that much
	// later is its answer (a host waits seconds for a webhook's), and a stream of pushes
	// costs a transaction per batchGather instead of one per push.
	batchGather = 10 * time.Millisecond
	// batchStream is how soon after the last answer a call may still be in a stream.
	batchStream = 4 * batchGather
	// batchPaced is the average gap from which calls are a stream; each gap counts up to
	// batchGather, so that one long gap (a pause) does not make a stream by itself.
	batchPaced = time.Millisecond
	// batchMaxBackoff bounds the doubling of the chances let go after fruitless waits (2^6).
	batchMaxBackoff = 6
)

// batcher gathers the calls to inBatch that wait while a batch runs.
type batcher struct {
	running chan struct{} // holds a token while a call runs a batch
	mu      sync.Mutex    // guards the fields below
	waiting []*batchCall
	// answered is when a call was last told its outcome; arrived, when the last call came;
	// gathered, when the last wait for others ended. gap is how long after the previous call
	// or the last answer calls come (see Group commit), and spacing, how long after the
	// previous call or the last wait: moving averages, each sample at most batchGather.
	answered, arrived, gathered time.Time
	gap, spacing                time.Duration
	// backoff counts the fruitless waits in a row; skip, the chances to wait still let go.
	backoff, skip int
}

// newBatcher starts with no gap (a call is not in a stream before its gaps say so) and the
// widest spacing (a first wait is not cut short before the next call could come); the first
// call counts in neither.
func newBatcher() *batcher {
	return &batcher{running: make(chan struct{}, 1), spacing: batchGather}
}

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
	b.arrive(c, time.Now())
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
	if b.shouldGather(time.Now()) {
		b.gather(ctx)
	}
	s.runBatch(b.take(c))
	return <-c.done
}

// arrive adds c, come at now, to the waiting calls, and counts its gap and spacing.
func (b *batcher) arrive(c *batchCall, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.waiting = append(b.waiting, c)
	if !b.arrived.IsZero() {
		b.gap += (sample(now, b.arrived, b.answered) - b.gap) / 8
		b.spacing += (sample(now, b.arrived, b.gathered) - b.spacing) / 8
	}
	b.arrived = now
}

// sample is how long before now the later of a and b was, at most batchGather.
func sample(now, a, b time.Time) time.Duration {
	if b.After(a) {
		a = b
	}
	return min(max(0, now.Sub(a)), batchGather)
}

// shouldGather reports whether the call about to run a batch at now waits for others first:
// it waits alone, in a stream (see Group commit), and no chance is to be let go.
func (b *batcher) shouldGather(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.waiting) != 1 || now.Sub(b.answered) >= batchStream || b.gap < batchPaced {
		return false
	}
	if b.skip > 0 {
		b.skip--
		return false
	}
	return true
}

// gather waits for calls to join the one about to run a batch: until batchGather has passed,
// or no call has come for twice the calls' average spacing (those of a closed loop come
// together, then none), or ctx ends. The spacing, not the gap: the gap shrinks as commits take
// longer, while the next call of a paced stream comes no sooner; and the spacing counts from
// the end of the last wait, so that the callers of a closed loop, answered after it, do not
// lengthen the next. A wait that none joined doubles the chances let go before the next.
func (b *batcher) gather(ctx context.Context) {
	start := time.Now()
	t := time.NewTimer(batchGather)
	defer t.Stop()
	for {
		wake, full := b.gatherUntil(start)
		if full || !time.Now().Before(wake) {
			break
		}
		t.Reset(time.Until(wake))
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.gathered = time.Now()
	if len(b.waiting) > 1 {
		b.backoff = 0
		return
	}
	b.backoff = min(b.backoff+1, batchMaxBackoff)
	b.skip = 1 << b.backoff
}

// gatherUntil reports until when a wait begun at start lasts if no other call comes, and
// whether the batch is already full.
func (b *batcher) gatherUntil(start time.Time) (time.Time, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	wake := b.arrived.Add(min(start.Add(batchGather).Sub(b.arrived), 2*b.spacing))
	return wake, len(b.waiting) >= maxBatch
}

// answer tells c its outcome, and counts when: a caller that calls again as soon as answered
// comes right after this, whatever it waited.
func (b *batcher) answer(c *batchCall, err error) {
	b.mu.Lock()
	b.answered = time.Now()
	b.mu.Unlock()
	c.done <- err
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
		s.batch.answer(c, outcomes[i])
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
