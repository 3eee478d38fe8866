package action

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"

	"github.com/scmadmin/scmadmin/store"
	"github.com/scmadmin/scmadmin/web/provider"
)

// Entry is one configuration a configuration file lists: its id and provider, its values by
// form field name (the secrets in plain text; a secret left out keeps the stored one), and
// whether it is enabled and the default. A value left out of Fields is empty.
type Entry struct {
	ID, Provider     string
	Fields           url.Values
	Enabled, Default bool
}

// EntryError is what is wrong with the file's entry at Index (-1: a configuration the file
// no longer lists), whose id is ID: the value of Field ("" when no one field is at fault).
type EntryError struct {
	Index          int
	ID             string
	Field, Message string
}

// EntryErrors are every fault found in a file; nothing was changed.
type EntryErrors []EntryError

func (e EntryErrors) Error() string {
	msgs := make([]string, len(e))
	for i, ee := range e {
		msgs[i] = fmt.Sprintf("%q: %s: %s", ee.ID, cmp.Or(ee.Field, "configuration"), ee.Message)
	}
	return strings.Join(msgs, "; ")
}

// sortedKeys are m's keys in order.
func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// Plan is what applying a file changes, in the order it is applied.
type Plan struct {
	Changes []PlannedChange
	file    string
	steps   []store.Step
	// stepOf are, for each step, the index of its change in Changes.
	stepOf []int
}

// Op is what a PlannedChange does to a configuration.
type Op string

// The operations of a plan.
const (
	OpCreate Op = "+"
	OpUpdate Op = "~"
	OpDelete Op = "-"
)

// PlannedChange is one configuration's change: Entry is its index in the file (-1 for one the
// file no longer lists); Fields are the fields that change (a secret's only by the words and
// fingerprints below, never its value).
type PlannedChange struct {
	Op       Op
	ID       string
	Provider string
	Name     string
	Entry    int
	Fields   []store.Change
}

// Words a plan says of a secret, as its change's From; its To is the fingerprint, or what it
// was → what it becomes.
const (
	SecretSet       = "set"
	SecretChanged   = "changed"
	SecretUnchanged = "unchanged"
)

// Field names of a plan's changes that are no form field.
const (
	FieldEnabled = "enabled"
	FieldDefault = "default"
)

// PlanFile works out what makes the configurations match entries, the configuration file's:
// create those it lists that do not exist, update those that differ (and mark every one it
// lists as managed by file), enable, disable and make default as it says, and, for the
// configurations file managed that it no longer lists, delete them (prune: disable, then
// delete) or hand them back to the pages and the API. file is the file's absolute path; ""
// (standard input) manages nothing and cannot prune. Every entry is validated as the form
// validates it; all faults come back at once, as EntryErrors.
func (a *Actions) PlanFile(ctx context.Context, file string, entries []Entry, prune bool) (Plan, error) {
	pl := &planner{a: a, plan: Plan{file: file}, seen: map[string]int{}}
	for i, e := range entries {
		pl.entry(ctx, i, e)
	}
	if pl.err != nil {
		return Plan{}, pl.err
	}
	pl.lifecycle(entries)
	if err := pl.unlisted(ctx, prune); err != nil {
		return Plan{}, err
	}
	if len(pl.errs) > 0 {
		return Plan{}, pl.errs
	}
	return pl.plan, nil
}

// planner builds a Plan, entry after entry.
type planner struct {
	a    *Actions
	plan Plan
	errs EntryErrors
	err  error // a fault of the database, not the file
	// seen are the entries' indexes by id; stored their configurations as they are.
	seen   map[string]int
	stored []*store.SCMConfig
	// changeOf is each entry's change in plan.Changes, -1 while it has none.
	changeOf []int
}

func (pl *planner) fault(i int, id, field, msg string) {
	pl.errs = append(pl.errs, EntryError{Index: i, ID: id, Field: field, Message: msg})
}

// entry plans the creation or update of entry i.
func (pl *planner) entry(ctx context.Context, i int, e Entry) {
	pl.stored, pl.changeOf = append(pl.stored, nil), append(pl.changeOf, -1)
	prev, dup := pl.seen[e.ID]
	p, ok := provider.Lookup(e.Provider)
	switch {
	case e.ID == "":
		pl.fault(i, e.ID, "id", "Give every configuration its id: the file matches configurations by id.")
		return
	case dup:
		pl.fault(i, e.ID, "id", fmt.Sprintf("The id %q is listed twice (entries %d and %d): list each configuration once.", e.ID, prev+1, i+1))
		return
	case e.ID == store.BuiltInRef:
		pl.fault(i, e.ID, "id", "The built-in configuration is hosted by the platform and has no settings: leave it out of the file.")
		return
	case !ok || !p.Selectable():
		pl.fault(i, e.ID, "provider", fmt.Sprintf("Choose a provider: one of %s.", strings.Join(selectableIDs(), ", ")))
		return
	}
	pl.seen[e.ID] = i
	stored, err := pl.a.st.SCMConfigByRef(ctx, e.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		pl.create(i, e, p)
	case err != nil:
		pl.err = err
	case stored.Provider != p.ID:
		pl.fault(i, e.ID, "provider", fmt.Sprintf("%q is a %s configuration: its provider cannot change. Give the new one another id.",
			e.ID, providerLabel(stored.Provider)))
	default:
		pl.stored[i] = &stored
		pl.update(ctx, i, e, p, stored)
	}
}

func selectableIDs() []string {
	var ids []string
	for _, p := range provider.Selectable() {
		ids = append(ids, p.ID)
	}
	return ids
}

func providerLabel(id string) string {
	if p, ok := provider.Lookup(id); ok {
		return p.Label
	}
	return id
}

// create plans the creation of entry i, a configuration of p.
func (pl *planner) create(i int, e Entry, p *provider.Provider) {
	vals, errs := p.Validate(e.Fields, nil)
	if msg := checkVanityID(e.ID); msg != "" {
		errs["id"] = msg
	}
	if pl.faults(i, e.ID, errs) {
		return
	}
	cfg, secrets := p.Config(vals)
	cfg.Ref, cfg.ManagedBy = e.ID, pl.plan.file
	var fields []store.Change
	for _, f := range p.Fields() {
		if v, ok := vals[f.Name]; ok && f.Kind == provider.KindSecret {
			fields = append(fields, store.Change{Field: f.Name, From: SecretSet, To: store.Fingerprint(v)})
		} else if ok {
			fields = append(fields, store.Change{Field: f.Name, To: v})
		}
	}
	if cfg.ManagedBy != "" {
		fields = append(fields, store.Change{Field: store.FieldManagedBy, To: cfg.ManagedBy})
	}
	if p.PushHooks() {
		secrets[store.WebhookSecret] = NewWebhookSecret()
	}
	pl.changeOf[i] = pl.change(PlannedChange{Op: OpCreate, ID: e.ID, Provider: p.ID, Name: cfg.DisplayName(), Entry: i, Fields: fields})
	pl.step(store.Step{Kind: store.StepCreate, Config: cfg, Secrets: secrets})
}

// faults records errs of entry i, reporting whether there were any.
func (pl *planner) faults(i int, id string, errs provider.Errors) bool {
	for _, name := range sortedKeys(errs) {
		pl.fault(i, id, name, errs[name])
	}
	return len(errs) > 0
}

// update plans the update of entry i over stored, a configuration of p.
func (pl *planner) update(ctx context.Context, i int, e Entry, p *provider.Provider, stored store.SCMConfig) {
	vals, errs := p.Validate(e.Fields, &stored)
	for _, f := range p.Fields() {
		if given := strings.TrimSpace(e.Fields.Get(f.Name)); f.Fixed && given != "" && !strings.EqualFold(given, stored.Value(f.Name)) {
			errs[f.Name] = fmt.Sprintf("The %s cannot change (it is %s): give the new one another id.", f.Label, stored.Value(f.Name))
		}
	}
	if pl.faults(i, e.ID, errs) {
		return
	}
	cfg, secrets := p.Config(vals)
	cfg.Ref, cfg.ManagedBy = stored.Ref, pl.plan.file
	if pl.plan.file == "" {
		cfg.ManagedBy = stored.ManagedBy // standard input manages nothing
	}
	fields, err := pl.secretChanges(ctx, stored, secrets)
	if err != nil {
		pl.err = err
		return
	}
	changes := cfg.Diff(stored, nil)
	if len(changes) == 0 && len(secrets) == 0 {
		return
	}
	pl.changeOf[i] = pl.change(PlannedChange{Op: OpUpdate, ID: e.ID, Provider: p.ID, Name: stored.DisplayName(), Entry: i, Fields: append(changes, fields...)})
	pl.step(store.Step{Kind: store.StepUpdate, Config: cfg, Secrets: secrets})
}

// secretChanges drops from secrets those equal to the stored ones, and says of each given
// whether it changes, by fingerprint.
func (pl *planner) secretChanges(ctx context.Context, stored store.SCMConfig, secrets map[string]string) ([]store.Change, error) {
	if len(secrets) == 0 {
		return nil, nil
	}
	current, err := pl.a.st.OpenSecrets(ctx, stored.ID)
	if err != nil {
		return nil, err
	}
	var changes []store.Change
	for _, name := range sortedKeys(secrets) {
		old, had := current[name]
		ch := store.Change{Field: name, From: SecretUnchanged, To: store.Fingerprint(old)}
		switch {
		case !had:
			ch.From, ch.To = SecretChanged, "not set → "+store.Fingerprint(secrets[name])
		case old != secrets[name]:
			ch.From, ch.To = SecretChanged, store.Fingerprint(old)+" → "+store.Fingerprint(secrets[name])
		default:
			delete(secrets, name)
		}
		changes = append(changes, ch)
	}
	return changes, nil
}

// change adds c to the plan and returns its index.
func (pl *planner) change(c PlannedChange) int {
	pl.plan.Changes = append(pl.plan.Changes, c)
	return len(pl.plan.Changes) - 1
}

// step adds st to the plan, as part of the last change.
func (pl *planner) step(st store.Step) {
	pl.plan.steps = append(pl.plan.steps, st)
	pl.plan.stepOf = append(pl.plan.stepOf, len(pl.plan.Changes)-1)
}

// name is entry i's configuration's name in the plan.
func (pl *planner) name(i int) string {
	if ch := pl.changeOf[i]; ch >= 0 {
		return pl.plan.Changes[ch].Name
	}
	return pl.stored[i].DisplayName()
}

// lifecycleStep adds a step of kind on entry i's configuration, noting field's change from
// from to to in its change.
func (pl *planner) lifecycleStep(i int, id string, kind store.StepKind, field string, from, to bool) {
	ch := pl.changeOf[i]
	if ch < 0 {
		st := pl.stored[i]
		ch = pl.change(PlannedChange{Op: OpUpdate, ID: id, Provider: st.Provider, Name: st.DisplayName(), Entry: i})
		pl.changeOf[i] = ch
	}
	c := &pl.plan.Changes[ch]
	change := store.Change{Field: field, From: fmt.Sprint(from), To: fmt.Sprint(to)}
	if c.Op == OpCreate {
		change.From = ""
	}
	c.Fields = append(c.Fields, change)
	pl.plan.steps = append(pl.plan.steps, store.Step{Kind: kind, Config: store.SCMConfig{Ref: id}})
	pl.plan.stepOf = append(pl.plan.stepOf, ch)
}

// lifecycle plans enabling, making default and disabling, in the order the rules allow: the
// configurations to enable first, then the default, then those to disable.
func (pl *planner) lifecycle(entries []Entry) {
	// planned reports whether entry i is created or exists (and was not refused).
	planned := func(i int) bool { return pl.stored[i] != nil || pl.changeOf[i] >= 0 }
	wasDefault := -1
	for i, e := range entries {
		if st := pl.stored[i]; st != nil && st.IsDefault {
			wasDefault = i
		}
		if st := pl.stored[i]; e.Enabled && st != nil && !st.Enabled {
			pl.lifecycleStep(i, e.ID, store.StepEnable, FieldEnabled, false, true)
		}
	}
	newDefault := -1
	for i, e := range entries {
		if !e.Default || !planned(i) {
			continue
		}
		if newDefault >= 0 {
			pl.fault(i, e.ID, FieldDefault, fmt.Sprintf("Only one configuration can be the default: %q is too.", entries[newDefault].ID))
			continue
		}
		newDefault = i
		if err := (store.SCMConfig{Enabled: e.Enabled}).CanMakeDefault(); err != nil {
			pl.fault(i, e.ID, FieldDefault, refusal(store.SCMConfig{Name: pl.name(i)}, err).Message)
			continue
		}
		if st := pl.stored[i]; st == nil || !st.IsDefault {
			pl.lifecycleStep(i, e.ID, store.StepMakeDefault, FieldDefault, false, true)
		}
	}
	if newDefault < 0 && wasDefault >= 0 {
		// The file says its default is not the default: the built-in one is again.
		pl.lifecycleStep(wasDefault, entries[wasDefault].ID, store.StepMakeDefault, FieldDefault, true, false)
		pl.plan.steps[len(pl.plan.steps)-1].Config.Ref = store.BuiltInRef
	}
	for i, e := range entries {
		if st := pl.stored[i]; e.Enabled || !planned(i) || st != nil && !st.Enabled {
			continue
		}
		pl.lifecycleStep(i, e.ID, store.StepDisable, FieldEnabled, true, false)
	}
}

// unlisted plans, for each configuration file manages that it no longer lists, its delete
// (prune) or its release to the pages and the API.
func (pl *planner) unlisted(ctx context.Context, prune bool) error {
	if pl.plan.file == "" {
		return nil
	}
	for after := int64(0); ; {
		page, err := pl.a.st.SCMConfigsAfter(ctx, after, 1000)
		if err != nil {
			return err
		}
		if len(page) == 0 {
			return nil
		}
		after = page[len(page)-1].ID
		for _, c := range page {
			if _, listed := pl.seen[c.Ref]; listed || c.ManagedBy != pl.plan.file {
				continue
			}
			pl.unlist(c, prune)
		}
	}
}

// unlist plans the delete of c (prune) or its release.
func (pl *planner) unlist(c store.SCMConfig, prune bool) {
	if !prune {
		pl.change(PlannedChange{Op: OpUpdate, ID: c.Ref, Provider: c.Provider, Name: c.DisplayName(), Entry: -1,
			Fields: []store.Change{{Field: store.FieldManagedBy, From: c.ManagedBy}}})
		released := c
		released.ManagedBy = ""
		pl.step(store.Step{Kind: store.StepUpdate, Config: released})
		return
	}
	pl.change(PlannedChange{Op: OpDelete, ID: c.Ref, Provider: c.Provider, Name: c.DisplayName(), Entry: -1})
	if c.Enabled {
		pl.step(store.Step{Kind: store.StepDisable, Config: store.SCMConfig{Ref: c.Ref}})
	}
	pl.step(store.Step{Kind: store.StepDelete, Config: store.SCMConfig{Ref: c.Ref}})
}

// ApplyFile takes plan in one transaction: every change, or, when a rule refuses one, none,
// and EntryErrors saying which entry and why. With dryRun every step runs and is checked, and
// nothing is written.
func (a *Actions) ApplyFile(ctx context.Context, by store.Actor, plan Plan, dryRun bool) error {
	err := a.st.ApplySCMConfigs(ctx, plan.file, plan.steps, by, dryRun)
	var se *store.StepError
	if !errors.As(err, &se) {
		return err
	}
	st := plan.steps[se.Index]
	ch := plan.Changes[plan.stepOf[se.Index]]
	ee := EntryError{Index: ch.Entry, ID: ch.ID, Message: se.Err.Error()}
	switch {
	case errors.Is(err, store.ErrDuplicate):
		p, _ := provider.Lookup(st.Config.Provider)
		r := a.duplicate(ctx, p, st.Config)
		ee.Field, ee.Message = p.Identity, r.Message
	case errors.Is(err, store.ErrIDTaken):
		ee.Field, ee.Message = "id", fmt.Sprintf("The id %q was another configuration's, since deleted: ids are never reused; choose another.", ch.ID)
	case errors.Is(err, store.ErrNotFound):
		ee.Message = notFound(st.Config.Ref).Message
	default:
		c, lerr := a.st.SCMConfigByRef(ctx, st.Config.Ref)
		if lerr != nil {
			c = store.SCMConfig{Ref: ch.ID, Name: ch.Name} // created by the rolled back transaction
		}
		r := refusal(c, se.Err)
		if r == nil {
			return err
		}
		ee.Message = r.Message
		ee.Field = map[store.StepKind]string{store.StepEnable: FieldEnabled, store.StepDisable: FieldEnabled, store.StepMakeDefault: FieldDefault}[st.Kind]
	}
	return EntryErrors{ee}
}
