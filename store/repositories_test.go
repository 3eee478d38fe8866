package store

import (
	"context"
	"errors"
	"testing"
)

func TestRepositoriesAreRegisteredListedAndForgotten(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	c := mustCreateSCM(t, s, bbServerConfig("ALGO"), map[string]string{FieldAccessToken: "tok"})
	before, err := s.Versions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := Repository{ConfigID: c.ID, Owner: "ALGO", Name: "sorting", HTTPSURL: "https://bb.example.com/scm/algo/sorting.git",
		SSHURL: "ssh://git@bb.example.com:7999/algo/sorting.git"}
	got, err := s.RegisterRepository(ctx, want, testActor)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID == 0 || got.CreatedAt.IsZero() || got.CreatedBy != testActor.Username || got.FullName() != "ALGO/sorting" {
		t.Errorf("registered %+v", got)
	}
	if after, _ := s.Versions(ctx); after.Configs == before.Configs {
		t.Error("registering a repository leaves the configs version as it was: pages would show a stale count")
	}
	if _, err := s.RegisterRepository(ctx, want, testActor); !errors.Is(err, ErrDuplicate) {
		t.Errorf("a second repository of the same name: %v, want ErrDuplicate", err)
	}
	if cfg, _ := s.SCMConfig(ctx, c.ID); cfg.Repositories != 1 {
		t.Errorf("the configuration counts %d repositories, want 1", cfg.Repositories)
	}
	list, err := s.Repositories(ctx, c.ID, 0, 10)
	if err != nil || len(list) != 1 || !sameRepository(list[0], got) {
		t.Errorf("Repositories = %+v %v, want [%+v]", list, err, got)
	}
	if after, err := s.Repositories(ctx, c.ID, got.ID, 10); err != nil || len(after) != 0 {
		t.Errorf("Repositories after the last one = %+v %v, want none", after, err)
	}
	if r, err := s.RepositoryByName(ctx, c.ID, "sorting"); err != nil || !sameRepository(r, got) {
		t.Errorf("RepositoryByName = %+v %v", r, err)
	}
	if _, err := s.RepositoryByName(ctx, c.ID, "other"); !errors.Is(err, ErrNotFound) {
		t.Errorf("RepositoryByName of an unknown one: %v, want ErrNotFound", err)
	}
	if err := s.SetEnabled(ctx, c.ID, false, testActor); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSCMConfig(ctx, c.ID, testActor); !errors.Is(err, ErrHostsRepositories) {
		t.Errorf("delete while it hosts a registered repository: %v", err)
	}
	if err := s.ForgetRepository(ctx, c.ID, "sorting", true, testActor); err != nil {
		t.Fatal(err)
	}
	if err := s.ForgetRepository(ctx, c.ID, "sorting", false, testActor); !errors.Is(err, ErrNotFound) {
		t.Errorf("forgetting it twice: %v, want ErrNotFound", err)
	}
	evs, _, err := s.ListAudit(ctx, AuditQuery{ConfigID: c.ID, Limit: 2})
	if err != nil || len(evs) != 2 || evs[0].Action != ActionPurgeRepository || evs[1].Action != ActionDisable {
		t.Fatalf("audit %+v %v", evs, err)
	}
	if ch := evs[0].Changes; len(ch) != 1 || ch[0].Field != FieldRepository || ch[0].From != "ALGO/sorting" {
		t.Errorf("the purge's audit changes %+v", ch)
	}
	if err := s.DeleteSCMConfig(ctx, c.ID, testActor); err != nil {
		t.Errorf("delete once its one repository is forgotten: %v", err)
	}
}

// sameRepository reports whether a and b are the same row with the same values, times
// compared as instants.
func sameRepository(a, b Repository) bool {
	at, bt := a.CreatedAt, b.CreatedAt
	a.CreatedAt, b.CreatedAt = at.UTC(), at.UTC()
	return a == b && at.Equal(bt)
}

// A configuration from before every one had a webhook secret gets one once: of two callers,
// the second gets the first one's.
func TestEnsureWebhookSecret(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	c := mustCreateSCM(t, s, SCMConfig{Provider: "github", WebsiteURL: "https://github.com", APIURL: "https://api.github.com",
		SSHURL: "ssh://git@github.com:22", ClientID: "abc", UniqueKey: "github https://github.com abc"}, map[string]string{FieldClientSecret: "s"})
	first, err := s.EnsureWebhookSecret(ctx, c.ID, "first-secret", testActor)
	if err != nil || first != "first-secret" {
		t.Fatalf("EnsureWebhookSecret = %q %v", first, err)
	}
	if again, err := s.EnsureWebhookSecret(ctx, c.ID, "second-secret", testActor); err != nil || again != "first-secret" {
		t.Errorf("a second EnsureWebhookSecret = %q %v, want the first one's", again, err)
	}
	evs, _, err := s.ListAudit(ctx, AuditQuery{ConfigID: c.ID, Action: ActionRotateWebhookSecret, Limit: 10})
	if err != nil || len(evs) != 1 {
		t.Errorf("%d audit entries of the secret made (%v), want 1", len(evs), err)
	}
}
