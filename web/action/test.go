package action

import (
	"context"
	"errors"
	"strings"

	"github.com/scmadmin/scmadmin/store"
	"github.com/scmadmin/scmadmin/web/probe"
	"github.com/scmadmin/scmadmin/web/provider"
)

// Target is what a connection test checks for cfg of provider p, secrets in plain text.
func Target(p *provider.Provider, cfg store.SCMConfig, secrets map[string]string) probe.Target {
	return probe.Target{SCMConfig: cfg, Secrets: secrets, Family: p.Probe}
}

// Test tests configuration id's connection and keeps the result as its health, unless the
// test could not run fully (no place, or the caller gave up); a notFound Refusal when the configuration was deleted meanwhile.
// A change from passing to failing or back is in the audit trail as by's.
func (a *Actions) Test(ctx context.Context, id string, by store.Actor) (store.SCMConfig, probe.Result, error) {
	cfg, p, err := a.LoadHosted(ctx, id)
	if err != nil {
		return cfg, probe.Result{}, err
	}
	secrets, err := a.st.OpenSecrets(ctx, cfg.ID)
	if err != nil {
		return cfg, probe.Result{}, err
	}
	result := a.check(ctx, p, cfg, secrets)
	if p.OAuth != nil {
		result.Steps = append(result.Steps, roundTripStep(cfg, secrets))
	}
	if result.Complete() {
		// Kept even if the caller has gone once the test ran: the list should say so.
		var err error
		cfg.LastTest, err = a.st.RecordConnectionTest(context.WithoutCancel(ctx), cfg.ID, Health(result), by)
		if errors.Is(err, store.ErrNotFound) {
			return cfg, result, &Refusal{Rule: store.ErrNotFound,
				Message: "“" + cfg.DisplayName() + "” was deleted while its connection was tested: its result is not kept."}
		} else if err != nil {
			return cfg, result, err
		}
	}
	return cfg, result, nil
}

// Tested is a "Test before saving": for which provider and stored configuration (ID 0 on the
// Add form), the checklist, and the fields at fault.
type Tested struct {
	Provider *provider.Provider
	Stored   store.SCMConfig
	Result   probe.Result
	Errors   provider.Errors
}

// TestValues is "Test before saving": the same test for the values of a form, storing
// nothing. id is the configuration being edited, "" for a new one; then a secret left empty is
// the stored one, as long as it goes to the hosts it was saved for. Fields at fault make the
// checklist say so instead of testing.
func (a *Actions) TestValues(ctx context.Context, id string, in Input) (Tested, error) {
	var t Tested
	var stored *store.SCMConfig
	if id != "" {
		cfg, p, err := a.LoadHosted(ctx, id)
		if err != nil {
			return t, err
		}
		t.Stored, t.Provider, stored = cfg, p, &cfg
		in.Fields = overStored(cfg, in)
	} else if p, ok := provider.Lookup(in.Provider); ok && p.Selectable() {
		t.Provider = p
	} else {
		return t, invalid(provider.Errors{"provider": "Choose a provider before testing the connection."})
	}
	vals, errs := t.Provider.Validate(in.Fields, stored)
	cfg, secrets := t.Provider.Config(vals)
	if len(errs) == 0 && stored != nil {
		kept, err := a.st.OpenSecrets(ctx, stored.ID)
		if err != nil {
			return t, err
		}
		errs = keepSecretsForTheirHosts(t.Provider, *stored, cfg, secrets, kept)
	}
	if t.Errors = errs; len(errs) > 0 {
		t.Result = invalidInput(t.Provider, errs)
		return t, nil
	}
	t.Result = a.check(ctx, t.Provider, cfg, secrets)
	return t, nil
}

// roundTripStep is the oauth step of an OAuth configuration's test, from its last round
// trip: passed once an account has connected with its current client ID and secret, skipped
// before that, failed when the last round trip failed. It proves what no call without a user
// can: the callback URL and the secret.
func roundTripStep(cfg store.SCMConfig, secrets map[string]string) probe.Step {
	last := cfg.OAuthCheck
	step := probe.Step{ID: "oauth", Title: "An account connected through it"}
	at := last.At.UTC().Format("2006-01-02 15:04 UTC")
	switch {
	case last.At.IsZero() || last.Credentials != store.OAuthCredentials(cfg, secrets[store.FieldClientSecret]):
		step.Status, step.Detail = probe.Skipped, "No account has connected through this application since its client ID "+
			"and secret were set, so the callback URL and the secret are not proven yet. Use Connect your account on the "+
			"configuration's page."
	case last.OK:
		step.Status, step.Detail = probe.Passed, last.Detail+" connected on "+at+": the callback URL, client ID and secret work."
	default:
		step.Status, step.Detail = probe.Failed, "The last attempt to connect an account, on "+at+", failed: "+last.Detail
	}
	return step
}

// keepSecretsForTheirHosts fills in the secrets left empty with the stored ones (kept), but
// only while cfg names the hosts stored was saved with: with other URLs a secret must be typed
// again, or a form would hand it to any host. It returns the secrets that must be typed.
func keepSecretsForTheirHosts(p *provider.Provider, stored, cfg store.SCMConfig, secrets, kept map[string]string) provider.Errors {
	sameHosts := cfg.WebsiteURL == stored.WebsiteURL && cfg.APIURL == stored.APIURL
	errs := provider.Errors{}
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
	return errs
}

func (a *Actions) check(ctx context.Context, p *provider.Provider, cfg store.SCMConfig, secrets map[string]string) probe.Result {
	result := a.checker.Check(ctx, Target(p, cfg, secrets))
	a.tested(p.ID, result)
	return result
}

// Health is what the list, the details page and the health history keep of a test: when,
// passed (with warnings or not) or where it failed, and what the host told of expiries and
// its rate limit.
func Health(r probe.Result) store.HealthResult {
	h := store.HealthResult{At: r.At, Outcome: store.HealthPassed, Summary: "passed",
		TokenExpires: r.TokenExpires, CertExpires: r.CertExpires, RateLimitLeft: r.RateLimitLeft}
	if r.Warned() {
		h.Outcome = store.HealthWarning
	}
	if step, failed := r.FirstFailure(); failed {
		h.Outcome, h.Step, h.Summary = store.HealthFailing, step.ID, step.Title
	}
	return h
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
