package store

import (
	"context"
	"errors"
	"slices"
	"testing"
)

func TestLifecycleRules(t *testing.T) {
	for _, tc := range []struct {
		name                      string
		c                         SCMConfig
		makeDefault, disable, del error
	}{
		{"built-in default", SCMConfig{ID: BuiltInID, Enabled: true, IsDefault: true}, nil, ErrDisableDefault, ErrDeleteBuiltIn},
		{"built-in, disabled", SCMConfig{ID: BuiltInID}, ErrDefaultDisabled, nil, ErrDeleteBuiltIn},
		{"enabled", SCMConfig{ID: 2, Enabled: true}, nil, nil, ErrDeleteEnabled},
		{"enabled default", SCMConfig{ID: 2, Enabled: true, IsDefault: true}, nil, ErrDisableDefault, ErrDeleteEnabled},
		{"enabled with repositories", SCMConfig{ID: 2, Enabled: true, Repositories: 3}, nil, nil, ErrDeleteEnabled},
		{"disabled", SCMConfig{ID: 2}, ErrDefaultDisabled, nil, nil},
		{"disabled with a repository", SCMConfig{ID: 2, Repositories: 1}, ErrDefaultDisabled, nil, ErrHostsRepositories},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, rule := range []struct {
				name      string
				got, want error
			}{
				{"CanMakeDefault", tc.c.CanMakeDefault(), tc.makeDefault},
				{"CanDisable", tc.c.CanDisable(), tc.disable},
				{"CanDelete", tc.c.CanDelete(), tc.del},
			} {
				if !errors.Is(rule.got, rule.want) || (rule.want == nil) != (rule.got == nil) {
					t.Errorf("%s() = %v, want %v", rule.name, rule.got, rule.want)
				}
			}
		})
	}
}

// lastAudit is the newest audit event of configuration id.
func lastAudit(t *testing.T, s *Store, id int64) AuditEvent {
	t.Helper()
	evs, _, err := s.ListAudit(context.Background(), AuditQuery{ConfigID: id, Limit: 1})
	if err != nil || len(evs) == 0 {
		t.Fatalf("audit of %d: %v, %d events", id, err, len(evs))
	}
	return evs[0]
}

func TestMakeDefault(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	c := mustCreateSCM(t, s, bbServerConfig("ALGO"), map[string]string{FieldAccessToken: "tok"})

	previous, err := s.MakeDefault(ctx, c.ID, testActor)
	if err != nil || previous != BuiltInID {
		t.Fatalf("MakeDefault(%d) = %d, %v; want the built-in (%d) as the previous default", c.ID, previous, err, BuiltInID)
	}
	if got, _ := s.SCMConfig(ctx, c.ID); !got.IsDefault {
		t.Error("the new default is not the default")
	}
	if got, _ := s.SCMConfig(ctx, BuiltInID); got.IsDefault {
		t.Error("the built-in is still the default")
	}
	if ev := lastAudit(t, s, c.ID); ev.Action != ActionMakeDefault || ev.Actor != testActor {
		t.Errorf("audit %+v, want make_default by %+v", ev, testActor)
	}

	// Again: nothing moves and nothing more is audited.
	before := countRows(t, s, "audit_events")
	if previous, err := s.MakeDefault(ctx, c.ID, testActor); err != nil || previous != c.ID {
		t.Errorf("MakeDefault of the default = %d, %v; want %d, nil", previous, err, c.ID)
	}
	if n := countRows(t, s, "audit_events"); n != before {
		t.Errorf("making the default the default again wrote %d audit events", n-before)
	}

	// Back to the built-in; the moved-from configuration is named.
	if previous, err := s.MakeDefault(ctx, BuiltInID, testActor); err != nil || previous != c.ID {
		t.Errorf("MakeDefault(built-in) = %d, %v; want %d", previous, err, c.ID)
	}

	// A disabled configuration is refused, and the default stays.
	if err := s.SetEnabled(ctx, c.ID, false, testActor); err != nil {
		t.Fatal(err)
	}
	before = countRows(t, s, "audit_events")
	if _, err := s.MakeDefault(ctx, c.ID, testActor); !errors.Is(err, ErrDefaultDisabled) {
		t.Errorf("MakeDefault(disabled) = %v, want ErrDefaultDisabled", err)
	}
	if got, _ := s.SCMConfig(ctx, BuiltInID); !got.IsDefault {
		t.Error("a refused MakeDefault moved the default")
	}
	if n := countRows(t, s, "audit_events"); n != before {
		t.Error("a refused MakeDefault was audited")
	}
	if _, err := s.MakeDefault(ctx, 4242, testActor); !errors.Is(err, ErrNotFound) {
		t.Errorf("MakeDefault(4242) = %v, want ErrNotFound", err)
	}
}

func TestUpdateSCMConfig(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	c := mustCreateSCM(t, s, bbServerConfig("ALGO"), map[string]string{FieldAccessToken: "tok-1"})
	other := mustCreateSCM(t, s, bbServerConfig("OTHER"), nil)

	// Columns change; the token, not given, is kept.
	edit := c
	edit.Name = "Algorithms"
	edit.SSHURL = "ssh://git@bitbucket.example.com:7998"
	got, err := s.UpdateSCMConfig(ctx, edit, nil, testActor)
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := s.SCMConfig(ctx, c.ID)
	for _, x := range []SCMConfig{got, stored} {
		if x.Name != "Algorithms" || x.SSHURL != edit.SSHURL || x.WebsiteURL != c.WebsiteURL || x.ProjectKey != "ALGO" || !x.Enabled {
			t.Errorf("after the update %+v", x)
		}
	}
	if secrets, _ := s.OpenSecrets(ctx, c.ID); secrets[FieldAccessToken] != "tok-1" {
		t.Errorf("the token not given became %q, want it kept", secrets[FieldAccessToken])
	}
	ev := lastAudit(t, s, c.ID)
	want := []Change{{Field: FieldName, To: "Algorithms"}, {Field: FieldSSHURL, From: c.SSHURL, To: edit.SSHURL}}
	if ev.Action != ActionUpdate || !slices.Equal(ev.Changes, want) {
		t.Errorf("audit %s %+v, want update %+v", ev.Action, ev.Changes, want)
	}

	// A secret given is replaced, and the audit says only that it changed.
	if _, err := s.UpdateSCMConfig(ctx, stored, map[string]string{FieldAccessToken: "tok-2"}, testActor); err != nil {
		t.Fatal(err)
	}
	if secrets, _ := s.OpenSecrets(ctx, c.ID); secrets[FieldAccessToken] != "tok-2" {
		t.Errorf("token %q, want tok-2", secrets[FieldAccessToken])
	}
	if ev := lastAudit(t, s, c.ID); !slices.Equal(ev.Changes, []Change{{Field: FieldAccessToken, To: SecretChanged}}) {
		t.Errorf("audit of a new token %+v, want only access_token %q", ev.Changes, SecretChanged)
	}

	// Taking another configuration's unique key is refused, and nothing is written.
	clash := stored
	clash.ProjectKey, clash.UniqueKey = other.ProjectKey, other.UniqueKey
	if _, err := s.UpdateSCMConfig(ctx, clash, nil, testActor); !errors.Is(err, ErrDuplicate) {
		t.Errorf("update onto another's unique key = %v, want ErrDuplicate", err)
	}
	if after, _ := s.SCMConfig(ctx, c.ID); after.ProjectKey != "ALGO" || after.UniqueKey != c.UniqueKey {
		t.Errorf("a refused update was stored: %+v", after)
	}

	missing := stored
	missing.ID = 4242
	if _, err := s.UpdateSCMConfig(ctx, missing, nil, testActor); !errors.Is(err, ErrNotFound) {
		t.Errorf("UpdateSCMConfig(4242) = %v, want ErrNotFound", err)
	}
}

func TestDeleteSCMConfigRefusals(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	c := mustCreateSCM(t, s, bbServerConfig("ALGO"), map[string]string{FieldAccessToken: "tok"})
	for _, tc := range []struct {
		name  string
		setup func()
		id    int64
		want  error
	}{
		{"built-in", func() {}, BuiltInID, ErrDeleteBuiltIn},
		{"enabled", func() {}, c.ID, ErrDeleteEnabled},
		{"hosting a repository", func() {
			if err := s.SetEnabled(ctx, c.ID, false, testActor); err != nil {
				t.Fatal(err)
			}
			if err := s.AddRepository(ctx, c.ID, "sorting"); err != nil {
				t.Fatal(err)
			}
		}, c.ID, ErrHostsRepositories},
		{"missing", func() {}, 4242, ErrNotFound},
	} {
		tc.setup()
		before := countRows(t, s, "audit_events")
		if err := s.DeleteSCMConfig(ctx, tc.id, testActor); !errors.Is(err, tc.want) {
			t.Errorf("%s: DeleteSCMConfig(%d) = %v, want %v", tc.name, tc.id, err, tc.want)
		}
		if n := countRows(t, s, "audit_events"); n != before {
			t.Errorf("%s: a refused delete was audited", tc.name)
		}
	}
	if _, err := s.SCMConfig(ctx, c.ID); err != nil {
		t.Errorf("the refused configuration is gone: %v", err)
	}
}
