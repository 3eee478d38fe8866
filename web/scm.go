package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/scmadmin/scmadmin/store"
	"github.com/scmadmin/scmadmin/views"
	"github.com/scmadmin/scmadmin/web/provider"
)

// List paging: 25 rows by default, at most 100.
const (
	defaultPerPage = 25
	maxPerPage     = 100
	maxSearchLen   = 200
)

// parseListQuery reads the list's view from the URL; a value out of range falls back to the
// default rather than failing, so that an edited or old link still shows a list.
func parseListQuery(c echo.Context) views.ListQuery {
	q := views.ListQuery{Q: strings.TrimSpace(c.QueryParam("q")), Sort: "created", Page: 1, PerPage: defaultPerPage}
	if utf8.RuneCountInString(q.Q) > maxSearchLen {
		q.Q = string([]rune(q.Q)[:maxSearchLen])
	}
	switch sort := c.QueryParam("sort"); sort {
	case string(store.SortProvider), string(store.SortWebsiteURL), string(store.SortCreated):
		q.Sort = sort
	}
	q.Desc = c.QueryParam("dir") == "desc"
	if n, err := strconv.Atoi(c.QueryParam("page")); err == nil && n > 0 {
		q.Page = n
	}
	if n, err := strconv.Atoi(c.QueryParam("per_page")); err == nil && n > 0 {
		q.PerPage = min(n, maxPerPage)
	}
	return q
}

func (s *server) listSCM(c echo.Context) error {
	q := parseListQuery(c)
	sq := store.SCMQuery{Search: q.Q, Sort: store.SCMSort(q.Sort), Desc: q.Desc, Limit: q.PerPage, Offset: (q.Page - 1) * q.PerPage}
	if q.Q != "" {
		for _, p := range provider.All() {
			if strings.Contains(strings.ToLower(p.Label), strings.ToLower(q.Q)) {
				sq.Providers = append(sq.Providers, p.ID)
			}
		}
	}
	configs, total, err := s.st.ListSCMConfigs(c.Request().Context(), sq)
	if err != nil {
		return err
	}
	l := views.SCMList{Query: q, Configs: configs, Total: total}
	return render(c, http.StatusOK, views.SCMListPage(s.page(c, "Source Code Management"), l), views.SCMTable(l))
}

// form returns the Add form for p showing values.
func (s *server) form(p *provider.Provider, values provider.Values, errs provider.Errors) views.SCMForm {
	return views.SCMForm{Provider: p, Values: values, Errors: errs, CallbackURL: s.baseURL + "/oauth/" + p.ID + "/callback"}
}

func (s *server) newSCM(c echo.Context) error {
	p := provider.Selectable()[0]
	if id := c.QueryParam("provider"); id != "" {
		var ok bool
		if p, ok = provider.Lookup(id); !ok || !p.Selectable() {
			return s.errorPage(c, http.StatusBadRequest, "Unknown provider",
				fmt.Sprintf("There is no provider %q to add. Choose one from the list on the Add SCM Configuration page.", id))
		}
	}
	values := provider.Values{}
	for _, f := range p.Fields() {
		if f.Default != "" {
			values[f.Name] = f.Default
		}
	}
	f := s.form(p, values, nil)
	return render(c, http.StatusOK, views.SCMFormPage(s.page(c, "Add SCM Configuration"), f), views.ProviderFields(f))
}

func (s *server) createSCM(c echo.Context) error {
	form, err := c.FormParams()
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "The form could not be read. Reload the page and try again.")
	}
	p, ok := provider.Lookup(form.Get("provider"))
	if !ok || !p.Selectable() {
		return s.errorPage(c, http.StatusUnprocessableEntity, "Unknown provider",
			"Choose a provider from the list on the Add SCM Configuration page.")
	}
	vals, errs := p.Validate(form, provider.Create)
	if len(errs) == 0 {
		cfg, secrets := p.Config(vals)
		created, err := s.st.CreateSCMConfig(c.Request().Context(), cfg, secrets, actor(c))
		if err == nil {
			s.log.Info("scm config created", "id", created.ID, "provider", created.Provider)
			if err := s.setStatus(c, "Added “"+views.DisplayName(created)+"”."); err != nil {
				return err
			}
			return c.Redirect(http.StatusSeeOther, "/admin/scm")
		}
		if !errors.Is(err, store.ErrDuplicate) {
			return err
		}
		errs[p.Identity] = s.clash(c, p, cfg)
	}
	pg := s.page(c, "Add SCM Configuration")
	pg.Alert = fmt.Sprintf("The configuration was not saved: %s below.", countFields(len(errs)))
	return render(c, http.StatusUnprocessableEntity, views.SCMFormPage(pg, s.form(p, typed(p, form), errs)), nil)
}

// clash says which configuration already holds cfg's identity.
func (s *server) clash(c echo.Context, p *provider.Provider, cfg store.SCMConfig) string {
	idLabel := "This value"
	if f, ok := p.Field(p.Identity); ok {
		idLabel = f.Label + " " + provider.ValuesOf(cfg)[p.Identity]
	}
	other, err := s.st.SCMConfigByUniqueKey(c.Request().Context(), cfg.UniqueKey)
	if err != nil {
		return fmt.Sprintf("%s is already registered for %s.", idLabel, cfg.WebsiteURL)
	}
	return fmt.Sprintf("%s is already registered for %s in “%s” (ID %d). Edit that configuration instead.",
		idLabel, cfg.WebsiteURL, views.DisplayName(other), other.ID)
}

func countFields(n int) string {
	if n == 1 {
		return "correct the field marked"
	}
	return fmt.Sprintf("correct the %d fields marked", n)
}

// typed returns what was typed into p's fields, secrets excepted, to show the form again.
func typed(p *provider.Provider, form url.Values) provider.Values {
	v := provider.Values{}
	for _, f := range p.Fields() {
		if f.Kind != provider.KindSecret {
			v[f.Name] = strings.TrimSpace(form.Get(f.Name))
		}
	}
	return v
}

// loadSCM returns the configuration the :id parameter names, or errNotFound.
func (s *server) loadSCM(c echo.Context) (store.SCMConfig, *provider.Provider, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id < 1 {
		return store.SCMConfig{}, nil, errNotFound
	}
	cfg, err := s.st.SCMConfig(c.Request().Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return store.SCMConfig{}, nil, errNotFound
	}
	if err != nil {
		return store.SCMConfig{}, nil, err
	}
	p, ok := provider.Lookup(cfg.Provider)
	if !ok {
		return store.SCMConfig{}, nil, fmt.Errorf("web: configuration %d has unknown provider %q", cfg.ID, cfg.Provider)
	}
	return cfg, p, nil
}

// errNotFound makes the error handler answer 404 for a configuration that does not exist.
var errNotFound = echo.NewHTTPError(http.StatusNotFound)

func (s *server) showSCM(c echo.Context) error {
	cfg, p, err := s.loadSCM(c)
	if err != nil {
		return err
	}
	secrets, err := s.st.SCMSecrets(c.Request().Context(), cfg.ID)
	if err != nil {
		return err
	}
	d := views.SCMDetails{Config: cfg, Provider: p, Secrets: secrets}
	return render(c, http.StatusOK, views.SCMDetailsPage(s.page(c, views.DisplayName(cfg)), d), nil)
}

func (s *server) healthz(c echo.Context) error {
	if err := s.st.Ping(c.Request().Context()); err != nil {
		s.log.Error("health check failed", "err", err)
		return c.String(http.StatusServiceUnavailable, "database unavailable")
	}
	return c.String(http.StatusOK, "ok")
}
