package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a settable time for the store.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// withClock makes s tell time by a clock starting at start.
func withClock(s *Store, start time.Time) *clock {
	c := &clock{t: start}
	s.now = c.now
	return c
}

func testBuild(repo, commit string) *Build {
	return &Build{ProjectKey: "ALGO", Repository: repo, Commit: commit, Actor: "jdoe",
		PushedAt: time.Date(2026, 11, 20, 14, 3, 11, 0, time.UTC)}
}

// mustRegister registers OWNER/name in configuration configID, as the platform does.
func mustRegister(t *testing.T, s *Store, configID int64, owner, name string) {
	t.Helper()
	if _, err := s.RegisterRepository(context.Background(), Repository{ConfigID: configID, Owner: owner, Name: name}, testActor); err != nil {
		t.Fatal(err)
	}
}

func mustRecord(t *testing.T, s *Store, d Delivery, b *Build) Delivery {
	t.Helper()
	got, err := s.RecordDelivery(context.Background(), d, b)
	if err != nil {
		t.Fatalf("RecordDelivery(%+v): %v", d, err)
	}
	return got
}

func mustDeliveries(t *testing.T, s *Store, id int64, limit int) []Delivery {
	t.Helper()
	ds, err := s.Deliveries(context.Background(), id, limit)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func mustBuilds(t *testing.T, s *Store, id int64, limit int) []Build {
	t.Helper()
	bs, err := s.Builds(context.Background(), id, limit)
	if err != nil {
		t.Fatal(err)
	}
	return bs
}

func mustRepos(t *testing.T, s *Store, id int64) int {
	t.Helper()
	c, err := s.SCMConfig(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return c.Repositories
}

func TestRecordDeliveryWithBuild(t *testing.T) {
	s := newTestStore(t)
	at := time.Date(2026, 11, 20, 14, 3, 30, 0, time.UTC)
	withClock(s, at)
	c := mustCreateSCM(t, s, bbServerConfig("ALGO"), map[string]string{"access_token": "tok", WebhookSecret: "whsec"})
	mustRegister(t, s, c.ID, "ALGO", "sentiment-analysis")

	b := testBuild("sentiment-analysis", "9e4d2c1b0a8f7e6d5c4b3a29181716151413121f")
	// A push time in another zone is the same instant.
	b.PushedAt = b.PushedAt.In(time.FixedZone("+0230", 150*60))
	d := mustRecord(t, s, Delivery{ConfigID: c.ID, RequestID: "req-1", Event: "repo:refs_changed",
		Result: DeliveryAccepted, Status: 202, Reason: "build of ALGO/sentiment-analysis"}, b)
	if d.ID == 0 || d.Result != DeliveryAccepted || !d.ReceivedAt.Equal(at) {
		t.Errorf("recorded %+v, want an id, accepted, received at %s", d, at)
	}

	ds := mustDeliveries(t, s, c.ID, 10)
	if len(ds) != 1 {
		t.Fatalf("%d deliveries, want 1", len(ds))
	}
	want := Delivery{ID: d.ID, ConfigID: c.ID, RequestID: "req-1", Event: "repo:refs_changed", Result: DeliveryAccepted,
		Status: 202, Reason: "build of ALGO/sentiment-analysis"}
	got := ds[0]
	if !got.ReceivedAt.Equal(at) {
		t.Errorf("ReceivedAt %s, want %s", got.ReceivedAt, at)
	}
	got.ReceivedAt = time.Time{}
	if got != want {
		t.Errorf("delivery %+v, want %+v", got, want)
	}

	bs := mustBuilds(t, s, c.ID, 10)
	if len(bs) != 1 {
		t.Fatalf("%d builds, want 1", len(bs))
	}
	gb := bs[0]
	if gb.ID == 0 || gb.ConfigID != c.ID || gb.RequestID != "req-1" || gb.ProjectKey != "ALGO" || gb.Repository != "sentiment-analysis" ||
		gb.Commit != b.Commit || gb.Actor != "jdoe" || gb.Trigger != TriggerPush || !gb.PushedAt.Equal(b.PushedAt) || !gb.CreatedAt.Equal(at) {
		t.Errorf("build %+v, want %+v created at %s", gb, *b, at)
	}
	if n := mustRepos(t, s, c.ID); n != 1 {
		t.Errorf("RepositoryCount %d, want 1", n)
	}
}

func TestRecordDeliverySameRequestIDIsADuplicate(t *testing.T) {
	s := newTestStore(t)
	c := mustCreateSCM(t, s, bbServerConfig("ALGO"), nil)
	mustRegister(t, s, c.ID, "ALGO", "repo")
	d := Delivery{ConfigID: c.ID, RequestID: "req-1", Event: "repo:refs_changed", Result: DeliveryAccepted, Status: 202, Reason: "build"}
	mustRecord(t, s, d, testBuild("repo", strings.Repeat("a", 40)))
	// Even if the second delivery's body differed, the request id decides.
	again := mustRecord(t, s, d, testBuild("repo", strings.Repeat("b", 40)))
	if again.Result != DeliveryDuplicate || again.Reason == "" || again.Status != 202 {
		t.Errorf("redelivery recorded as %+v, want duplicate with a reason", again)
	}
	bs := mustBuilds(t, s, c.ID, 10)
	if len(bs) != 1 || bs[0].Commit != strings.Repeat("a", 40) {
		t.Errorf("builds %+v, want only the first", bs)
	}
	ds := mustDeliveries(t, s, c.ID, 10)
	if len(ds) != 2 || ds[0].Result != DeliveryDuplicate || ds[1].Result != DeliveryAccepted {
		t.Errorf("deliveries %+v, want duplicate then accepted (newest first)", ds)
	}

	// Without a request id there is nothing to recognise a redelivery by: each push counts.
	d.RequestID = ""
	mustRecord(t, s, d, testBuild("repo", strings.Repeat("c", 40)))
	mustRecord(t, s, d, testBuild("repo", strings.Repeat("d", 40)))
	if n := len(mustBuilds(t, s, c.ID, 10)); n != 3 {
		t.Errorf("%d builds, want 3 (two without a request id)", n)
	}

	// The same request id at another configuration is another delivery.
	other := mustCreateSCM(t, s, bbServerConfig("OTHER"), nil)
	mustRegister(t, s, other.ID, "ALGO", "repo")
	d.ConfigID, d.RequestID = other.ID, "req-1"
	if got := mustRecord(t, s, d, testBuild("repo", strings.Repeat("e", 40))); got.Result != DeliveryAccepted {
		t.Errorf("req-1 at configuration %d recorded as %s, want accepted", other.ID, got.Result)
	}
	if n := mustRepos(t, s, c.ID); n != 1 {
		t.Errorf("RepositoryCount %d, want 1", n)
	}
}

func TestRecordDeliveryWithoutBuild(t *testing.T) {
	s := newTestStore(t)
	c := mustCreateSCM(t, s, bbServerConfig("ALGO"), nil)
	for i, d := range []Delivery{
		{RequestID: "r1", Event: "repo:refs_changed", Result: DeliveryIgnored, Status: 202, Reason: "no push to master: refs/heads/dev UPDATE"},
		{RequestID: "r1", Event: "repo:refs_changed", Result: DeliveryIgnored, Status: 202, Reason: "same id again, still ignored"},
		{RequestID: "r2", Event: "repo:refs_changed", Result: DeliveryRefused, Status: 409, Reason: "the configuration is disabled"},
	} {
		d.ConfigID = c.ID
		if got := mustRecord(t, s, d, nil); got.Result != d.Result || got.Reason != d.Reason {
			t.Errorf("delivery %d recorded as %+v, want %s", i, got, d.Result)
		}
	}
	if n := len(mustDeliveries(t, s, c.ID, 10)); n != 3 {
		t.Errorf("%d deliveries, want 3", n)
	}
	if bs := mustBuilds(t, s, c.ID, 10); len(bs) != 0 {
		t.Errorf("builds %+v, want none", bs)
	}
	if n := mustRepos(t, s, c.ID); n != 0 {
		t.Errorf("RepositoryCount %d, want 0", n)
	}
	// A delivery to no configuration is refused by the database.
	if _, err := s.RecordDelivery(context.Background(), Delivery{ConfigID: 4242, Result: DeliveryIgnored, Reason: "x"}, nil); err == nil {
		t.Error("a delivery to configuration 4242, which does not exist, was recorded")
	}
}

func TestDeliveriesAndBuildsNewestFirst(t *testing.T) {
	s := newTestStore(t)
	clk := withClock(s, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	a := mustCreateSCM(t, s, bbServerConfig("ALGO"), nil)
	b := mustCreateSCM(t, s, bbServerConfig("OTHER"), nil)
	for i := range 3 {
		mustRegister(t, s, a.ID, "ALGO", fmt.Sprintf("repo-%d", i))
	}
	for i := range 15 {
		clk.set(time.Date(2026, 1, 1, 0, i, 0, 0, time.UTC))
		mustRecord(t, s, Delivery{ConfigID: a.ID, RequestID: fmt.Sprintf("a-%02d", i), Result: DeliveryAccepted, Status: 202, Reason: "build"},
			testBuild(fmt.Sprintf("repo-%d", i%3), fmt.Sprintf("%040d", i)))
	}
	mustRecord(t, s, Delivery{ConfigID: b.ID, RequestID: "b-0", Result: DeliveryIgnored, Status: 202, Reason: "ignored"}, nil)

	ds := mustDeliveries(t, s, a.ID, 10)
	if len(ds) != 10 {
		t.Fatalf("%d deliveries with limit 10", len(ds))
	}
	for i, d := range ds {
		if want := fmt.Sprintf("a-%02d", 14-i); d.RequestID != want || d.ConfigID != a.ID {
			t.Errorf("delivery %d is %s of %d, want %s of %d", i, d.RequestID, d.ConfigID, want, a.ID)
		}
	}
	bs := mustBuilds(t, s, a.ID, 5)
	if len(bs) != 5 {
		t.Fatalf("%d builds with limit 5", len(bs))
	}
	for i, bd := range bs {
		if want := fmt.Sprintf("%040d", 14-i); bd.Commit != want {
			t.Errorf("build %d is of %s, want %s", i, bd.Commit, want)
		}
	}
	if n := mustRepos(t, s, a.ID); n != 3 {
		t.Errorf("RepositoryCount %d, want 3 (repo-0, repo-1, repo-2)", n)
	}
	if ds := mustDeliveries(t, s, b.ID, 10); len(ds) != 1 || ds[0].RequestID != "b-0" {
		t.Errorf("other configuration's deliveries %+v", ds)
	}
	if bs := mustBuilds(t, s, b.ID, 10); len(bs) != 0 {
		t.Errorf("other configuration's builds %+v", bs)
	}
	if ds := mustDeliveries(t, s, 4242, 10); len(ds) != 0 {
		t.Errorf("deliveries of a configuration that does not exist: %+v", ds)
	}
}

func TestRecordDeliveryConcurrently(t *testing.T) {
	s := newTestStore(t)
	c := mustCreateSCM(t, s, bbServerConfig("ALGO"), nil)
	mustRegister(t, s, c.ID, "ALGO", "repo")
	const n = 40
	var wg sync.WaitGroup
	results := make(chan string, 2*n)
	for i := range n {
		wg.Add(2)
		go func() { // distinct pushes
			defer wg.Done()
			d, err := s.RecordDelivery(context.Background(), Delivery{ConfigID: c.ID, RequestID: fmt.Sprintf("distinct-%d", i),
				Result: DeliveryAccepted, Status: 202, Reason: "build"}, testBuild("repo", fmt.Sprintf("%040d", i)))
			if err != nil {
				t.Error(err)
			}
			results <- "distinct " + d.Result
		}()
		go func() { // one push delivered n times
			defer wg.Done()
			d, err := s.RecordDelivery(context.Background(), Delivery{ConfigID: c.ID, RequestID: "same",
				Result: DeliveryAccepted, Status: 202, Reason: "build"}, testBuild("repo", strings.Repeat("f", 40)))
			if err != nil {
				t.Error(err)
			}
			results <- "same " + d.Result
		}()
	}
	wg.Wait()
	close(results)
	count := map[string]int{}
	for r := range results {
		count[r]++
	}
	if count["distinct accepted"] != n || count["same accepted"] != 1 || count["same duplicate"] != n-1 {
		t.Errorf("results %v, want %d distinct accepted, 1 same accepted, %d same duplicate", count, n, n-1)
	}
	if got := len(mustBuilds(t, s, c.ID, 1000)); got != n+1 {
		t.Errorf("%d builds, want %d", got, n+1)
	}
	if got := len(mustDeliveries(t, s, c.ID, 1000)); got != 2*n {
		t.Errorf("%d deliveries, want %d", got, 2*n)
	}
}

func TestWebhookFailuresAndInstallation(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	at := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	withClock(s, at)
	c := mustCreateSCM(t, s, bbServerConfig("ALGO"), map[string]string{"access_token": "tok", WebhookSecret: "whsec-installed"})
	other := mustCreateSCM(t, s, bbServerConfig("OTHER"), nil)

	ws, err := s.WebhookStatus(ctx, c.ID)
	if err != nil || ws.Failures != 0 || !ws.InstalledAt.IsZero() {
		t.Fatalf("fresh WebhookStatus %+v, %v; want no failures, never installed", ws, err)
	}
	for range 3 {
		if err := s.CountWebhookFailure(ctx, c.ID); err != nil {
			t.Fatal(err)
		}
	}
	if ws, _ := s.WebhookStatus(ctx, c.ID); ws.Failures != 3 {
		t.Errorf("failures %d, want 3", ws.Failures)
	}
	if ws, _ := s.WebhookStatus(ctx, other.ID); ws.Failures != 0 {
		t.Errorf("another configuration's failures %d, want 0", ws.Failures)
	}
	// Failures are counted, not recorded.
	if n := countRows(t, s, "webhook_deliveries"); n != 0 {
		t.Errorf("%d deliveries recorded by CountWebhookFailure", n)
	}

	if err := s.RecordWebhookInstalled(ctx, c.ID, testActor); err != nil {
		t.Fatal(err)
	}
	if ws, _ := s.WebhookStatus(ctx, c.ID); !ws.InstalledAt.Equal(at) || ws.Failures != 3 {
		t.Errorf("after install %+v, want installed at %s", ws, at)
	}
	evs, _, err := s.ListAudit(ctx, AuditQuery{ConfigID: c.ID, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) == 0 || evs[0].Action != ActionInstallWebhook || evs[0].Actor.Username != testActor.Username || evs[0].ConfigID != c.ID {
		t.Errorf("newest audit event %+v, want install_webhook by %s", evs, testActor.Username)
	}

	if err := s.RecordWebhookInstalled(ctx, 4242, testActor); !errors.Is(err, ErrNotFound) {
		t.Errorf("RecordWebhookInstalled(4242) = %v, want ErrNotFound", err)
	}
	if _, err := s.WebhookStatus(ctx, 4242); err == nil {
		t.Error("WebhookStatus of a configuration that does not exist succeeded")
	}
}

func TestRotateWebhookSecret(t *testing.T) {
	s, path := newTestStoreDSN(t)
	ctx := context.Background()
	t0 := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	clk := withClock(s, t0)
	const first, second, third = "whsec-FIRST-0123456789", "whsec-SECOND-0123456789", "whsec-THIRD-0123456789"
	c := mustCreateSCM(t, s, bbServerConfig("ALGO"), map[string]string{"access_token": "tok", WebhookSecret: first})

	t1 := t0.Add(3 * time.Hour)
	clk.set(t1)
	if err := s.RotateWebhookSecret(ctx, c.ID, second, testActor); err != nil {
		t.Fatal(err)
	}
	plain, err := s.OpenSecrets(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if plain[WebhookSecret] != second || plain[WebhookSecretPrevious] != first || plain["access_token"] != "tok" {
		t.Errorf("after the rotation: current %q, previous %q, token %q", plain[WebhookSecret], plain[WebhookSecretPrevious], plain["access_token"])
	}
	infos, err := s.SCMSecrets(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	// The previous secret's set_at is the rotation's time: its grace ends WebhookGrace later.
	if got := infos[WebhookSecretPrevious]; !got.SetAt.Equal(t1) || got.Fingerprint != Fingerprint(first) {
		t.Errorf("previous secret %+v, want set at the rotation %s with the first secret's fingerprint", got, t1)
	}
	if got := infos[WebhookSecret]; !got.SetAt.Equal(t1) || got.Fingerprint != Fingerprint(second) {
		t.Errorf("current secret %+v, want set at %s with the second secret's fingerprint", got, t1)
	}
	if got := infos["access_token"]; !got.SetAt.Equal(t0) {
		t.Errorf("the access token's set_at moved to %s", got.SetAt)
	}
	if WebhookGrace != 24*time.Hour {
		t.Errorf("WebhookGrace = %s, want 24h", WebhookGrace)
	}
	// The previous secret is sealed under its own name: its ciphertext cannot pass for the current one.
	keyID, sealed := secretRow(t, s, c.ID, WebhookSecretPrevious)
	if _, err := s.keys.Open(keyID, sealed, secretAD(c.ID, WebhookSecret)); err == nil {
		t.Error("the previous secret opens as the current one")
	}

	evs, _, err := s.ListAudit(ctx, AuditQuery{ConfigID: c.ID, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) == 0 || evs[0].Action != ActionRotateWebhookSecret || len(evs[0].Changes) != 1 ||
		evs[0].Changes[0] != (Change{Field: WebhookSecret, To: SecretChanged}) {
		t.Errorf("newest audit event %+v, want rotate_webhook_secret with webhook_secret changed", evs[0])
	}

	// A second rotation within the first's grace: the second secret is in grace now, and the
	// first stays in its own (the host may not have been given the second), until t1+grace.
	t2 := t1.Add(time.Hour)
	clk.set(t2)
	if err := s.RotateWebhookSecret(ctx, c.ID, third, testActor); err != nil {
		t.Fatal(err)
	}
	plain, _ = s.OpenSecrets(ctx, c.ID)
	if plain[WebhookSecret] != third || plain[WebhookSecretPrevious] != second || plain[WebhookSecretOlder] != first || len(plain) != 4 {
		t.Errorf("after the second rotation: %d secrets, current is third: %v, previous is second: %v, older is first: %v",
			len(plain), plain[WebhookSecret] == third, plain[WebhookSecretPrevious] == second, plain[WebhookSecretOlder] == first)
	}
	infos, _ = s.SCMSecrets(ctx, c.ID)
	if !infos[WebhookSecretPrevious].SetAt.Equal(t2) || !infos[WebhookSecretOlder].SetAt.Equal(t1) {
		t.Errorf("previous secret set at %s, older at %s; want the second rotation %s and the first %s",
			infos[WebhookSecretPrevious].SetAt, infos[WebhookSecretOlder].SetAt, t2, t1)
	}
	// A third, once the second's grace is over: the second is dropped, not kept as the older.
	t3 := t2.Add(WebhookGrace + time.Minute)
	clk.set(t3)
	if err := s.RotateWebhookSecret(ctx, c.ID, "whsec-FOURTH-0123456789", testActor); err != nil {
		t.Fatal(err)
	}
	plain, _ = s.OpenSecrets(ctx, c.ID)
	if _, older := plain[WebhookSecretOlder]; plain[WebhookSecretPrevious] != third || older {
		t.Errorf("after a rotation past the grace: previous is third: %v, an older one kept: %v; want true, false",
			plain[WebhookSecretPrevious] == third, older)
	}

	// Nothing in plain text: not in the database files, not in the audit trail.
	s.w.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
	for _, file := range []string{path, path + "-wal"} {
		data, err := os.ReadFile(file)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		for _, secret := range []string{first, second, third} {
			if bytes.Contains(data, []byte(secret)) {
				t.Errorf("%s holds a webhook secret in plain text", file)
			}
		}
	}

	if err := s.RotateWebhookSecret(ctx, 4242, "x", testActor); !errors.Is(err, ErrNotFound) {
		t.Errorf("RotateWebhookSecret(4242) = %v, want ErrNotFound", err)
	}
}

func TestRotateWebhookSecretWithoutOne(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	c := mustCreateSCM(t, s, bbServerConfig("ALGO"), map[string]string{"access_token": "tok"})
	if err := s.RotateWebhookSecret(ctx, c.ID, "whsec-new", testActor); err != nil {
		t.Fatal(err)
	}
	plain, err := s.OpenSecrets(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if plain[WebhookSecret] != "whsec-new" {
		t.Error("the new secret is not the current one")
	}
	if _, ok := plain[WebhookSecretPrevious]; ok {
		t.Error("a previous secret appeared where there was none")
	}
}

func TestDeletingAConfigurationDeletesItsDeliveries(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	c := mustCreateSCM(t, s, bbServerConfig("ALGO"), map[string]string{WebhookSecret: "whsec"})
	keep := mustCreateSCM(t, s, bbServerConfig("OTHER"), nil)
	mustRecord(t, s, Delivery{ConfigID: c.ID, RequestID: "r1", Result: DeliveryIgnored, Status: 202, Reason: "dev"}, nil)
	mustRecord(t, s, Delivery{ConfigID: keep.ID, RequestID: "r1", Result: DeliveryIgnored, Status: 202, Reason: "dev"}, nil)
	if err := s.SetEnabled(ctx, c.ID, false, testActor); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSCMConfig(ctx, c.ID, testActor); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, s, "webhook_deliveries"); n != 1 {
		t.Errorf("%d deliveries left, want the other configuration's 1", n)
	}

	// A push registers no repository: one to a repository that is not registered does not
	// stop a delete; one that built a registered repository does, for the repository.
	mustRecord(t, s, Delivery{ConfigID: keep.ID, RequestID: "r2", Result: DeliveryAccepted, Status: 202, Reason: "build"},
		testBuild("sentiment-analysis", strings.Repeat("a", 40)))
	if n := mustRepos(t, s, keep.ID); n != 0 {
		t.Fatalf("a push registered %d repositories", n)
	}
	if err := s.SetEnabled(ctx, keep.ID, false, testActor); err != nil {
		t.Fatal(err)
	}
	mustRegister(t, s, keep.ID, "ALGO", "registered")
	if err := s.DeleteSCMConfig(ctx, keep.ID, testActor); !errors.Is(err, ErrHostsRepositories) {
		t.Errorf("deleting a configuration with a registered repository: %v, want ErrHostsRepositories", err)
	}
	if err := s.ForgetRepository(ctx, keep.ID, "registered", false, testActor); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSCMConfig(ctx, keep.ID, testActor); err != nil {
		t.Errorf("deleting a configuration only pushes reached: %v", err)
	}
}

func TestPushToUnregisteredRepositoryStartsNoBuild(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	c := mustCreateSCM(t, s, bbServerConfig("ALGO"), nil)
	mustRegister(t, s, c.ID, "ALGO", "registered")
	accepted := Delivery{ConfigID: c.ID, Event: "repo:refs_changed", Result: DeliveryAccepted, Status: 202, Reason: "build"}
	for i, b := range []*Build{
		testBuild("unknown", strings.Repeat("1", 40)),
		{ProjectKey: "OTHER", Repository: "registered", Commit: strings.Repeat("2", 40)}, // same name, another owner
	} {
		accepted.RequestID = fmt.Sprint("unregistered-", i)
		d := mustRecord(t, s, accepted, b)
		if d.Result != DeliveryIgnored || d.Status != 202 || !strings.Contains(d.Reason, "not an algorithm repository") ||
			!strings.Contains(d.Reason, b.FullName()) {
			t.Errorf("push to %s recorded as %+v, want ignored (202), not an algorithm repository", b.FullName(), d)
		}
	}
	if bs := mustBuilds(t, s, c.ID, 10); len(bs) != 0 {
		t.Errorf("builds of unregistered repositories: %+v", bs)
	}
	if n := mustRepos(t, s, c.ID); n != 1 {
		t.Errorf("%d repositories, want the registered one", n)
	}
	// The owner compares without case, as Bitbucket and GitHub do.
	accepted.RequestID = "registered-1"
	b := testBuild("registered", strings.Repeat("3", 40))
	b.ProjectKey = "algo"
	if d := mustRecord(t, s, accepted, b); d.Result != DeliveryAccepted {
		t.Errorf("push to algo/registered recorded as %+v, want accepted", d)
	}
	// Forgotten, it builds no more.
	if err := s.ForgetRepository(ctx, c.ID, "registered", false, testActor); err != nil {
		t.Fatal(err)
	}
	accepted.RequestID = "forgotten-1"
	if d := mustRecord(t, s, accepted, testBuild("registered", strings.Repeat("4", 40))); d.Result != DeliveryIgnored {
		t.Errorf("push to a forgotten repository recorded as %+v, want ignored", d)
	}
	if n := len(mustBuilds(t, s, c.ID, 10)); n != 1 {
		t.Errorf("%d builds, want 1", n)
	}
}

func TestStartBuild(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	at := time.Date(2026, 11, 20, 15, 0, 0, 0, time.UTC)
	withClock(s, at)
	c := mustCreateSCM(t, s, bbServerConfig("ALGO"), nil)
	mustRegister(t, s, c.ID, "ALGO", "sentiment-analysis")
	want := Build{ConfigID: c.ID, ProjectKey: "ALGO", Repository: "sentiment-analysis", Commit: strings.Repeat("ab", 20),
		Actor: "admin", Trigger: TriggerAPI}
	b, built, err := s.StartBuild(ctx, want)
	if err != nil || !built || b.ID == 0 {
		t.Fatalf("StartBuild: %+v %v %v, want a new build", b, built, err)
	}
	got := mustBuilds(t, s, c.ID, 10)
	if len(got) != 1 || got[0].ID != b.ID || got[0].Trigger != TriggerAPI || got[0].Actor != "admin" || got[0].RequestID != "" ||
		!got[0].CreatedAt.Equal(at) || !got[0].PushedAt.Equal(at) || got[0].Commit != want.Commit {
		t.Errorf("builds %+v, want one api build by admin at %s", got, at)
	}
	// The same commit again: the build that exists, nothing new, whoever asks.
	want.Actor = "someone else"
	again, built, err := s.StartBuild(ctx, want)
	if err != nil || built || again.ID != b.ID || again.Actor != "admin" {
		t.Errorf("StartBuild again: %+v %v %v, want build %d as it was", again, built, err, b.ID)
	}
	// A push of that commit finds it built.
	d := mustRecord(t, s, Delivery{ConfigID: c.ID, RequestID: "r1", Result: DeliveryAccepted, Status: 202, Reason: "build"},
		&Build{ProjectKey: "ALGO", Repository: "sentiment-analysis", Commit: want.Commit})
	if d.Result != DeliveryDuplicate {
		t.Errorf("push of a commit the API built recorded as %+v, want duplicate", d)
	}
	want.Repository = "unregistered"
	if _, _, err := s.StartBuild(ctx, want); !errors.Is(err, ErrNotRegistered) {
		t.Errorf("StartBuild of an unregistered repository: %v, want ErrNotRegistered", err)
	}
	if n := len(mustBuilds(t, s, c.ID, 10)); n != 1 {
		t.Errorf("%d builds, want 1", n)
	}
}
