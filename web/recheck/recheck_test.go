package recheck

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"
)

// lease is one lease row that schedulers share, as servers share a database's.
type lease struct {
	mu     sync.Mutex
	holder string
	until  time.Time
}

func (l *lease) take(holder string, ttl time.Duration) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.holder != holder && time.Now().Before(l.until) {
		return false
	}
	l.holder, l.until = holder, time.Now().Add(ttl)
	return true
}

func (l *lease) release(holder string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.holder == holder {
		l.until = time.Time{}
	}
}

// tester records the tests a scheduler runs: when each started, and how many ran at once.
type tester struct {
	mu        sync.Mutex
	took      time.Duration // how long each test takes
	starts    map[string][]time.Time
	by        map[string]int // tests run by each scheduler
	now, most int
	cancelled int // tests whose ctx was done when they returned
}

func newTester(took time.Duration) *tester {
	return &tester{took: took, starts: map[string][]time.Time{}, by: map[string]int{}}
}

func (tr *tester) test(name string) func(ctx context.Context, id string) {
	return func(ctx context.Context, id string) {
		tr.mu.Lock()
		tr.starts[id] = append(tr.starts[id], time.Now())
		tr.by[name]++
		tr.now++
		tr.most = max(tr.most, tr.now)
		tr.mu.Unlock()
		select {
		case <-time.After(tr.took):
		case <-ctx.Done():
		}
		tr.mu.Lock()
		tr.now--
		if ctx.Err() != nil {
			tr.cancelled++
		}
		tr.mu.Unlock()
	}
}

// until waits, for up to 10 s (timers fire late on a busy machine, never early), for cond to
// hold of what tr has recorded, and reports whether it did.
func (tr *tester) until(cond func() bool) bool {
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		tr.mu.Lock()
		ok := cond()
		tr.mu.Unlock()
		if ok || time.Now().After(deadline) {
			return ok
		}
	}
}

func ids(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("cfg-%02d", i)
	}
	return out
}

func scheduler(name string, interval time.Duration, configs []string, tr *tester, l *lease) *Scheduler {
	return &Scheduler{
		Interval: interval,
		Configs:  func(context.Context) ([]string, error) { return configs, nil },
		Test:     tr.test(name),
		Lease:    func(_ context.Context, ttl time.Duration) (bool, error) { return l.take(name, ttl), nil },
		Release:  func(context.Context) error { l.release(name); return nil },
		Log:      slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

// run runs s until stop is called, which returns once Run has.
func run(s *Scheduler) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Run(ctx)
	}()
	return func() {
		cancel()
		<-done
	}
}

// 50 configurations whose tests each take eight slots' time: never more than 4 at once, and
// every one tested.
func TestAtMostFourAtOnce(t *testing.T) {
	// Slots 5 ms apart, tests of 40 ms: without the bound 8 would run at once; with it 50 take
	// 500 ms, four at a time.
	tr := newTester(40 * time.Millisecond)
	stop := run(scheduler("a", 250*time.Millisecond, ids(50), tr, &lease{}))
	tr.until(func() bool { return len(tr.starts) == 50 })
	stop()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.most > MaxRunning {
		t.Errorf("%d tests ran at once, want at most %d", tr.most, MaxRunning)
	}
	if tr.most < MaxRunning {
		t.Errorf("at most %d tests ran at once: the bound was never reached, so this test shows nothing", tr.most)
	}
	for _, id := range ids(50) {
		if len(tr.starts[id]) == 0 {
			t.Errorf("%s was never tested", id)
		}
	}
}

// Each configuration has its own slot: 10 over 1 s start about 100 ms apart, in order, each
// once before any is tested again.
func TestTestsAreSpreadOverTheInterval(t *testing.T) {
	tr := newTester(time.Millisecond)
	stop := run(scheduler("a", time.Second, ids(10), tr, &lease{}))
	time.Sleep(1500 * time.Millisecond)
	stop()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	type start struct {
		id string
		at time.Time
	}
	var starts []start
	for id, ats := range tr.starts {
		for _, at := range ats {
			starts = append(starts, start{id, at})
		}
	}
	slices.SortFunc(starts, func(a, b start) int { return a.at.Compare(b.at) })
	if len(starts) < 12 {
		t.Fatalf("%d tests in 1.5 rounds, want about 15", len(starts))
	}
	for i, s := range starts {
		if want := ids(10)[i%10]; s.id != want {
			t.Errorf("test %d was of %s, want %s: each is tested once a round, in order", i, s.id, want)
		}
		// The i-th slot is i × 100 ms after the first: timers fire late on a busy machine, never early.
		slot := time.Duration(i) * 100 * time.Millisecond
		if at := s.at.Sub(starts[0].at); at < slot-5*time.Millisecond || at > slot+250*time.Millisecond {
			t.Errorf("test %d started %s after the first, want %s", i, at, slot)
		}
	}
}

// Stopping cancels the tests in flight, waits for them, leaves no goroutine behind and gives
// the lease up.
func TestStopsCleanly(t *testing.T) {
	before := runtime.NumGoroutine()
	tr := newTester(time.Hour)
	l := &lease{}
	stop := run(scheduler("a", 100*time.Millisecond, ids(8), tr, l))
	running := 0
	if !tr.until(func() bool { running = tr.now; return running == MaxRunning }) {
		go stop()
		t.Fatalf("%d tests running, want %d", running, MaxRunning)
	}
	stopped := make(chan struct{})
	go func() {
		stop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(2 * time.Second):
		t.Fatal("Run did not return within 2 s of being stopped")
	}
	tr.mu.Lock()
	if tr.now != 0 || tr.cancelled != MaxRunning {
		t.Errorf("after Run returned: %d tests running, %d cancelled; want 0 and %d", tr.now, tr.cancelled, MaxRunning)
	}
	tr.mu.Unlock()
	if !l.take("b", time.Minute) {
		t.Error("the lease was not given up")
	}
	deadline := time.Now().Add(time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines after stopping, %d before", n, before)
	}
}

// Of two servers sharing the lease one tests; when it stops, the other takes over.
func TestOneServerTests(t *testing.T) {
	tr := newTester(time.Millisecond)
	l := &lease{}
	stopA := run(scheduler("a", 100*time.Millisecond, ids(4), tr, l))
	time.Sleep(20 * time.Millisecond)
	stopB := run(scheduler("b", 100*time.Millisecond, ids(4), tr, l))
	defer stopB()
	tr.until(func() bool { return tr.by["a"] >= 12 })
	stopA()
	tr.mu.Lock()
	byA, byB := tr.by["a"], tr.by["b"]
	tr.mu.Unlock()
	if byA < 12 || byB != 0 {
		t.Fatalf("while a held the lease: a ran %d tests, b %d; want a 12 (three rounds), b none", byA, byB)
	}
	tr.until(func() bool { return tr.by["b"] >= 8 })
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.by["b"] < 8 || tr.by["a"] != byA {
		t.Errorf("after a stopped: a ran %d more, b %d; want b to take over", tr.by["a"]-byA, tr.by["b"])
	}
}
