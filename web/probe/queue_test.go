package probe

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"
)

// TestWaitingIsNotTheHosts: with 50 tests at once, time waiting for one of the MaxRunning
// places came out of each test's budget, and a healthy host "did not answer" (issue 13,
// item 9). Here each check of a healthy host needs about 0.8 s of its 1.5 s; eight at once
// wait up to 0.8 s for a place, and still all pass, their wait shown as waiting.
func TestWaitingIsNotTheHosts(t *testing.T) {
	pki := certs(t)
	fb := newFakeBitbucket()
	// Every call answers after 200 ms: a whole check takes about 800 ms of the host's time.
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(200 * time.Millisecond)
		fb.ServeHTTP(w, r)
	})
	tg := bitbucketUp(t, slow, pki.good)
	c := newChecker(t, pki.caPEM)
	c.totalTimeout = 1500 * time.Millisecond

	const n = 2 * MaxRunning
	results := make(chan Result, n)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() { defer wg.Done(); results <- c.Check(context.Background(), tg) }()
	}
	wg.Wait()
	close(results)
	waited := 0
	for r := range results {
		if !r.Passed() || !r.Complete() {
			t.Errorf("a check of a healthy host failed while others ran (waited %s):%s", r.Waited, dump(r))
		}
		if r.Waited >= waitShown {
			waited++
			if s := stepOf(t, r, "queue"); s.Status != Passed {
				t.Errorf("the wait is shown as %s", s.Status)
			}
		}
	}
	if waited == 0 {
		t.Error("no check waited for a place: the test does not load the checker")
	}
}

// TestCancelledCheckIsIncomplete: a check whose caller gave up is not the host's health.
func TestCancelledCheckIsIncomplete(t *testing.T) {
	pki := certs(t)
	fb := newFakeBitbucket()
	fb.Override("/rest/api/1.0/application-properties", hang)
	tg := bitbucketUp(t, fb, pki.good)
	c := newChecker(t, pki.caPEM)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if r := c.Check(ctx, tg); r.Complete() {
		t.Errorf("a check cut short by its caller is complete:%s", dump(r))
	}
}
