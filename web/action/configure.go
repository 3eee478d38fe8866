package action

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/scmadmin/scmadmin/store"
	"github.com/scmadmin/scmadmin/web/provider"
)

// Saved is a configuration as Create or Update stored it, with the notes worth reading about
// its values (provider.Notes, such as an API on another host than the Website URL): they did
// not stop the save, and every front end shows them with its confirmation.
type Saved struct {
	Config store.SCMConfig
	Notes  []string
}

// Create validates in and stores a new configuration of in.Provider, enabled unless in says
// otherwise. A provider whose pushes reach scmadmin's webhook gets its webhook secret.
func (a *Actions) Create(ctx context.Context, by store.Actor, in Input) (Saved, error) {
	p, ok := provider.Lookup(in.Provider)
	if !ok || !p.Selectable() {
		return Saved{}, invalid(provider.Errors{"provider": "Choose a provider from the list."})
	}
	vals, errs := p.Validate(in.Fields, nil)
	if in.Exact {
		maps.Copy(errs, p.Exact(in.Fields, nil))
	}
	if msg := checkVanityID(in.ID); msg != "" {
		errs["id"] = msg
	}
	if len(errs) > 0 {
		return Saved{}, invalid(errs)
	}
	cfg, secrets := p.Config(vals)
	cfg.Ref = in.ID
	if p.PushHooks() {
		secrets[store.WebhookSecret] = NewWebhookSecret()
	}
	created, err := a.st.CreateSCMConfig(ctx, cfg, secrets, by)
	switch {
	case errors.Is(err, store.ErrDuplicate):
		return Saved{}, a.duplicate(ctx, p, cfg)
	case errors.Is(err, store.ErrIDTaken):
		msg := fmt.Sprintf("The id %q is taken, now or by a configuration since deleted: choose another.", in.ID)
		return Saved{}, &Refusal{Rule: store.ErrIDTaken, Message: msg, Fields: provider.Errors{"id": msg}}
	case err != nil:
		return Saved{}, err
	}
	a.log.Info("scm config created", "id", created.Ref, "provider", created.Provider)
	saved := Saved{Config: created, Notes: p.Notes(in.Fields, vals)}
	if in.Disabled {
		saved.Config.Enabled = false
		return saved, a.st.SetEnabled(ctx, created.ID, false, by)
	}
	return saved, nil
}

var vanityID = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// checkVanityID says what is wrong with a vanity id, "" when nothing (or none is given). It
// holds a letter, so that it never clashes with the numbers the server gives.
func checkVanityID(id string) string {
	switch {
	case id == "":
		return ""
	case !vanityID.MatchString(id):
		return "The id must be 1 to 63 lower-case letters, digits, dashes and underscores, starting with a letter or digit."
	case strings.Trim(id, "0123456789") == "":
		return "The id must hold a letter, dash or underscore: numbers are the ids the server gives."
	case slices.Contains(reservedIDs, id):
		return fmt.Sprintf("The id %q is a word the addresses use (as in /admin/scm/new or /v1/scms/oauth/finish): choose another.", id)
	}
	return ""
}

// reservedIDs are the words the routes use where a configuration's id stands
// (/admin/scm/new, /admin/scm/test, /v1/scms/oauth/finish): a configuration of that id would
// have no page of its own.
var reservedIDs = []string{"new", "test", "oauth"}

// Update validates in over configuration id's stored values and saves the result. Fixed
// fields keep their stored values; a secret left empty keeps the stored secret.
func (a *Actions) Update(ctx context.Context, by store.Actor, id string, in Input) (Saved, error) {
	stored, p, err := a.LoadHosted(ctx, id)
	if err != nil {
		return Saved{}, err
	}
	if err := stored.CanChange(); err != nil {
		return Saved{}, refusal(stored, err)
	}
	fields := overStored(stored, in)
	vals, errs := p.Validate(fields, &stored)
	if in.Exact {
		maps.Copy(errs, p.Exact(in.Fields, &stored))
	}
	if len(errs) > 0 {
		return Saved{}, invalid(errs)
	}
	cfg, secrets := p.Config(vals)
	cfg.ID, cfg.Ref = stored.ID, stored.Ref
	updated, err := a.st.UpdateSCMConfig(ctx, cfg, secrets, by)
	switch {
	case errors.Is(err, store.ErrDuplicate):
		return Saved{}, a.duplicate(ctx, p, cfg)
	case errors.Is(err, store.ErrNotFound):
		return Saved{}, notFound(id)
	case errors.Is(err, store.ErrManaged):
		return Saved{}, refusal(stored, err)
	case err != nil:
		return Saved{}, err
	}
	return Saved{Config: updated, Notes: p.Notes(fields, vals)}, nil
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
		r.Fields[p.Identity] = fmt.Sprintf("%s is already registered for %s in “%s” (configuration %s). Edit that configuration instead.",
			idLabel, cfg.WebsiteURL, other.DisplayName(), other.Ref)
	}
	r.Message = r.Fields[p.Identity]
	return r
}
