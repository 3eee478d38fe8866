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
		steps          []probe.Step
		passed, warned bool
	}{
		{[]probe.Step{passed}, true, false},
		{[]probe.Step{passed, warned}, true, true},
		{[]probe.Step{warned, {ID: "token", Status: probe.Failed}}, false, true},
	} {
		h := action.Health(probe.Result{At: time.Now(), Steps: tc.steps})
		if h.Passed != tc.passed || h.Warned != tc.warned {
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
	if err := app.st.RecordConnectionTest(ctx, warned, store.ConnectionTest{At: now, Passed: true, Warned: true, Summary: "passed"}); err != nil {
		t.Fatal(err)
	}
	if err := app.st.RecordConnectionTest(ctx, clean, store.ConnectionTest{At: now, Passed: true, Summary: "passed"}); err != nil {
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
