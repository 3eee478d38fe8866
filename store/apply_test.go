package store

import (
	"context"
	"errors"
	"testing"
)

// A file's steps are one transaction: a step that fails leaves nothing of those before it,
// not even the id it took or an audit entry; steps that succeed are each audited.
func TestApplySCMConfigsIsOneTransaction(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	by := Actor{Username: "apply", Addr: "command line"}
	a := bbServerConfig("ALGO")
	a.Ref, a.ManagedBy = "a", "/etc/scmadmin/scms.yaml"
	clash := bbServerConfig("ALGO")
	clash.Ref = "clash"
	configs, refs, events := countRows(t, s, "scm_configs"), countRows(t, s, "scm_refs"), countRows(t, s, "audit_events")

	err := s.ApplySCMConfigs(ctx, a.ManagedBy, []Step{
		{Kind: StepCreate, Config: a, Secrets: map[string]string{FieldAccessToken: "tok-a"}},
		{Kind: StepMakeDefault, Config: SCMConfig{Ref: "a"}},
		{Kind: StepCreate, Config: clash, Secrets: map[string]string{FieldAccessToken: "tok-b"}},
	}, by, false)
	var se *StepError
	if !errors.As(err, &se) || se.Index != 2 || !errors.Is(err, ErrDuplicate) {
		t.Fatalf("apply with a duplicate third step = %v, want a StepError at 2 that is ErrDuplicate", err)
	}
	if got := [3]int{countRows(t, s, "scm_configs"), countRows(t, s, "scm_refs"), countRows(t, s, "audit_events")}; got != [3]int{configs, refs, events} {
		t.Errorf("after the failed apply: configs, refs, audit events = %v, want %v: the first steps were kept", got, [3]int{configs, refs, events})
	}

	// A dry run runs every step and keeps nothing.
	steps := []Step{
		{Kind: StepCreate, Config: a, Secrets: map[string]string{FieldAccessToken: "tok-a"}},
		{Kind: StepMakeDefault, Config: SCMConfig{Ref: "a"}},
	}
	if err := s.ApplySCMConfigs(ctx, a.ManagedBy, steps, by, true); err != nil {
		t.Fatalf("dry run: %v", err)
	}
	if _, err := s.SCMConfigByRef(ctx, "a"); !errors.Is(err, ErrNotFound) {
		t.Errorf("after a dry run, a = %v, want ErrNotFound", err)
	}

	if err := s.ApplySCMConfigs(ctx, a.ManagedBy, steps, by, false); err != nil {
		t.Fatal(err)
	}
	got, err := s.SCMConfigByRef(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if !got.IsDefault || got.ManagedBy != a.ManagedBy {
		t.Errorf("a = default %v, managed by %q; want the default, managed by %q", got.IsDefault, got.ManagedBy, a.ManagedBy)
	}
	evs, _, err := s.ListAudit(ctx, AuditQuery{ConfigRef: "a", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[1].Action != ActionCreate || evs[0].Action != ActionMakeDefault || evs[0].Actor != by {
		t.Errorf("audit of a = %+v, want create then make_default by %v", evs, by)
	}
}

// A configuration a file manages refuses every change but through that file's steps.
func TestManagedConfigurationRefusesChanges(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	const file = "/etc/scmadmin/scms.yaml"
	m := bbServerConfig("MANAGED")
	m.Ref, m.ManagedBy = "managed", file
	if err := s.ApplySCMConfigs(ctx, file, []Step{{Kind: StepCreate, Config: m, Secrets: map[string]string{FieldAccessToken: "t"}},
		{Kind: StepMakeDefault, Config: SCMConfig{Ref: m.Ref}}}, testActor, false); err != nil {
		t.Fatal(err)
	}
	m, err := s.SCMConfigByRef(ctx, m.Ref)
	if err != nil {
		t.Fatal(err)
	}
	var me *ManagedError
	if err := m.CanChange(); !errors.As(err, &me) || me.File != file {
		t.Errorf("CanChange() = %v, want a ManagedError naming %s", err, file)
	}
	renamed := m
	renamed.Name = "renamed"
	for name, err := range map[string]error{
		"update":                     func() error { _, err := s.UpdateSCMConfig(ctx, renamed, nil, testActor); return err }(),
		"disable":                    s.SetEnabled(ctx, m.ID, false, testActor),
		"make another the default":   func() error { _, err := s.MakeDefault(ctx, BuiltInID, testActor); return err }(),
		"delete":                     s.DeleteSCMConfig(ctx, m.ID, testActor),
		"another file's update":      s.ApplySCMConfigs(ctx, "/other.yaml", []Step{{Kind: StepUpdate, Config: renamed}}, testActor, false),
		"another file's new default": s.ApplySCMConfigs(ctx, "/other.yaml", []Step{{Kind: StepMakeDefault, Config: SCMConfig{Ref: BuiltInRef}}}, testActor, false),
	} {
		if !errors.Is(err, ErrManaged) {
			t.Errorf("%s of a managed configuration = %v, want ErrManaged", name, err)
		}
	}
	if got, _ := s.SCMConfigByRef(ctx, m.Ref); got.Name != "" || !got.Enabled || !got.IsDefault {
		t.Errorf("after the refusals: %+v", got)
	}
	// Its own file changes it, and can hand it back.
	renamed.ManagedBy = ""
	if err := s.ApplySCMConfigs(ctx, file, []Step{{Kind: StepUpdate, Config: renamed}}, testActor, false); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.SCMConfigByRef(ctx, m.Ref); got.Name != "renamed" || got.CanChange() != nil {
		t.Errorf("after its file's update: name %q, CanChange %v", got.Name, got.CanChange())
	}
	if _, err := s.MakeDefault(ctx, BuiltInID, testActor); err != nil {
		t.Errorf("once released, another becomes the default: %v", err)
	}
}
