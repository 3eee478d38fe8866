package web

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/scmadmin/scmadmin/store"
	"github.com/scmadmin/scmadmin/views"
	"github.com/scmadmin/scmadmin/web/probe"
	"github.com/scmadmin/scmadmin/web/provider"
)

// target is what a connection test checks for cfg, with its secrets in plain text.
func target(cfg store.SCMConfig, secrets map[string]string) probe.Target {
	return probe.Target{
		Provider: cfg.Provider, WebsiteURL: cfg.WebsiteURL, APIURL: cfg.APIURL, SSHURL: cfg.SSHURL,
		ClientID: cfg.ClientID, ClientSecret: secrets[provider.FieldClientSecret],
		ProjectKey: cfg.ProjectKey, AccessToken: secrets[provider.FieldAccessToken],
	}
}

// countTest counts a connection test's outcome for /metrics.
func (s *server) countTest(providerID string, r probe.Result) {
	outcome := "passed"
	if step, failed := r.FirstFailure(); failed {
		outcome = step.ID
	}
	s.metrics.connections.WithLabelValues(providerID, outcome).Inc()
}

// health is what the list and the details page keep of a test: when, and passed or where it failed.
func health(r probe.Result) store.ConnectionTest {
	t := store.ConnectionTest{At: r.At, Passed: r.Passed(), Summary: "passed"}
	if step, failed := r.FirstFailure(); failed {
		t.Summary = step.Title
	}
	return t
}

// testSCM tests a stored configuration's connection and keeps the result as its health.
func (s *server) testSCM(c echo.Context) error {
	cfg, p, err := s.loadHostedSCM(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	secrets, err := s.st.OpenSecrets(ctx, cfg.ID)
	if err != nil {
		return err
	}
	result := s.checker.Check(ctx, target(cfg, secrets))
	s.countTest(cfg.Provider, result)
	if step, failed := result.FirstFailure(); !failed || step.ID != "queue" {
		// Kept even if the browser has gone: the test ran, and the list should say so.
		cfg.LastTest = health(result)
		if err := s.st.RecordConnectionTest(context.WithoutCancel(ctx), cfg.ID, cfg.LastTest); err != nil {
			return err
		}
	}
	if isHTMX(c) {
		return render(c, http.StatusOK, templ.Join(views.ConnectionTest(result), views.HealthDetail(cfg.LastTest, true)), nil)
	}
	return s.renderDetails(c, http.StatusOK, cfg, p, s.page(c, cfg.DisplayName()), &result)
}

// testForm is "Test before saving": the same check for the values of the Add or Edit form,
// storing nothing. On Edit (the form carries the id), a secret left empty is the stored one.
func (s *server) testForm(c echo.Context) error {
	form, err := c.FormParams()
	if err != nil {
		return errUnreadableForm
	}
	var stored store.SCMConfig
	mode := provider.Create
	p, ok := provider.Lookup(form.Get("provider"))
	if id := form.Get("id"); id != "" {
		n, _ := strconv.ParseInt(id, 10, 64)
		if stored, err = s.st.SCMConfig(c.Request().Context(), n); err != nil {
			return errNotFound
		}
		p, ok = provider.Lookup(stored.Provider)
		mode = provider.Edit
		if p.Identity == provider.FieldProjectKey {
			form.Set(provider.FieldProjectKey, stored.ProjectKey)
		}
	}
	if !ok || !p.Selectable() {
		return echo.NewHTTPError(http.StatusBadRequest, "Choose a provider before testing the connection.")
	}
	vals, errs := p.Validate(form, mode)
	cfg, secrets := p.Config(vals)
	if len(errs) == 0 && stored.ID != 0 {
		// A stored secret goes only to the hosts it was saved for: with other URLs it must be
		// typed again, or this form would hand it to any host.
		sameHosts := cfg.WebsiteURL == stored.WebsiteURL && cfg.APIURL == stored.APIURL
		kept, err := s.st.OpenSecrets(c.Request().Context(), stored.ID)
		if err != nil {
			return err
		}
		for _, f := range p.Fields() {
			if _, typed := secrets[f.Name]; f.Kind != provider.KindSecret || typed {
				continue
			}
			if !sameHosts {
				errs[f.Name] = "Enter the " + f.Label + " again to test other URLs: a saved secret is only sent to the hosts it was saved for."
			} else if v, ok := kept[f.Name]; ok {
				secrets[f.Name] = v
			}
		}
	}
	var result probe.Result
	if len(errs) > 0 {
		result = invalidInput(p, errs)
	} else {
		result = s.checker.Check(c.Request().Context(), target(cfg, secrets))
		s.countTest(p.ID, result)
	}
	if isHTMX(c) {
		return render(c, http.StatusOK, views.ConnectionTest(result), nil)
	}
	f := s.form(p, typed(p, form), errs)
	f.Config, f.Test = stored, &result
	title := "Add SCM Configuration"
	if stored.ID != 0 {
		if f.Secrets, err = s.st.SCMSecrets(c.Request().Context(), stored.ID); err != nil {
			return err
		}
		title = "Edit " + stored.DisplayName()
	}
	return render(c, http.StatusOK, views.SCMFormPage(s.page(c, title), f), nil)
}

// invalidInput is the checklist of a form whose values cannot be tested yet.
func invalidInput(p *provider.Provider, errs provider.Errors) probe.Result {
	var msgs []string
	for _, f := range p.Fields() {
		if m := errs[f.Name]; m != "" {
			msgs = append(msgs, m)
		}
	}
	return probe.Result{Steps: []probe.Step{{ID: "input", Title: "The form's values", Status: probe.Failed,
		Detail: "Correct these first: " + strings.Join(msgs, " ")}}}
}
