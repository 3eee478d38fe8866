package web

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/scmadmin/scmadmin/store"
	"github.com/scmadmin/scmadmin/views"
	"github.com/scmadmin/scmadmin/web/action"
	"github.com/scmadmin/scmadmin/web/probe"
	"github.com/scmadmin/scmadmin/web/provider"
)

// List paging: 25 rows by default, at most 100.
const (
	defaultPerPage = 25
	maxPerPage     = 100
	maxSearchLen   = 200
	maxPage        = 1_000_000 // keeps the offset far from overflowing
)

// listHealths are the healths the list filters by.
var listHealths = []store.Health{store.HealthPassed, store.HealthWarning, store.HealthFailing, store.HealthUntested}

// parseListQuery reads the list's view from a URL query; a value out of range falls back to
// the default rather than failing, so that an edited or old link still shows a list.
func parseListQuery(v url.Values) views.ListQuery {
	q := views.ListQuery{Q: strings.TrimSpace(v.Get("q")), Sort: "created", Page: 1, PerPage: defaultPerPage}
	if utf8.RuneCountInString(q.Q) > maxSearchLen {
		q.Q = string([]rune(q.Q)[:maxSearchLen])
	}
	switch sort := v.Get("sort"); sort {
	case string(store.SortProvider), string(store.SortWebsiteURL), string(store.SortCreated):
		q.Sort = sort
	}
	q.Desc = v.Get("dir") == "desc"
	if p, ok := provider.Lookup(v.Get("provider")); ok {
		q.Provider = p.ID
	}
	if st := v.Get("state"); slices.Contains(views.States, st) {
		q.State = st
	}
	if h := store.Health(v.Get("health")); slices.Contains(listHealths, h) {
		q.Health = string(h)
	}
	if n, err := strconv.Atoi(v.Get("page")); err == nil && n > 0 {
		q.Page = min(n, maxPage)
	}
	if n, err := strconv.Atoi(v.Get("per_page")); err == nil && n > 0 {
		q.PerPage = min(n, maxPerPage)
	}
	return q
}

func (s *server) listSCM(c echo.Context) error {
	q, p := parseListQuery(c.QueryParams()), s.page(c, listTitle)
	added, err := s.popFlash(c, justAddedFlash)
	if err != nil {
		return err
	}
	return s.renderList(c, http.StatusOK, q, p, added)
}

// justAddedFlash carries a new configuration's id from its create to the list the create
// redirects to, which shows it even when it sorts past the page shown.
const justAddedFlash = "just-added"

// listTitle is the list page's title.
const listTitle = "Source Code Management"

// renderList renders the list as q views it: the page, or for htmx the table with the
// page's messages swapped out of band. The configuration added (its id, or ""), just created,
// is in the table even when it sorts past the page: that list is read for this response alone.
func (s *server) renderList(c echo.Context, status int, q views.ListQuery, p views.Page, added string) error {
	read := func(ctx context.Context) (renderedList, error) { return s.readList(ctx, q, p.User, added) }
	var l renderedList
	var err error
	if added == "" {
		l, err = s.lists.load(c.Request().Context(), s.versions.read, listKey{query: q, user: p.User}, read)
	} else {
		l, err = read(c.Request().Context())
	}
	if err != nil {
		return err
	}
	page := l.page
	if p != (views.Page{Title: listTitle, User: p.User}) {
		// A message is for this response alone.
		page = views.SCMListPage(p, l.query, l.table)
	}
	return render(c, status, page, templ.Join(l.table, views.Messages(p, true)))
}

// renderedList is one view of the list, rendered for one admin: its table (what htmx swaps)
// and its page without a message. Every page of the list asks for one, and most of them
// find it already rendered in s.lists.
type renderedList struct {
	query       views.ListQuery // as shown: a page past the end shows the last one
	table, page templ.Component
}

// listKey is what a rendered list depends on: the view, and who is signed in (the page
// shows their name).
type listKey struct {
	query views.ListQuery
	user  string
}

// listCountedTo is where the list stops counting a search's or filter's matches: it shows
// "1,000+" past it, as code hosts do.
const listCountedTo = 1000

// maxCachedLists bounds the lists kept: each is tens of kilobytes, and a search as one
// types asks for one per pause.
const maxCachedLists = 16

// readList reads and renders the view q of the list for user; the configuration added (its
// id, or "") is in the table even when it sorts past the page.
func (s *server) readList(ctx context.Context, q views.ListQuery, user, added string) (renderedList, error) {
	sq := storeQuery(q)
	// A search or filter counts its matches up to listCountedTo (or the page's end, if later):
	// counting every match of a broad one cost more than finding the page.
	sq.CountAtMost = max(listCountedTo, sq.Offset+sq.Limit)
	configs, total, err := s.st.ListSCMConfigs(ctx, sq)
	if err != nil {
		return renderedList{}, err
	}
	if last := max(1, (total+q.PerPage-1)/q.PerPage); q.Page > last {
		// Past the end (an old link, a delete): show the last page rather than nothing.
		q.Page = last
		sq.Offset = (q.Page - 1) * q.PerPage
		if configs, total, err = s.st.ListSCMConfigs(ctx, sq); err != nil {
			return renderedList{}, err
		}
	}
	if added != "" && !slices.ContainsFunc(configs, func(c store.SCMConfig) bool { return c.Ref == added }) {
		if c, err := s.st.SCMConfigByRef(ctx, added); err == nil {
			configs = append(configs, c)
		}
	}
	l := renderedList{query: q}
	list := views.SCMList{Query: q, Configs: configs, Total: total, CountedTo: sq.CountAtMost}
	if l.table, err = views.Prerender(ctx, views.SCMTable(list)); err != nil {
		return renderedList{}, err
	}
	if l.page, err = views.Prerender(ctx, views.SCMListPage(views.Page{Title: listTitle, User: user}, q, l.table)); err != nil {
		return renderedList{}, err
	}
	return l, nil
}

// storeQuery is the store's query for the view q of the list. The search also finds the
// providers whose label holds it, and the configurations whose badge (Disabled, Default) does.
func storeQuery(q views.ListQuery) store.SCMQuery {
	sq := store.SCMQuery{Search: q.Q, Provider: q.Provider, Health: store.Health(q.Health), Sort: store.SCMSort(q.Sort), Desc: q.Desc,
		Limit: q.PerPage, Offset: (q.Page - 1) * q.PerPage, ProviderOrder: provider.ByLabel()}
	if q.State != "" {
		enabled := q.State == "enabled"
		sq.Enabled = &enabled
	}
	search := strings.ToLower(q.Q)
	if search == "" {
		return sq
	}
	for _, p := range provider.All() {
		if strings.Contains(strings.ToLower(p.Label), search) {
			sq.Providers = append(sq.Providers, p.ID)
		}
	}
	sq.SearchDisabled = strings.Contains("disabled", search)
	sq.SearchDefault = strings.Contains("default", search)
	return sq
}

// form returns the Add form for p showing values.
func (s *server) form(p *provider.Provider, values provider.Values, errs provider.Errors) views.SCMForm {
	return views.SCMForm{Provider: p, Values: values, Errors: errs, CallbackURL: s.callbackURL()}
}

// addTitle is the Add form's title.
const addTitle = "Add SCM Configuration"

func (s *server) newSCM(c echo.Context) error {
	p := provider.Selectable()[0]
	if id := c.QueryParam("provider"); id != "" {
		var ok bool
		if p, ok = provider.Lookup(id); !ok || !p.Selectable() {
			return s.errorPage(c, http.StatusBadRequest, "Unknown provider",
				fmt.Sprintf("There is no provider %q to add. Choose one from the list on the Add SCM Configuration page.", id))
		}
	}
	f := s.form(p, carried(p, c.QueryParams()), nil)
	// htmx sends what was typed along; the address bar shows only the provider.
	c.Response().Header().Set("HX-Push-Url", "/admin/scm/new?provider="+p.ID)
	// With htmx, the new fields come with an empty error summary: the last one spoke of others.
	return render(c, http.StatusOK, views.SCMFormPage(s.page(c, addTitle), f), templ.Join(views.ProviderFields(f), views.ErrorSummary(f, true)))
}

func (s *server) createSCM(c echo.Context) error {
	form, err := c.FormParams()
	if err != nil {
		return errUnreadableForm
	}
	if p, ok := switchedProvider(form); ok {
		return s.showSwitchedForm(c, p, form)
	}
	created, err := s.actions.Create(c.Request().Context(), actor(c), action.Input{Provider: form.Get("provider"), Fields: form})
	if r, ok := action.AsRefusal(err); ok && r.Fields != nil {
		vals := typed
		p, known := provider.Lookup(form.Get("provider"))
		if !known || !p.Selectable() {
			p, vals = provider.Selectable()[0], func(p *provider.Provider, _ url.Values) provider.Values { return defaults(p) }
		}
		f := s.form(p, vals(p, form), r.Fields)
		f.Clash = r.Clash
		return s.renderForm(c, http.StatusUnprocessableEntity, addTitle, f, store.SCMConfig{}, nil)
	}
	if err != nil {
		return err
	}
	s.keepFlash(c, justAddedFlash, created.Config.Ref)
	if err := s.setStatus(c, noted("Added “"+created.Config.DisplayName()+"”.", created.Notes)); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/admin/scm")
}

// switchedProvider reports whether, without JavaScript, the admin chose another provider:
// the form is posted with "choose", or with the fields of another provider than the one
// chosen (fields_for says whose). Then that provider's form is shown, nothing is created.
func switchedProvider(form url.Values) (*provider.Provider, bool) {
	p, ok := provider.Lookup(form.Get("provider"))
	if !ok || !p.Selectable() {
		return nil, false
	}
	shown := form.Get("fields_for")
	return p, form.Has("choose") || (shown != "" && shown != p.ID)
}

// showSwitchedForm shows p's form, carrying over what was typed into the fields it shares.
func (s *server) showSwitchedForm(c echo.Context, p *provider.Provider, form url.Values) error {
	pg := s.page(c, addTitle)
	pg.Status = "Fill in the fields for " + p.Label + ", then create the configuration."
	return render(c, http.StatusOK, views.SCMFormPage(pg, s.form(p, carried(p, form), nil)), nil)
}

func countFields(n int) string {
	if n == 1 {
		return "correct the field marked"
	}
	return fmt.Sprintf("correct the %d fields marked", n)
}

// defaults are what p's Add form is pre-filled with.
func defaults(p *provider.Provider) provider.Values {
	v := provider.Values{}
	for _, f := range p.Fields() {
		if f.Default != "" {
			v[f.Name] = f.Default
		}
	}
	return v
}

// carried is the form of p after a switch from the provider named by fields_for in typed:
// p's defaults, except where the admin typed something of their own into a field p has too.
// Once any URL is the admin's own, p's pre-filled public URLs are left out: one host's URLs
// are never mixed with another's. Secrets are never carried (they are never sent).
func carried(p *provider.Provider, typed url.Values) provider.Values {
	v := defaults(p)
	from, ok := provider.Lookup(typed.Get("fields_for"))
	if !ok {
		return v
	}
	own := provider.Values{}
	for _, f := range p.Fields() {
		old, shared := from.Field(f.Name)
		if t := strings.TrimSpace(typed.Get(f.Name)); shared && f.Kind != provider.KindSecret && t != "" && t != old.Default {
			own[f.Name] = truncate(t, f.MaxLen())
		}
	}
	if slices.ContainsFunc(p.Fields(), func(f provider.Field) bool { return f.IsURL() && own[f.Name] != "" }) {
		for _, f := range p.Fields() {
			if f.IsURL() {
				delete(v, f.Name)
			}
		}
	}
	maps.Copy(v, own)
	return v
}

// typed returns what was typed into p's fields, secrets excepted, to show the form again;
// cut to the field's limit, so that a huge input is refused without being sent back whole.
func typed(p *provider.Provider, form url.Values) provider.Values {
	v := provider.Values{}
	for _, f := range p.Fields() {
		if f.Kind != provider.KindSecret {
			v[f.Name] = truncate(strings.TrimSpace(form.Get(f.Name)), f.MaxLen()+1)
		}
	}
	return v
}

// configID is the configuration id the :id parameter names.
func configID(c echo.Context) string { return c.Param("id") }

// loadSCM returns the configuration the :id parameter names; a Refusal (404) when there is
// none.
func (s *server) loadSCM(c echo.Context) (store.SCMConfig, *provider.Provider, error) {
	return s.actions.Load(c.Request().Context(), configID(c))
}

// loadHostedSCM is loadSCM for a configuration of an outside host: a Refusal (400) for the
// built-in one, which has no settings and no connection.
func (s *server) loadHostedSCM(c echo.Context) (store.SCMConfig, *provider.Provider, error) {
	return s.actions.LoadHosted(c.Request().Context(), configID(c))
}

// historyOnDetails is how many of its audit events a configuration's details page shows.
const historyOnDetails = 20

func (s *server) showSCM(c echo.Context) error {
	cfg, p, err := s.loadSCM(c)
	if r, ok := action.AsRefusal(err); ok && errors.Is(r, store.ErrNotFound) {
		return s.redirectOldID(c, err)
	} else if err != nil {
		return err
	}
	return s.renderDetails(c, http.StatusOK, cfg, p, s.page(c, cfg.DisplayName()), nil)
}

// redirectOldID sends the built-in configuration's old address, by its number, to the
// one by its id (308); any other id not found is notFound.
func (s *server) redirectOldID(c echo.Context, notFound error) error {
	if c.Param("id") != strconv.Itoa(store.BuiltInID) {
		return notFound
	}
	return c.Redirect(http.StatusPermanentRedirect, views.DetailsURL(store.BuiltInRef))
}

// repositoriesOnDetails is how many repositories the details page lists.
const repositoriesOnDetails = 100

// renderDetails renders cfg's details page, with the checklist of a connection test just run.
func (s *server) renderDetails(c echo.Context, status int, cfg store.SCMConfig, p *provider.Provider, pg views.Page, test *probe.Result) error {
	ctx := c.Request().Context()
	secrets, err := s.st.SCMSecrets(ctx, cfg.ID)
	if err != nil {
		return err
	}
	history, total, err := s.st.ListAudit(ctx, store.AuditQuery{ConfigID: cfg.ID, Limit: historyOnDetails})
	if err != nil {
		return err
	}
	d := views.SCMDetails{Config: cfg, Provider: p, Secrets: secrets, History: history, HistoryTotal: total, Test: test}
	if d.Repositories, err = s.st.Repositories(ctx, cfg.ID, 0, repositoriesOnDetails); err != nil {
		return err
	}
	if d.Health, err = s.st.HealthResults(ctx, cfg.ID); err != nil {
		return err
	}
	if p.PushHooks() {
		if d.Webhook, err = s.webhookDetails(c, cfg, p); err != nil {
			return err
		}
	}
	if p.APIBuilds {
		if d.Builds, err = s.st.Builds(ctx, cfg.ID, recentOnDetails); err != nil {
			return err
		}
		if d.BuildHook, err = s.buildHookDetails(ctx, cfg.ID); err != nil {
			return err
		}
	}
	if p.OAuth != nil {
		if d.OAuth, err = s.oauthDetails(c, cfg); err != nil {
			return err
		}
	}
	return render(c, status, views.SCMDetailsPage(pg, d), nil)
}

// errUnreadableForm answers a form body that cannot be parsed.
var errUnreadableForm = echo.NewHTTPError(http.StatusBadRequest, "The form could not be read. Reload the page and try again.")

func (s *server) editSCM(c echo.Context) error {
	cfg, p, err := s.loadHostedSCM(c)
	if err != nil {
		return err
	}
	if _, err := s.actions.CheckChange(c.Request().Context(), cfg.Ref); err != nil {
		return err
	}
	return s.renderForm(c, http.StatusOK, "Edit "+cfg.DisplayName(), s.form(p, provider.Values(cfg.Values()), nil), cfg, nil)
}

func (s *server) updateSCM(c echo.Context) error {
	form, err := c.FormParams()
	if err != nil {
		return errUnreadableForm
	}
	updated, err := s.actions.Update(c.Request().Context(), actor(c), configID(c), action.Input{Fields: form})
	if r, ok := action.AsRefusal(err); ok && r.Fields != nil {
		cfg, p, err := s.loadSCM(c)
		if err != nil {
			return err
		}
		f := s.form(p, typed(p, form), r.Fields)
		f.Clash = r.Clash
		return s.renderForm(c, http.StatusUnprocessableEntity, "Edit "+cfg.DisplayName(), f, cfg, nil)
	}
	if err != nil {
		return err
	}
	if err := s.setStatus(c, noted("Saved “"+updated.Config.DisplayName()+"”.", updated.Notes)); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, views.DetailsURL(updated.Config.Ref))
}

// renderForm renders the Add form, or the Edit form of stored (with its secrets' fingerprints)
// when stored has an id; with the checklist of a "Test before saving" just run. A 422 says
// how many fields to correct.
func (s *server) renderForm(c echo.Context, status int, title string, f views.SCMForm, stored store.SCMConfig, test *probe.Result) error {
	f.Config, f.Test = stored, test
	if stored.ID != 0 {
		var err error
		if f.Secrets, err = s.st.SCMSecrets(c.Request().Context(), stored.ID); err != nil {
			return err
		}
	}
	// The error summary at the top of the form is the page's one alert.
	if status == http.StatusUnprocessableEntity {
		summarize(&f, "The configuration was not saved")
	} else if test != nil {
		summarize(&f, "The connection was not tested")
	}
	return render(c, status, views.SCMFormPage(s.page(c, title), f), nil)
}

// summarize heads f's error summary, if any field is at fault, with what was not done.
func summarize(f *views.SCMForm, notDone string) {
	if len(f.Errors) > 0 {
		f.Summary = fmt.Sprintf("%s: %s below.", notDone, countFields(len(f.Errors)))
	}
}

// healthTimeout bounds /healthz: a database that does not answer within it is unavailable.
const healthTimeout = 3 * time.Second

func (s *server) healthz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), healthTimeout)
	defer cancel()
	if err := s.st.Ping(ctx); err != nil {
		s.log.Error("health check failed", "err", err)
		return c.String(http.StatusServiceUnavailable, "database unavailable")
	}
	if err := s.heartbeat.check(ctx, s.st); err != nil {
		s.log.Error("health check failed: the database cannot be written", "err", err)
		cause, ok := store.Unwritable(err)
		if !ok {
			cause = "the write failed"
		}
		return c.String(http.StatusServiceUnavailable, "the database cannot be written: "+cause)
	}
	return c.String(http.StatusOK, "ok")
}
