package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// Calls that wait while a batch runs are written together, in one transaction: each commits
// unless it failed, when its own writes alone are undone; a call cancelled before its batch
// started writes nothing.
func TestBatchedWritesCommitTogetherAndFailAlone(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	c := mustCreateSCM(t, s, bbServerConfig("ALGO"), nil)
	const n = 12
	fails := func(i int) bool { return i%4 == 1 }
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	boom := errors.New("boom")
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		txs  = map[*wtx]bool{}
		errs [n]error
	)
	s.batch.running <- struct{}{} // as if a batch were running: every call below waits for it
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			callCtx := ctx
			if i == n-1 {
				callCtx = cancelled
			}
			errs[i] = s.inBatch(callCtx, func(ctx context.Context, tx *wtx) error {
				mu.Lock()
				txs[tx] = true
				mu.Unlock()
				if _, err := tx.ExecContext(ctx, `INSERT INTO webhook_deliveries (config_id, request_id, event, result, status, reason, received_at)
					VALUES (?, ?, 'e', 'ignored', 202, 'r', ?)`, c.ID, fmt.Sprint(i), time.Now().UTC()); err != nil {
					return err
				}
				if fails(i) {
					return boom
				}
				return nil
			})
		}()
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		s.batch.mu.Lock()
		waiting := len(s.batch.waiting)
		s.batch.mu.Unlock()
		if waiting == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d calls waiting after 10 s, want %d", waiting, n)
		}
	}
	<-s.batch.running
	wg.Wait()
	if len(txs) != 1 {
		t.Errorf("the calls ran in %d transactions, want 1", len(txs))
	}
	recorded := map[string]bool{}
	for _, d := range mustDeliveries(t, s, c.ID, 100) {
		recorded[d.RequestID] = true
	}
	for i, err := range errs {
		switch {
		case i == n-1:
			if !errors.Is(err, context.Canceled) || recorded[fmt.Sprint(i)] {
				t.Errorf("the call cancelled before its batch: %v, recorded %v; want context.Canceled, nothing", err, recorded[fmt.Sprint(i)])
			}
		case fails(i):
			if !errors.Is(err, boom) || recorded[fmt.Sprint(i)] {
				t.Errorf("call %d failed: %v, recorded %v; want its error, and its write undone", i, err, recorded[fmt.Sprint(i)])
			}
		case err != nil || !recorded[fmt.Sprint(i)]:
			t.Errorf("call %d: %v, recorded %v; want committed", i, err, recorded[fmt.Sprint(i)])
		}
	}
}
