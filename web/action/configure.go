package action

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"

	"github.com/scmadmin/scmadmin/store"
	"github.com/scmadmin/scmadmin/web/provider"
)

// Create validates in and stores a new, enabled configuration of in.Provider. A provider
// whose builds start from pushes gets its webhook secret.
func (a *Actions) Create(ctx context.Context, by store.Actor, in Input) (store.SCMConfig, error) {
	p, ok := provider.Lookup(in.Provider)
	if !ok || !p.Selectable() {
		return store.SCMConfig{}, invalid(provider.Errors{"provider": "Choose a provider from the list."})
	}
	vals, errs := p.Validate(in.Fields, nil)
	if len(errs) > 0 {
		return store.SCMConfig{}, invalid(errs)
	}
	cfg, secrets := p.Config(vals)
	if p.Webhook != nil {
		secrets[store.WebhookSecret] = NewWebhookSecret()
	}
	created, err := a.st.CreateSCMConfig(ctx, cfg, secrets, by)
	if errors.Is(err, store.ErrDuplicate) {
		return store.SCMConfig{}, a.duplicate(ctx, p, cfg)
	}
	if err != nil {
		return store.SCMConfig{}, err
	}
	a.log.Info("scm config created", "id", created.ID, "provider", created.Provider)
	return created, nil
}

// Update validates in over configuration id's stored values and saves the result. Fixed
// fields keep their stored values; a secret left empty keeps the stored secret.
func (a *Actions) Update(ctx context.Context, by store.Actor, id string, in Input) (store.SCMConfig, error) {
	stored, p, err := a.LoadHosted(ctx, id)
	if err != nil {
		return store.SCMConfig{}, err
	}
	vals, errs := p.Validate(overStored(stored, in), &stored)
	if len(errs) > 0 {
		return store.SCMConfig{}, invalid(errs)
	}
	cfg, secrets := p.Config(vals)
	cfg.ID, cfg.Ref = stored.ID, stored.Ref
	updated, err := a.st.UpdateSCMConfig(ctx, cfg, secrets, by)
	switch {
	case errors.Is(err, store.ErrDuplicate):
		return store.SCMConfig{}, a.duplicate(ctx, p, cfg)
	case errors.Is(err, store.ErrNotFound):
		return store.SCMConfig{}, notFound(id)
	}
	return updated, err
}

// overStored is in's fields over stored's values: a field in leaves out keeps its value.
func overStored(stored store.SCMConfig, in Input) url.Values {
	fields := maps.Clone(in.Fields)
	if fields == nil {
		fields = url.Values{}
	}
	for name, v := range stored.Values() {
		if !fields.Has(name) {
			fields.Set(name, v)
		}
	}
	return fields
}

// duplicate refuses cfg, whose identity another configuration holds, naming that one.
func (a *Actions) duplicate(ctx context.Context, p *provider.Provider, cfg store.SCMConfig) *Refusal {
	idLabel := "This value"
	if f, ok := p.Field(p.Identity); ok {
		idLabel = f.Label + " " + cfg.Value(p.Identity)
	}
	r := &Refusal{Rule: store.ErrDuplicate, Fields: provider.Errors{}}
	other, err := a.st.SCMConfigByUniqueKey(ctx, cfg.UniqueKey)
	if err != nil {
		// Deleted between the write and this look-up, or the database failed: say what is known.
		a.log.Warn("look up the configuration a duplicate clashes with", "err", err)
		r.Fields[p.Identity] = fmt.Sprintf("%s is already registered for %s.", idLabel, cfg.WebsiteURL)
	} else {
		r.Clash = &other
		r.Fields[p.Identity] = fmt.Sprintf("%s is already registered for %s in “%s” (configuration %d). Edit that configuration instead.",
			idLabel, cfg.WebsiteURL, other.DisplayName(), other.ID)
	}
	r.Message = r.Fields[p.Identity]
	return r
}
