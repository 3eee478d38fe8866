package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func pushDelivery(configID int64, requestID string) Delivery {
	return Delivery{ConfigID: configID, RequestID: requestID, Event: "repo:refs_changed", Result: DeliveryAccepted, Status: 202, Reason: "build"}
}

func mustFeed(t *testing.T, s *Store, after int64, limit int) []Build {
	t.Helper()
	bs, err := s.BuildsAfter(context.Background(), after, limit)
	if err != nil {
		t.Fatal(err)
	}
	return bs
}

func seqs(bs []Build) []int64 {
	var out []int64
	for _, b := range bs {
		out = append(out, b.Seq)
	}
	return out
}

func TestBuildsFeedOldestFirstAcrossConfigurations(t *testing.T) {
	s := newTestStore(t)
	a := mustCreateSCM(t, s, bbServerConfig("ALGO"), nil)
	mustRegister(t, s, a.ID, "ALGO", "repo")
	b := mustCreateSCM(t, s, bbServerConfig("OTHER"), nil)
	mustRegister(t, s, b.ID, "ALGO", "repo")
	for i, c := range []SCMConfig{a, b, a} {
		mustRecord(t, s, pushDelivery(c.ID, fmt.Sprint("req-", i)), testBuild("repo", fmt.Sprintf("%040x", i)))
	}
	// A duplicate adds nothing to the feed.
	mustRecord(t, s, pushDelivery(a.ID, "req-0"), testBuild("repo", fmt.Sprintf("%040x", 0)))

	all := mustFeed(t, s, 0, 10)
	if len(all) != 3 {
		t.Fatalf("feed %+v, want 3 builds", all)
	}
	for i, want := range []SCMConfig{a, b, a} {
		got := all[i]
		if got.ConfigID != want.ID || got.ConfigRef != want.Ref || got.Commit != fmt.Sprintf("%040x", i) || got.Trigger != TriggerPush ||
			got.Actor != "jdoe" || got.Repository != "repo" {
			t.Errorf("build %d: %+v, want of %s with commit %040x", i, got, want.Ref, i)
		}
		if i > 0 && got.Seq <= all[i-1].Seq {
			t.Errorf("seqs not increasing: %v", seqs(all))
		}
	}
	// Paging by the last seq seen continues exactly after it.
	first := mustFeed(t, s, 0, 2)
	rest := mustFeed(t, s, first[len(first)-1].Seq, 2)
	if got := append(seqs(first), seqs(rest)...); !slices.Equal(got, seqs(all)) {
		t.Errorf("paged %v, want %v", got, seqs(all))
	}
	if got := mustFeed(t, s, all[2].Seq, 10); len(got) != 0 {
		t.Errorf("after the last: %+v, want none", got)
	}
}

// TestBuildsFeedNeverShowsABuildBehindTheCursor: a build whose transaction began first but
// commits later must not appear behind a follower's cursor. A transaction holds a taken seq
// open; another server records a build meanwhile; the follower reads; the first commits. With
// seqs from an identity column on PostgreSQL, the second build (id 2) commits first and the
// follower moves past 1, which appears afterwards behind it.
func TestBuildsFeedNeverShowsABuildBehindTheCursor(t *testing.T) {
	ctx := context.Background()
	first, dsn := newTestStoreDSN(t)
	c := mustCreateSCM(t, first, bbServerConfig("ALGO"), nil)
	mustRegister(t, first, c.ID, "ALGO", "repo")
	second := openTestStore(t, dsn, first.keys)
	follower := openTestStore(t, dsn, first.keys)

	sqlTx, err := first.w.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sqlTx.Rollback()
	tx := &wtx{Tx: sqlTx, s: first}
	slow := *testBuild("repo", "slow")
	slow.ConfigID, slow.RequestID = c.ID, "slow"
	if _, built, err := first.recordBuild(ctx, tx, slow, first.now()); err != nil || !built {
		t.Fatalf("recordBuild: %v %v", built, err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := second.RecordDelivery(ctx, pushDelivery(c.ID, "fast"), testBuild("repo", "fast"))
		done <- err
	}()
	var seen []Build
	select {
	case err := <-done: // the second server did not wait: what the follower sees must stay true
		if err != nil {
			t.Fatal(err)
		}
		seen = mustFeed(t, follower, 0, 10)
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	case <-time.After(300 * time.Millisecond):
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	all := mustFeed(t, follower, 0, 10)
	if len(all) != 2 || all[0].Commit != "slow" || all[1].Commit != "fast" || all[0].Seq >= all[1].Seq {
		t.Fatalf("feed %+v, want slow then fast: the order of commits", all)
	}
	if len(seen) > 0 {
		cursor := seen[len(seen)-1].Seq
		for _, b := range all {
			if b.Seq < cursor && !slices.Contains(seqs(seen), b.Seq) {
				t.Errorf("build %d (%s) appeared behind a follower's cursor %d", b.Seq, b.Commit, cursor)
			}
		}
	}
}

// TestBuildsFeedFollowedWhileServersWrite: several servers (stores on one database) record
// builds at once while a follower pages through the feed by its marker: it sees every
// build exactly once, in increasing order.
func TestBuildsFeedFollowedWhileServersWrite(t *testing.T) {
	ctx := context.Background()
	first, dsn := newTestStoreDSN(t)
	c := mustCreateSCM(t, first, bbServerConfig("ALGO"), nil)
	const servers, each = 4, 60
	for w := range servers {
		mustRegister(t, first, c.ID, "ALGO", fmt.Sprintf("repo-%d", w))
	}
	var wg sync.WaitGroup
	for w := range servers {
		st := first
		if w > 0 {
			st = openTestStore(t, dsn, first.keys)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if _, err := st.RecordDelivery(ctx, pushDelivery(c.ID, fmt.Sprintf("w%d-%d", w, i)),
					testBuild(fmt.Sprintf("repo-%d", w), fmt.Sprintf("%040d", i))); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	writing := make(chan struct{})
	go func() { wg.Wait(); close(writing) }()

	follower := openTestStore(t, dsn, first.keys)
	var cursor int64
	var got []Build
	for done := false; !done; {
		select {
		case <-writing:
			done = true // one more full read after the last commit
		default:
		}
		for {
			page := mustFeed(t, follower, cursor, 7)
			if len(page) == 0 {
				break
			}
			got = append(got, page...)
			cursor = page[len(page)-1].Seq
		}
	}
	if len(got) != servers*each {
		t.Errorf("the follower saw %d builds, want %d", len(got), servers*each)
	}
	seen := map[string]bool{}
	for i, b := range got {
		key := b.Repository + "@" + b.Commit
		if seen[key] {
			t.Errorf("%s seen twice", key)
		}
		seen[key] = true
		if i > 0 && b.Seq <= got[i-1].Seq {
			t.Fatalf("seq %d after %d", b.Seq, got[i-1].Seq)
		}
	}
}

func TestBuildHookQueuesOnlyWhileStarted(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	c := mustCreateSCM(t, s, bbServerConfig("ALGO"), nil)
	mustRegister(t, s, c.ID, "ALGO", "repo")
	mustRecord(t, s, pushDelivery(c.ID, "before"), testBuild("repo", "before"))
	if n := countRows(t, s, "build_hook_outbox"); n != 0 {
		t.Fatalf("%d builds queued without a build hook, want none", n)
	}
	wake, err := s.StartBuildHook(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mustRecord(t, s, pushDelivery(c.ID, "after"), testBuild("repo", "after"))
	select {
	case <-wake:
	default:
		t.Error("recording a build did not wake the hook's worker")
	}
	// A duplicate queues nothing and wakes nobody.
	mustRecord(t, s, pushDelivery(c.ID, "after"), testBuild("repo", "after"))
	select {
	case <-wake:
		t.Error("a duplicate woke the hook's worker")
	default:
	}
	st, err := s.BuildHookStatus(ctx, c.ID)
	if err != nil || st.Pending != 1 || st.Failures != 0 || !st.FailedAt.IsZero() {
		t.Errorf("status %+v %v, want 1 pending and no failure", st, err)
	}
	now := time.Now()
	claimed, _, err := s.ClaimBuildHooks(ctx, "me", now, now.Add(time.Minute), 10)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claimed %+v %v", claimed, err)
	}
	feed := mustFeed(t, s, 0, 10)
	want := feed[1]
	got := claimed[0]
	if got.Seq != want.Seq || got.ID != want.ID || got.ConfigRef != c.Ref || got.Commit != "after" || got.Trigger != TriggerPush ||
		got.Actor != "jdoe" || !got.CreatedAt.Equal(want.CreatedAt) || got.Attempts != 0 {
		t.Errorf("claimed %+v, want the feed's %+v", got, want)
	}
}

func TestBuildHookDeliversEachConfigurationInOrder(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	start := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	clk := withClock(s, start)
	if _, err := s.StartBuildHook(ctx); err != nil {
		t.Fatal(err)
	}
	a := mustCreateSCM(t, s, bbServerConfig("ALGO"), nil)
	mustRegister(t, s, a.ID, "ALGO", "repo")
	b := mustCreateSCM(t, s, bbServerConfig("OTHER"), nil)
	mustRegister(t, s, b.ID, "ALGO", "repo")
	for i := range 3 {
		for _, c := range []SCMConfig{a, b} {
			mustRecord(t, s, pushDelivery(c.ID, fmt.Sprintf("%d-%d", c.ID, i)), testBuild("repo", fmt.Sprint(i)))
		}
	}
	claim := func(owner string, at time.Time) ([]HookDelivery, time.Time) {
		t.Helper()
		got, next, err := s.ClaimBuildHooks(ctx, owner, at, at.Add(30*time.Second), 10)
		if err != nil {
			t.Fatal(err)
		}
		return got, next
	}
	commits := func(hs []HookDelivery) []string {
		var out []string
		for _, h := range hs {
			out = append(out, h.ConfigRef+":"+h.Commit)
		}
		return out
	}
	heads, _ := claim("me", start)
	if got := commits(heads); !slices.Equal(got, []string{a.Ref + ":0", b.Ref + ":0"}) {
		t.Fatalf("first claim %v, want each configuration's oldest", got)
	}
	if again, _ := claim("other", start); len(again) != 0 {
		t.Errorf("claimed again while leased: %v", commits(again))
	}
	// a's first is taken: its second comes next. b's first fails: nothing of b before it.
	if _, err := s.SettleBuildHooks(ctx, "me", HookOutcome{Delivered: []int64{heads[0].Seq}}, time.Time{}, time.Time{}, 0); err != nil {
		t.Fatal(err)
	}
	retry := start.Add(4 * time.Second)
	clk.set(start.Add(time.Second))
	if _, err := s.SettleBuildHooks(ctx, "me", HookOutcome{Failed: heads[1].Seq, Status: 503, Reason: "503 Service Unavailable: down for maintenance",
		RetryAt: retry}, time.Time{}, time.Time{}, 0); err != nil {
		t.Fatal(err)
	}
	next, due := claim("me", start.Add(time.Second))
	if got := commits(next); !slices.Equal(got, []string{a.Ref + ":1"}) {
		t.Errorf("claim after one delivered and one failed: %v, want only %s:1", got, a.Ref)
	}
	if !due.Equal(retry) {
		t.Errorf("next due %s, want the retry at %s", due, retry)
	}
	st, err := s.BuildHookStatus(ctx, b.ID)
	if err != nil || st.Pending != 3 || st.Failures != 1 || !st.FailedAt.Equal(start.Add(time.Second)) || st.LastStatus != 503 ||
		st.LastReason != "503 Service Unavailable: down for maintenance" {
		t.Errorf("b's status %+v %v", st, err)
	}
	if st, err := s.BuildHookStatus(ctx, a.ID); err != nil || st.Pending != 2 || st.Failures != 0 {
		t.Errorf("a's status %+v %v", st, err)
	}
	if tot, err := s.BuildHookTotals(ctx); err != nil || tot.Pending != 5 || tot.Failures != 1 || tot.LastStatus != 503 {
		t.Errorf("totals %+v %v", tot, err)
	}
	later, _ := claim("me", retry)
	if got := commits(later); !slices.Equal(got, []string{b.Ref + ":0"}) || later[0].Attempts != 1 {
		t.Errorf("claim at the retry: %v (%+v), want %s:0 on its second attempt", got, later, b.Ref)
	}
}

func TestBuildHookLeaseRunsOut(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	if _, err := s.StartBuildHook(ctx); err != nil {
		t.Fatal(err)
	}
	c := mustCreateSCM(t, s, bbServerConfig("ALGO"), nil)
	mustRegister(t, s, c.ID, "ALGO", "repo")
	mustRecord(t, s, pushDelivery(c.ID, "r"), testBuild("repo", "c"))
	now := time.Now()
	mine, _, err := s.ClaimBuildHooks(ctx, "dead", now, now.Add(30*time.Second), 10)
	if err != nil || len(mine) != 1 {
		t.Fatalf("claim: %v %v", mine, err)
	}
	theirs, _, err := s.ClaimBuildHooks(ctx, "alive", now.Add(31*time.Second), now.Add(61*time.Second), 10)
	if err != nil || len(theirs) != 1 || theirs[0].Seq != mine[0].Seq {
		t.Fatalf("claim after the lease ran out: %v %v", theirs, err)
	}
	if _, err := s.SettleBuildHooks(ctx, "dead", HookOutcome{Delivered: []int64{mine[0].Seq}}, time.Time{}, time.Time{}, 0); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("delivered by the server whose lease ran out: %v, want ErrLeaseLost", err)
	}
	if _, err := s.SettleBuildHooks(ctx, "dead", HookOutcome{Failed: mine[0].Seq, Reason: "x", RetryAt: now}, time.Time{}, time.Time{}, 0); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("failed by the server whose lease ran out: %v, want ErrLeaseLost", err)
	}
	if _, err := s.SettleBuildHooks(ctx, "alive", HookOutcome{Delivered: []int64{theirs[0].Seq}}, time.Time{}, time.Time{}, 0); err != nil {
		t.Error(err)
	}
	if n := countRows(t, s, "build_hook_outbox"); n != 0 {
		t.Errorf("%d rows left in the outbox", n)
	}
}

// TestBuildHookServersNeverDeliverTheSameBuildAtOnce: several servers claim from one outbox
// at once; every build is claimed by one of them, and each configuration's in its order.
func TestBuildHookServersNeverDeliverTheSameBuildAtOnce(t *testing.T) {
	ctx := context.Background()
	first, dsn := newTestStoreDSN(t)
	if _, err := first.StartBuildHook(ctx); err != nil {
		t.Fatal(err)
	}
	const configs, each, servers = 3, 20, 3
	for k := range configs {
		c := mustCreateSCM(t, first, bbServerConfig(fmt.Sprint("K", k)), nil)
		mustRegister(t, first, c.ID, "ALGO", "repo")
		for i := range each {
			mustRecord(t, first, pushDelivery(c.ID, fmt.Sprint(i)), testBuild("repo", fmt.Sprintf("%03d", i)))
		}
	}
	var mu sync.Mutex
	delivered := map[int64][]string{} // by configuration, in the order delivered
	var wg sync.WaitGroup
	for w := range servers {
		st := first
		if w > 0 {
			st = openTestStore(t, dsn, first.keys)
		}
		owner := fmt.Sprint("server-", w)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for idle := 0; idle < 20; {
				now := time.Now()
				got, _, err := st.ClaimBuildHooks(ctx, owner, now, now.Add(time.Minute), 2)
				if err != nil {
					t.Error(err)
					return
				}
				if len(got) == 0 {
					idle++
					time.Sleep(5 * time.Millisecond)
					continue
				}
				for _, h := range got { // each head, then its configuration's next builds in runs
					for run := []HookDelivery{h}; len(run) > 0; {
						mu.Lock()
						for _, d := range run {
							delivered[d.ConfigID] = append(delivered[d.ConfigID], d.Commit)
						}
						mu.Unlock()
						now := time.Now()
						if run, err = st.SettleBuildHooks(ctx, owner, HookOutcome{Delivered: seqsOf(run)}, now, now.Add(time.Minute), 4); err != nil {
							t.Error(err)
						}
					}
				}
			}
		}()
	}
	wg.Wait()
	if len(delivered) != configs {
		t.Fatalf("delivered for %d configurations, want %d", len(delivered), configs)
	}
	for id, commits := range delivered {
		if len(commits) != each || !slices.IsSorted(commits) {
			t.Errorf("configuration %d: delivered %v, want %d once each, in order", id, commits, each)
		}
	}
}

// TestPruneKeepsTheLatest: pruneHistories, called often enough, keeps exactly a
// configuration's latest KeptDeliveries deliveries, and the other configurations' all.
func TestPruneKeepsTheLatest(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t)
	c := mustCreateSCM(t, s, bbServerConfig("ALGO"), nil)
	other := mustCreateSCM(t, s, bbServerConfig("OTHER"), nil)
	const extra = 30
	err := s.inTx(ctx, func(tx *wtx) error {
		for i := range KeptDeliveries + extra {
			for _, cfg := range []SCMConfig{c, other} {
				if cfg.ID == other.ID && i >= extra {
					continue
				}
				if _, err := tx.ExecContext(ctx, `INSERT INTO webhook_deliveries (config_id, request_id, event, result, status, reason, received_at)
					VALUES (?, ?, 'e', 'ignored', 202, 'r', ?)`, cfg.ID, fmt.Sprint(i), time.Now().UTC()); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for range 10 * pruneOneIn { // all calls but about one in pruneOneIn leave the rows alone
		s.pruneHistories(ctx, c.ID)
	}
	ds := mustDeliveries(t, s, c.ID, 2*KeptDeliveries)
	if len(ds) != KeptDeliveries || ds[0].RequestID != fmt.Sprint(KeptDeliveries+extra-1) || ds[len(ds)-1].RequestID != fmt.Sprint(extra) {
		t.Errorf("after pruning: %d deliveries (%v…%v), want the latest %d", len(ds), ds[0].RequestID, ds[len(ds)-1].RequestID, KeptDeliveries)
	}
	if n := len(mustDeliveries(t, s, other.ID, 100)); n != extra {
		t.Errorf("the other configuration keeps %d deliveries, want its %d", n, extra)
	}
}

// TestBuildHookSettledClaimsTheNextRun: recording builds delivered claims, in the same
// transaction, a run of their configuration's next ones, in order, up to the first another
// server holds; builds the same server still holds are claimed again.
func TestBuildHookSettledClaimsTheNextRun(t *testing.T) {
	ctx := context.Background()
	s, _ := newHookBacklog(t, 6)
	commits := func(hs []HookDelivery) string {
		var out []string
		for _, h := range hs {
			out = append(out, h.Commit)
		}
		return strings.Join(out, ",")
	}
	now := time.Now()
	lease := now.Add(time.Minute)
	heads, _, err := s.ClaimBuildHooks(ctx, "me", now, lease, 10)
	if err != nil || commits(heads) != "0" {
		t.Fatalf("claim: %v %v, want the head alone", commits(heads), err)
	}
	run, err := s.SettleBuildHooks(ctx, "me", HookOutcome{Delivered: seqsOf(heads)}, now, lease, 3)
	if err != nil || commits(run) != "1,2,3" || !run[0].LeaseUntil.Equal(lease) {
		t.Fatalf("delivered the first: next run %v %v, want 1,2,3 claimed until %s", commits(run), err, lease)
	}
	if again, _, _ := s.ClaimBuildHooks(ctx, "other", now, lease, 10); len(again) != 0 {
		t.Errorf("another server claimed %v while the run is held", commits(again))
	}
	// Another server holds 5: the run ends before it; 2 and 3, still mine, are claimed again.
	if _, err := s.exec(ctx, `UPDATE build_hook_outbox SET leased_by = 'other', lease_until = ? WHERE seq = ?`,
		lease.UTC(), mustFeed(t, s, 0, 10)[5].Seq); err != nil {
		t.Fatal(err)
	}
	run, err = s.SettleBuildHooks(ctx, "me", HookOutcome{Delivered: seqsOf(run[:1])}, now, lease, 10)
	if err != nil || commits(run) != "2,3,4" {
		t.Fatalf("delivered 1: next run %v %v, want 2,3,4 (5 is another server's)", commits(run), err)
	}
	// Stopping: delivered, and nothing more claimed.
	if last, err := s.SettleBuildHooks(ctx, "me", HookOutcome{Delivered: seqsOf(run)}, time.Time{}, time.Time{}, 0); err != nil || last != nil {
		t.Fatalf("delivered 2,3,4, claiming nothing: %v %v", commits(last), err)
	}
	fifth := mustFeed(t, s, 0, 10)[5].Seq
	if _, err := s.SettleBuildHooks(ctx, "me", HookOutcome{Released: []int64{fifth}}, now, lease, 0); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("released another server's build: %v, want ErrLeaseLost", err)
	}
	if _, err := s.SettleBuildHooks(ctx, "other", HookOutcome{Released: []int64{fifth}}, now, lease, 0); err != nil {
		t.Fatal(err)
	}
	if last, _, err := s.ClaimBuildHooks(ctx, "me", now, lease, 10); err != nil || commits(last) != "5" {
		t.Errorf("after it was released: claimed %v %v, want 5", commits(last), err)
	}
}

func seqsOf(hs []HookDelivery) []int64 {
	out := make([]int64, len(hs))
	for i, h := range hs {
		out[i] = h.Seq
	}
	return out
}

// A run's outcome is recorded in one transaction: when another server took over one of its
// builds, nothing of it is; otherwise the delivered ones go, the failed one waits for its
// retry and nothing after it is claimed, the rest is given back.
func TestBuildHookSettleIsOneTransaction(t *testing.T) {
	ctx := context.Background()
	s, c := newHookBacklog(t, 4)
	now := time.Now()
	lease, retry := now.Add(time.Minute), now.Add(time.Hour)
	heads, _, err := s.ClaimBuildHooks(ctx, "me", now, lease, 10)
	if err != nil || len(heads) != 1 {
		t.Fatalf("claim: %v %v", heads, err)
	}
	run, err := s.SettleBuildHooks(ctx, "me", HookOutcome{Delivered: seqsOf(heads)}, now, lease, 3)
	if err != nil || len(run) != 3 {
		t.Fatalf("the next run: %v %v", run, err)
	}
	outcome := HookOutcome{Delivered: seqsOf(run[:1]), Failed: run[1].Seq, Status: 503, Reason: "down", RetryAt: retry,
		Released: seqsOf(run[2:])}
	if _, err := s.exec(ctx, `UPDATE build_hook_outbox SET leased_by = 'other' WHERE seq = ?`, run[2].Seq); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SettleBuildHooks(ctx, "me", outcome, now, lease, 16); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("settled with a build another server holds: %v, want ErrLeaseLost", err)
	}
	if st, _ := s.BuildHookStatus(ctx, c.ID); st.Pending != 3 || st.Failures != 0 {
		t.Errorf("after the refused record: %+v, want the 3 builds waiting and no failure", st)
	}
	if _, err := s.exec(ctx, `UPDATE build_hook_outbox SET leased_by = 'me' WHERE seq = ?`, run[2].Seq); err != nil {
		t.Fatal(err)
	}
	next, err := s.SettleBuildHooks(ctx, "me", outcome, now, lease, 16)
	if err != nil || len(next) != 0 {
		t.Fatalf("settled with a failure: claimed %v %v, want nothing after the failed build", next, err)
	}
	if st, _ := s.BuildHookStatus(ctx, c.ID); st.Pending != 2 || st.Failures != 1 || st.LastStatus != 503 {
		t.Errorf("after the record: %+v, want 2 waiting and the 503", st)
	}
	if got, _, err := s.ClaimBuildHooks(ctx, "other", now, lease, 10); err != nil || len(got) != 0 {
		t.Errorf("claimed %v %v before the failed build's retry, want nothing", got, err)
	}
	if got, _, err := s.ClaimBuildHooks(ctx, "other", retry, retry.Add(time.Minute), 10); err != nil || len(got) != 1 || got[0].Seq != run[1].Seq || got[0].Attempts != 1 {
		t.Errorf("claimed %+v %v at the retry, want the failed build on its second attempt", got, err)
	}
}

// newHookBacklog is a store with the build hook on and one configuration whose n builds, of
// commits "0", "1", …, wait in the outbox.
func newHookBacklog(t *testing.T, n int) (*Store, SCMConfig) {
	t.Helper()
	s := newTestStore(t)
	if _, err := s.StartBuildHook(context.Background()); err != nil {
		t.Fatal(err)
	}
	c := mustCreateSCM(t, s, bbServerConfig("ALGO"), nil)
	mustRegister(t, s, c.ID, "ALGO", "repo")
	for i := range n {
		mustRecord(t, s, pushDelivery(c.ID, fmt.Sprint("req-", i)), testBuild("repo", fmt.Sprint(i)))
	}
	return s, c
}
