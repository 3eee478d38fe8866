package web

import (
	"context"
	"testing"
	"time"

	"github.com/scmadmin/scmadmin/store"
	"github.com/scmadmin/scmadmin/web/action"
	"github.com/scmadmin/scmadmin/web/probe"
)

func TestHealthKeepsWarnings(t *testing.T) {
	passed := probe.Step{ID: "dns", Status: probe.Passed}
	warned := probe.Step{ID: "tls", Status: probe.Warning}
	for _, tc := range []struct {
		steps   []probe.Step
		outcome store.Health
		step    string
	}{
		{[]probe.Step{passed}, store.HealthPassed, ""},
		{[]probe.Step{passed, warned}, store.HealthWarning, ""},
		{[]probe.Step{warned, {ID: "token", Title: "Access token authenticates", Status: probe.Failed}}, store.HealthFailing, "token"},
	} {
		h := action.Health(probe.Result{At: time.Now(), Steps: tc.steps})
		if h.Outcome != tc.outcome || h.Step != tc.step {
			t.Errorf("Health(%v) = %+v", tc.steps, h)
		}
	}
}

// A test that warned is not shown as a green "Passed", in the list or on the details page.
func TestPassedWithWarningsIsShown(t *testing.T) {
	app := newTestApp(t)
	c := app.adminClient()
	warned := addConfig(t, c, bbForm("warned.example.com", "ALGO"))
	clean := addConfig(t, c, bbForm("clean.example.com", "ALGO"))
	ctx := context.Background()
	now := time.Now()
	if _, err := app.st.RecordConnectionTest(ctx, warned, store.HealthResult{At: now, Outcome: store.HealthWarning, Summary: "passed"}, store.Actor{}); err != nil {
		t.Fatal(err)
	}
	if _, err := app.st.RecordConnectionTest(ctx, clean, store.HealthResult{At: now, Outcome: store.HealthPassed, Summary: "passed"}, store.Actor{}); err != nil {
		t.Fatal(err)
	}
	list := c.get("/admin/scm")
	if got := list.text(rowSel(warned) + " .health"); got != "Passed with warnings" {
		t.Errorf("warned row's health = %q", got)
	}
	if !list.has(rowSel(warned)+" .health-warning") || list.has(rowSel(warned)+" .health-ok") {
		t.Error("the warned row is styled as a plain pass")
	}
	if got := list.text(rowSel(clean) + " .health"); got != "Passed" {
		t.Errorf("clean row's health = %q", got)
	}
	if got := c.get(scmPath(warned, "")).text("#detail-health .health"); got != "Passed with warnings" {
		t.Errorf("details health = %q", got)
	}
}
