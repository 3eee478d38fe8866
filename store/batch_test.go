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

// recordCalls makes n calls to inBatch, each recording a delivery, from its own goroutine,
// starting one every every (all at once when 0), and returns in how many transactions they ran.
func recordCalls(t *testing.T, s *Store, configID int64, prefix string, n int, every time.Duration) int {
	t.Helper()
	var (
		mu  sync.Mutex
		txs = map[*wtx]bool{}
		wg  sync.WaitGroup
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.inBatch(context.Background(), func(ctx context.Context, tx *wtx) error {
				mu.Lock()
				txs[tx] = true
				mu.Unlock()
				_, err := tx.ExecContext(ctx, `INSERT INTO webhook_deliveries (config_id, request_id, event, result, status, reason, received_at)
					VALUES (?, ?, 'e', 'ignored', 202, 'r', ?)`, configID, fmt.Sprint(prefix, i), time.Now().UTC())
				return err
			}); err != nil {
				t.Errorf("call %d: %v", i, err)
			}
		}()
		time.Sleep(every)
	}
	wg.Wait()
	return len(txs)
}

// Calls that come one at a time, as a steady stream of pushes does (one every 3 ms at
// 300 a second), are written in batches all the same: a call alone in the stream waits for
// others to join it before it commits. Left alone, each runs in a transaction of its own (30
// of 30); gathered, in 9 to 13 even beside other tests under -race. A machine too busy to
// keep the pace (a pause of 10 ms, and the waits find no one) is given three tries.
func TestStreamOfCallsCommitsInBatches(t *testing.T) {
	s := newTestStore(t)
	c := mustCreateSCM(t, s, bbServerConfig("ALGO"), nil)
	const n = 30
	var tries []int
	for try := 1; len(tries) < 3; try++ {
		txs := recordCalls(t, s, c.ID, fmt.Sprintf("stream-%d-", try), n, 3*time.Millisecond)
		if got := len(recordedIDs(t, s, c.ID)); got != n*try {
			t.Fatalf("%d deliveries recorded after %d streams of %d, want %d", got, try, n, n*try)
		}
		if tries = append(tries, txs); txs <= n/2 {
			return
		}
	}
	t.Errorf("three streams of %d calls 3 ms apart ran in %v transactions, want at most %d: they did not gather", n, tries, n/2)
}

// A caller that calls again as soon as it is answered (a host pushing a backlog) is not held:
// in 50 calls in a row, it waited for others at most a few times, when the machine was slow to
// run it again (each wait finds no one, and is counted as fruitless; held, it would wait at
// every chance it is not let go: six times or more).
func TestSerialCallerIsNotHeld(t *testing.T) {
	s := newTestStore(t)
	c := mustCreateSCM(t, s, bbServerConfig("ALGO"), nil)
	for i := range 50 {
		recordCalls(t, s, c.ID, fmt.Sprintf("serial-%d-", i), 1, 0)
	}
	b := s.batch
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.backoff > 3 {
		t.Errorf("a caller that called again as soon as answered waited %d times in 50 calls (calls %v apart on average), want at most 3", b.backoff, b.gap)
	}
}

// The rule, on made-up timelines: a call waits for others when it is alone in a paced
// stream, not after a pause, not among calls that each come as soon as one is answered, and
// less and less often while its waits find no one.
func TestWhenACallWaitsForOthers(t *testing.T) {
	ms := func(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }
	// stream makes calls at the given times from t0, each answered took after it came, then
	// one more, alone, at the last time plus next, and returns the batcher and when that came.
	stream := func(took, next time.Duration, at ...time.Duration) (*batcher, time.Time) {
		b := newBatcher()
		t0 := time.Now()
		for _, a := range at {
			b.arrive(&batchCall{}, t0.Add(a))
			b.answered = t0.Add(a + took)
		}
		last := t0.Add(at[len(at)-1] + next)
		c := &batchCall{}
		b.arrive(c, last)
		b.waiting = []*batchCall{c}
		return b, last
	}
	// timeline reports whether the last call of such a stream waits for others.
	timeline := func(took, next time.Duration, at ...time.Duration) bool {
		b, last := stream(took, next, at...)
		return b.shouldGather(last)
	}
	var paced, serial, bunched []time.Duration
	for i := range 20 {
		paced = append(paced, ms(3.3*float64(i)))
		serial = append(serial, ms(3.05*float64(i))) // each 0.05 ms after the previous one's answer, 3 ms after it came
		for j := range 16 {
			bunched = append(bunched, ms(5*float64(i)+0.01*float64(j)))
		}
	}
	if !timeline(ms(0.3), ms(3.3), paced...) {
		t.Error("a call alone in a stream of one every 3.3 ms does not wait for others")
	}
	// Commits of 2 ms leave gaps of 1.3 ms between an answer and the next call: still a
	// stream, whose next call comes 3.3 ms after the last, and the wait lasts till then.
	if b, last := stream(ms(2), ms(3.3), paced...); !b.shouldGather(last) {
		t.Error("a call alone in a stream of one every 3.3 ms, each committed in 2 ms, does not wait for others")
	} else if wake, _ := b.gatherUntil(last); wake.Before(last.Add(ms(3.3))) {
		t.Errorf("in a stream of one every 3.3 ms, each committed in 2 ms, a wait lasts %v if no call comes; want until the next one comes", wake.Sub(last))
	}
	// Two callers that each call again 1.5 ms after their answer, 0.5 ms after the wait: once
	// both have come, the wait ends soon, not after the full batchGather, however long the
	// waits before it were.
	loop := newBatcher()
	for round, at := 0, time.Now(); round < 20; round++ {
		loop.arrive(&batchCall{}, at)
		loop.arrive(&batchCall{}, at.Add(ms(0.01)))
		wake, _ := loop.gatherUntil(at)
		if waited := wake.Sub(at); round >= 10 && waited > batchGather/2 {
			t.Fatalf("round %d of a closed loop of two: the wait lasts %v, want it to end soon after both came", round, waited)
		}
		loop.gathered = wake
		loop.answered = wake.Add(ms(0.5))
		at = loop.answered.Add(ms(1.5))
	}
	if timeline(ms(0.3), batchStream+ms(1), paced...) {
		t.Error("a call after a pause of 40 ms waits for others; want it to run at once")
	}
	if timeline(ms(3), ms(3.05), serial...) {
		t.Error("a call 0.05 ms after the previous one was answered (3 ms after it came, as on a slow commit) waits for others; want it to run at once")
	}
	if timeline(ms(0.3), ms(5), bunched...) {
		t.Error("a call among calls that come 16 at a time, right after an answer, waits for others")
	}

	b := newBatcher()
	c := &batchCall{}
	now := time.Now()
	b.waiting, b.answered, b.gap = []*batchCall{c}, now, 2*batchPaced
	stopped, stop := context.WithCancel(context.Background())
	stop()
	for round, letGo := range []int{0, 2, 4, 8} {
		for range letGo {
			if b.shouldGather(now) {
				t.Fatalf("after %d fruitless waits, a call waited before %d chances were let go", round, letGo)
			}
		}
		if !b.shouldGather(now) {
			t.Fatalf("after %d fruitless waits and %d chances let go, a call in a stream did not wait", round, letGo)
		}
		b.gather(stopped) // no one joins
	}
	b.waiting = append(b.waiting, &batchCall{})
	b.gather(stopped) // one joined
	if b.backoff != 0 {
		t.Errorf("a wait that another call joined left %d fruitless waits counted, want 0", b.backoff)
	}
}

func backgrounds(n int) []context.Context {
	ctxs := make([]context.Context, n)
	for i := range ctxs {
		ctxs[i] = context.Background()
	}
	return ctxs
}
