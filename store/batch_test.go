package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// batchedDeliveries runs, through inBatch, one call per ctxs, each recording a delivery with
// request id its index to configuration configID, then doing what then says (nil: nothing).
// They are held until all of them but the cancelled wait, so that one batch takes them all.
// It returns each call's outcome, and in how many transactions the calls ran.
func batchedDeliveries(t *testing.T, s *Store, configID int64, ctxs []context.Context, then func(i, run int, tx *wtx) error) ([]error, int) {
	t.Helper()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		txs  = map[*wtx]bool{}
		runs = map[int]int{}
		errs = make([]error, len(ctxs))
	)
	s.batch.running <- struct{}{} // as if a batch were running: every call below waits for it
	waiting := 0
	for i, ctx := range ctxs {
		if ctx.Err() == nil {
			waiting++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.inBatch(ctx, func(ctx context.Context, tx *wtx) error {
				mu.Lock()
				txs[tx] = true
				runs[i]++
				run := runs[i]
				mu.Unlock()
				if _, err := tx.ExecContext(ctx, `INSERT INTO webhook_deliveries (config_id, request_id, event, result, status, reason, received_at)
					VALUES (?, ?, 'e', 'ignored', 202, 'r', ?)`, configID, fmt.Sprint(i), time.Now().UTC()); err != nil {
					return err
				}
				if then == nil {
					return nil
				}
				return then(i, run, tx)
			})
		}()
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		mu.Lock()
		ran := len(txs)
		mu.Unlock()
		s.batch.mu.Lock()
		n := len(s.batch.waiting)
		s.batch.mu.Unlock()
		if ran > 0 {
			t.Fatal("a call ran while a batch was running")
		}
		if n == waiting {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d calls waiting after 10 s, want %d", n, waiting)
		}
	}
	<-s.batch.running
	wg.Wait()
	return errs, len(txs)
}

func recordedIDs(t *testing.T, s *Store, configID int64) map[string]bool {
	t.Helper()
	recorded := map[string]bool{}
	for _, d := range mustDeliveries(t, s, configID, 100) {
		recorded[d.RequestID] = true
	}
	return recorded
}

// Calls that wait while a batch runs are written together, in one transaction: each commits
// unless it failed or panicked, when its own writes alone are undone; a call cancelled while
// it waits leaves at once, and writes nothing.
func TestBatchedWritesCommitTogetherAndFailAlone(t *testing.T) {
	s := newTestStore(t)
	c := mustCreateSCM(t, s, bbServerConfig("ALGO"), nil)
	const n = 12
	ctxs := backgrounds(n)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	ctxs[n-1] = cancelled
	boom := errors.New("boom")
	errs, txs := batchedDeliveries(t, s, c.ID, ctxs, func(i, _ int, _ *wtx) error {
		switch {
		case i == 5:
			panic("a defect in one call")
		case i%4 == 1:
			return boom
		}
		return nil
	})
	if txs != 1 {
		t.Errorf("the calls ran in %d transactions, want 1", txs)
	}
	recorded := recordedIDs(t, s, c.ID)
	for i, err := range errs {
		id := fmt.Sprint(i)
		switch {
		case i == n-1:
			if !errors.Is(err, context.Canceled) || recorded[id] {
				t.Errorf("the call cancelled while it waited: %v, recorded %v; want context.Canceled, nothing", err, recorded[id])
			}
		case i == 5:
			if err == nil || !strings.Contains(err.Error(), "panicked: a defect in one call") || recorded[id] {
				t.Errorf("the call that panicked: %v, recorded %v; want an error saying so, and its write undone", err, recorded[id])
			}
		case i%4 == 1:
			if !errors.Is(err, boom) || recorded[id] {
				t.Errorf("call %d failed: %v, recorded %v; want its error, and its write undone", i, err, recorded[id])
			}
		case err != nil || !recorded[id]:
			t.Errorf("call %d: %v, recorded %v; want committed", i, err, recorded[id])
		}
	}
}

// A batch whose transaction fails as a whole (here: a call ends the batch's savepoint itself,
// the first time it runs) runs each call again alone: each commits by itself.
func TestFailedBatchRunsEachCallAlone(t *testing.T) {
	s := newTestStore(t)
	c := mustCreateSCM(t, s, bbServerConfig("ALGO"), nil)
	const n = 6
	ctxs := backgrounds(n)
	errs, txs := batchedDeliveries(t, s, c.ID, ctxs, func(i, run int, tx *wtx) error {
		if i == 2 && run == 1 {
			_, err := tx.ExecContext(context.Background(), `RELEASE SAVEPOINT batched`)
			return err
		}
		return nil
	})
	if txs != n+1 {
		t.Errorf("the calls ran in %d transactions, want %d: the batch, then one each", txs, n+1)
	}
	recorded := recordedIDs(t, s, c.ID)
	for i, err := range errs {
		if err != nil || !recorded[fmt.Sprint(i)] {
			t.Errorf("call %d: %v, recorded %v; want committed once run alone", i, err, recorded[fmt.Sprint(i)])
		}
	}
	if n := len(recorded); n != len(ctxs) {
		t.Errorf("%d deliveries recorded, want %d", n, len(ctxs))
	}
}

// Calls that come one at a time, as a steady stream of pushes does (one every 3 ms at
// 300 a second), are written in batches all the same: a call alone soon after a batch ended
// lets others gather before it commits. A call after a pause, one that others already wait
// with, or one among calls that come faster than one a millisecond does not wait.
func TestStreamOfCallsCommitsInBatches(t *testing.T) {
	s := newTestStore(t)
	c := mustCreateSCM(t, s, bbServerConfig("ALGO"), nil)
	var (
		mu  sync.Mutex
		txs = map[*wtx]bool{}
		wg  sync.WaitGroup
	)
	const n = 12
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.inBatch(context.Background(), func(ctx context.Context, tx *wtx) error {
				mu.Lock()
				txs[tx] = true
				mu.Unlock()
				_, err := tx.ExecContext(ctx, `INSERT INTO webhook_deliveries (config_id, request_id, event, result, status, reason, received_at)
					VALUES (?, ?, 'e', 'ignored', 202, 'r', ?)`, c.ID, fmt.Sprint(i), time.Now().UTC())
				return err
			})
		}()
		time.Sleep(3 * time.Millisecond)
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("call %d: %v", i, err)
		}
	}
	if got := len(recordedIDs(t, s, c.ID)); got != n {
		t.Errorf("%d deliveries recorded, want %d", got, n)
	}
	if len(txs) > n/2 {
		t.Errorf("%d calls 3 ms apart ran in %d transactions, want at most %d: they did not gather", n, len(txs), n/2)
	}

	// Sixteen callers that each call again as soon as answered (a closed loop) come bunched
	// after each batch: on average well under batchPaced apart, so none waits.
	var loop sync.WaitGroup
	for w := range 16 {
		loop.Add(1)
		go func() {
			defer loop.Done()
			for i := range 25 {
				if err := s.inBatch(context.Background(), func(ctx context.Context, tx *wtx) error {
					_, err := tx.ExecContext(ctx, `INSERT INTO webhook_deliveries (config_id, request_id, event, result, status, reason, received_at)
						VALUES (?, ?, 'e', 'ignored', 202, 'r', ?)`, c.ID, fmt.Sprintf("loop-%d-%d", w, i), time.Now().UTC())
					return err
				}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	loop.Wait()
	b := s.batch
	b.mu.Lock()
	gap := b.gap
	b.mu.Unlock()
	if gap >= batchPaced {
		t.Errorf("after a closed loop of 16 callers, calls are %v apart on average, want under %v: its batches would wait", gap, batchPaced)
	}

	now := time.Now()
	alone := &batchCall{}
	b.mu.Lock()
	b.waiting, b.ended, b.gap = []*batchCall{alone}, now.Add(-batchStream-time.Millisecond), 3*time.Millisecond
	b.mu.Unlock()
	if b.inStream(alone, now) {
		t.Error("a call alone after a pause waits for others; want it to run at once")
	}
	b.mu.Lock()
	b.ended, b.gap = now.Add(-time.Millisecond), 200*time.Microsecond
	b.mu.Unlock()
	if b.inStream(alone, now) {
		t.Error("a call alone among calls 0.2 ms apart waits for others; want it to run at once (they gather by themselves)")
	}
	b.mu.Lock()
	b.gap = 3 * time.Millisecond
	b.mu.Unlock()
	b.mu.Lock()
	b.ended = now.Add(-time.Millisecond)
	b.mu.Unlock()
	if !b.inStream(alone, now) {
		t.Error("a call alone 1 ms after a batch ended does not wait for others")
	}
	b.mu.Lock()
	b.waiting = append(b.waiting, &batchCall{})
	b.mu.Unlock()
	if b.inStream(alone, now) {
		t.Error("a call that another waits with waits for more; want them to run at once")
	}
	b.mu.Lock()
	b.waiting = nil
	b.mu.Unlock()
}

func backgrounds(n int) []context.Context {
	ctxs := make([]context.Context, n)
	for i := range ctxs {
		ctxs[i] = context.Background()
	}
	return ctxs
}
