package web

import (
	"net/http"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/scmadmin/scmadmin/views"
	"github.com/scmadmin/scmadmin/web/action"
	"github.com/scmadmin/scmadmin/web/probe"
	"github.com/scmadmin/scmadmin/web/provider"
)

// countTest counts a connection test's outcome for /metrics.
func (s *server) countTest(providerID string, r probe.Result) {
	outcome := "passed"
	if step, failed := r.FirstFailure(); failed {
		outcome = step.ID
	}
	s.metrics.connections.WithLabelValues(providerID, outcome).Inc()
}

// testSCM tests a stored configuration's connection and keeps the result as its health.
func (s *server) testSCM(c echo.Context) error {
	cfg, result, err := s.actions.Test(c.Request().Context(), configID(c), actor(c))
	if err != nil {
		return err
	}
	if isHTMX(c) {
		history, err := s.st.HealthResults(c.Request().Context(), cfg.ID)
		if err != nil {
			return err
		}
		return render(c, http.StatusOK, templ.Join(views.ConnectionTest(result), views.HealthDetail(cfg.LastTest, true),
			views.HealthHistory(history, true)), nil)
	}
	p, _ := provider.Lookup(cfg.Provider)
	return s.renderDetails(c, http.StatusOK, cfg, p, s.page(c, cfg.DisplayName()), &result)
}

// testForm is "Test before saving": the same check for the values of the Add or Edit form,
// storing nothing. On Edit (the form carries the id), a secret left empty is the stored one.
func (s *server) testForm(c echo.Context) error {
	form, err := c.FormParams()
	if err != nil {
		return errUnreadableForm
	}
	in := action.Input{Provider: form.Get("provider"), Fields: form}
	t, err := s.actions.TestValues(c.Request().Context(), form.Get("id"), in)
	if r, ok := action.AsRefusal(err); ok && r.Fields["provider"] != "" {
		return echo.NewHTTPError(http.StatusBadRequest, r.Fields["provider"])
	} else if err != nil {
		return err
	}
	if isHTMX(c) {
		// The checklist, and out of band the error summary, from which app.js marks the
		// fields at fault and clears the others without touching what was typed.
		f := s.form(t.Provider, nil, t.Errors)
		f.Config = t.Stored
		summarize(&f, "The connection was not tested")
		return render(c, http.StatusOK, templ.Join(views.ConnectionTest(t.Result), views.ErrorSummary(f, true)), nil)
	}
	title := addTitle
	if t.Stored.ID != 0 {
		title = "Edit " + t.Stored.DisplayName()
	}
	return s.renderForm(c, http.StatusOK, title, s.form(t.Provider, typed(t.Provider, form), t.Errors), t.Stored, &t.Result)
}
