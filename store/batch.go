package store

import (
	"context"
	"sync"
)

// Group commit. A webhook delivery is a small write transaction, and most of its cost is the
// commit: on SQLite, writing the pages it changed to the WAL (the same few pages for every
// delivery); on PostgreSQL, an fsync. Deliveries that arrive while another commits are
// therefore written together: one transaction, each in its own savepoint, one commit.

// maxBatch bounds the calls one batch transaction runs.
const maxBatch = 64

// batcher gathers the calls to inBatch that wait while a batch runs.
type batcher struct {
	running chan struct{} // holds a token while a call runs a batch
	mu      sync.Mutex    // guards waiting
	waiting []*batchCall
}

func newBatcher() *batcher { return &batcher{running: make(chan struct{}, 1)} }

type batchCall struct {
	ctx  context.Context
	fn   func(context.Context, *wtx) error
	done chan error // receives fn's outcome once its batch has committed (or failed)
}

// inBatch runs fn in a write transaction shared with the other inBatch calls waiting at the
// same time, in a savepoint of its own: when fn returns an error, its writes alone are rolled
// back and the error returned, and the others' commit. It returns once fn's writes are
// committed, or the error that stopped them. fn may run in another goroutine, under another
// call's transaction: it must do nothing but write through tx, with the context it is given
// (ctx cancelled before fn starts skips it; once started, the batch is every caller's, and no
// one caller's cancellation stops it).
func (s *Store) inBatch(ctx context.Context, fn func(context.Context, *wtx) error) error {
	c := &batchCall{ctx: ctx, fn: fn, done: make(chan error, 1)}
	b := s.batch
	b.mu.Lock()
	b.waiting = append(b.waiting, c)
	b.mu.Unlock()
	// Either a running batch takes this call, or this call runs the next batch.
	select {
	case err := <-c.done:
		return err
	case b.running <- struct{}{}:
	}
	defer func() { <-b.running }()
	select {
	case err := <-c.done: // taken by the batch that just ended
		return err
	default:
	}
	// This call, and as many of those waiting as a batch takes.
	calls := []*batchCall{c}
	b.mu.Lock()
	rest := b.waiting[:0]
	for _, w := range b.waiting {
		switch {
		case w == c:
		case len(calls) < maxBatch:
			calls = append(calls, w)
		default:
			rest = append(rest, w)
		}
	}
	b.waiting = rest
	b.mu.Unlock()
	s.runBatch(calls)
	return <-c.done
}

// runBatch runs calls in one transaction, each in a savepoint, and tells each its outcome.
func (s *Store) runBatch(calls []*batchCall) {
	ctx := context.WithoutCancel(calls[0].ctx)
	if len(calls) == 1 { // alone: no savepoint needed
		c := calls[0]
		c.done <- s.inTx(ctx, func(tx *wtx) error { return c.fn(ctx, tx) })
		return
	}
	outcomes := make([]error, len(calls))
	err := s.inTx(ctx, func(tx *wtx) error {
		for i, c := range calls {
			if outcomes[i] = c.ctx.Err(); outcomes[i] != nil {
				continue
			}
			if _, err := tx.ExecContext(ctx, `SAVEPOINT batched`); err != nil {
				return err
			}
			if outcomes[i] = c.fn(ctx, tx); outcomes[i] != nil {
				if _, err := tx.ExecContext(ctx, `ROLLBACK TO SAVEPOINT batched`); err != nil {
					return err
				}
			}
			if _, err := tx.ExecContext(ctx, `RELEASE SAVEPOINT batched`); err != nil {
				return err
			}
		}
		return nil
	})
	for i, c := range calls {
		if err != nil {
			outcomes[i] = err
		}
		c.done <- outcomes[i]
	}
}
