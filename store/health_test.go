package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// A run of failed tests keeps the time it began, however long it lasts; each change from
// passing to failing and back is one audit entry; the history keeps the last 20 results.
func TestHealthHistory(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	c := mustCreateSCM(t, s, bbServerConfig("ALGO"), map[string]string{"access_token": "t"})
	start := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	by := Actor{Username: "health check"}
	record := func(i int, outcome Health) ConnectionTest {
		t.Helper()
		r := HealthResult{At: start.Add(time.Duration(i) * time.Minute), Outcome: outcome, Summary: "passed", RateLimitLeft: -1}
		if outcome == HealthFailing {
			r.Step, r.Summary = "token", "Access token authenticates"
		}
		got, err := s.RecordConnectionTest(ctx, c.ID, r, by)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	record(0, HealthPassed)
	var last ConnectionTest
	for i := 1; i <= 25; i++ {
		last = record(i, HealthFailing)
	}
	if want := start.Add(time.Minute); !last.FailingSince.Equal(want) || last.Passed {
		t.Errorf("after 25 failures: %+v, want failing since %s", last, want)
	}
	stored, err := s.SCMConfig(ctx, c.ID)
	if err != nil || !stored.LastTest.FailingSince.Equal(start.Add(time.Minute)) || stored.LastTest.Summary != "Access token authenticates" {
		t.Errorf("stored health: %+v %v", stored.LastTest, err)
	}
	record(26, HealthWarning)
	record(27, HealthFailing)
	if got := record(28, HealthFailing); !got.FailingSince.Equal(start.Add(27 * time.Minute)) {
		t.Errorf("a new run of failures began at %s, want %s", got.FailingSince, start.Add(27*time.Minute))
	}

	results, err := s.HealthResults(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != KeptHealthResults {
		t.Fatalf("%d results kept, want %d", len(results), KeptHealthResults)
	}
	if !results[0].At.Equal(start.Add(28*time.Minute)) || results[0].Outcome != HealthFailing || results[0].Step != "token" ||
		results[2].Outcome != HealthWarning || !results[19].At.Equal(start.Add(9*time.Minute)) {
		t.Errorf("results, newest first: %+v … %+v", results[0], results[19])
	}
	if n := countRows(t, s, "health_results"); n != KeptHealthResults {
		t.Errorf("%d rows in health_results, want %d: older ones are pruned", n, KeptHealthResults)
	}

	evs, _, err := s.ListAudit(ctx, AuditQuery{ConfigID: c.ID, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var changes []string
	for _, ev := range evs {
		if ev.Action == ActionStartedFailing || ev.Action == ActionPassingAgain {
			if ev.Actor.Username != "health check" || len(ev.Changes) != 1 || ev.Changes[0].Field != FieldHealth {
				t.Errorf("health event %+v", ev)
			}
			changes = append(changes, ev.Action+": "+ev.Changes[0].From+" → "+ev.Changes[0].To)
		}
	}
	want := []string{ // newest first
		"health_failing: passing → failing: Access token authenticates",
		"health_passing: failing since 2030-01-02T03:05:05Z → warning",
		"health_failing: passing → failing: Access token authenticates",
	}
	if fmt.Sprint(changes) != fmt.Sprint(want) {
		t.Errorf("health changes in the audit trail:\n%q\nwant\n%q", changes, want)
	}
}

// What the host told of expiries and its rate limit is kept with the result.
func TestHealthResultKeepsExpiries(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	c := mustCreateSCM(t, s, bbServerConfig("ALGO"), map[string]string{"access_token": "t"})
	at := time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC)
	r := HealthResult{At: at, Outcome: HealthWarning, Summary: "passed",
		TokenExpires: at.Add(10 * 24 * time.Hour), CertExpires: at.Add(90 * 24 * time.Hour), RateLimitLeft: 4999}
	if _, err := s.RecordConnectionTest(ctx, c.ID, r, testActor); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RecordConnectionTest(ctx, c.ID, HealthResult{At: at.Add(time.Hour), Outcome: HealthPassed, Summary: "passed",
		RateLimitLeft: -1}, testActor); err != nil {
		t.Fatal(err)
	}
	results, err := s.HealthResults(ctx, c.ID)
	if err != nil || len(results) != 2 {
		t.Fatalf("results %+v %v", results, err)
	}
	if got := results[1]; !got.TokenExpires.Equal(r.TokenExpires) || !got.CertExpires.Equal(r.CertExpires) || got.RateLimitLeft != 4999 {
		t.Errorf("kept %+v, want %+v", got, r)
	}
	if got := results[0]; !got.TokenExpires.IsZero() || !got.CertExpires.IsZero() || got.RateLimitLeft != -1 {
		t.Errorf("a result the host told nothing of: %+v", got)
	}
	// An untested configuration that fails at once is a change too; the healthy map names it.
	if _, err := s.RecordConnectionTest(ctx, c.ID, HealthResult{At: at.Add(2 * time.Hour), Outcome: HealthFailing, Step: "dns",
		Summary: "Name resolves", RateLimitLeft: -1}, testActor); err != nil {
		t.Fatal(err)
	}
	healthy, err := s.Healthy(ctx)
	if err != nil || len(healthy) != 1 || healthy[c.Ref] {
		t.Errorf("Healthy() = %v %v, want %s unhealthy alone (the built-in one is never tested)", healthy, err, c.Ref)
	}
	if err := s.SetEnabled(ctx, c.ID, false, testActor); err != nil {
		t.Fatal(err)
	}
	if healthy, err := s.Healthy(ctx); err != nil || len(healthy) != 0 {
		t.Errorf("Healthy() lists a disabled configuration: %v %v", healthy, err)
	}
}

func TestRecordConnectionTestOfDeletedConfig(t *testing.T) {
	s := newTestStore(t)
	_, err := s.RecordConnectionTest(context.Background(), 9999, HealthResult{At: time.Now(), Outcome: HealthPassed, RateLimitLeft: -1}, testActor)
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("err = %v, want ErrNotFound", err)
	}
}

// Tests finishing together each see the other's result: one audit entry per change, however
// many record a failure at once.
func TestConcurrentFailuresAuditOnce(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	c := mustCreateSCM(t, s, bbServerConfig("ALGO"), map[string]string{"access_token": "t"})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.RecordConnectionTest(ctx, c.ID, HealthResult{At: time.Now().Add(time.Duration(i) * time.Millisecond),
				Outcome: HealthFailing, Step: "tcp", Summary: "Port accepts connections", RateLimitLeft: -1}, testActor)
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	evs, _, err := s.ListAudit(ctx, AuditQuery{ConfigID: c.ID, Action: ActionStartedFailing, Limit: 100})
	if err != nil || len(evs) != 1 {
		t.Errorf("%d started-failing entries (%v), want 1", len(evs), err)
	}
}

// One holder at a time: another takes the lease only once it has run out or been released.
func TestLease(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	now := time.Now().UTC()
	s.now = func() time.Time { return now }
	take := func(holder string) bool {
		t.Helper()
		ok, err := s.TakeLease(ctx, "recheck", holder, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !take("a") || take("b") || !take("a") {
		t.Fatal("a takes the lease, b cannot, a renews it")
	}
	now = now.Add(59 * time.Second)
	if take("b") {
		t.Error("b took a's lease before it ran out")
	}
	now = now.Add(2 * time.Minute)
	if !take("b") || take("a") {
		t.Error("b did not take the lease a let run out, or a took it back")
	}
	if err := s.ReleaseLease(ctx, "recheck", "a"); err != nil { // not a's: nothing happens
		t.Fatal(err)
	}
	if take("a") {
		t.Error("a released b's lease")
	}
	if err := s.ReleaseLease(ctx, "recheck", "b"); err != nil {
		t.Fatal(err)
	}
	if !take("a") {
		t.Error("a could not take the lease b released")
	}
}
