package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/scmadmin/scmadmin/store"
	"github.com/scmadmin/scmadmin/views"
	"github.com/scmadmin/scmadmin/web/provider"
)

// lifecycleAction applies one lifecycle action and says what it did.
type lifecycleAction func(ctx context.Context, cfg store.SCMConfig, by store.Actor) (done string, err error)

func makeDefault(st *store.Store) lifecycleAction {
	return func(ctx context.Context, cfg store.SCMConfig, by store.Actor) (string, error) {
		_, err := st.MakeDefault(ctx, cfg.ID, by)
		return "“" + cfg.DisplayName() + "” is now the default for new algorithms.", err
	}
}

func setEnabled(st *store.Store, enabled bool) lifecycleAction {
	return func(ctx context.Context, cfg store.SCMConfig, by store.Actor) (string, error) {
		err := st.SetEnabled(ctx, cfg.ID, enabled, by)
		if enabled {
			return "Enabled “" + cfg.DisplayName() + "”.", err
		}
		return "Disabled “" + cfg.DisplayName() + "”: no new algorithm can be created in it.", err
	}
}

func deleteSCM(st *store.Store) lifecycleAction {
	return func(ctx context.Context, cfg store.SCMConfig, by store.Actor) (string, error) {
		return "Deleted “" + cfg.DisplayName() + "”.", st.DeleteSCMConfig(ctx, cfg.ID, by)
	}
}

// refusal says why a lifecycle rule refused an action on cfg and what to do instead; ok is
// false when err is no refusal.
func (s *server) refusal(ctx context.Context, cfg store.SCMConfig, err error) (msg string, ok bool) {
	name := "“" + cfg.DisplayName() + "”"
	switch {
	case errors.Is(err, store.ErrDisableDefault):
		return name + " is the default and cannot be disabled. Make another configuration the default first.", true
	case errors.Is(err, store.ErrDefaultDisabled):
		return name + " is disabled and cannot become the default. Enable it first.", true
	case errors.Is(err, store.ErrDeleteEnabled) && cfg.IsDefault:
		return name + " is the default and enabled, so it cannot be deleted. Make another configuration the default, " +
			"then disable this one, then delete it.", true
	case errors.Is(err, store.ErrDeleteEnabled):
		return name + " is enabled and cannot be deleted. Disable it first.", true
	case errors.Is(err, store.ErrDeleteBuiltIn):
		return "The built-in configuration always exists and cannot be deleted.", true
	case errors.Is(err, store.ErrHostsRepositories):
		n, _ := s.st.RepositoryCount(ctx, cfg.ID)
		return fmt.Sprintf("%s still hosts %d algorithm repositories and cannot be deleted. Keep it disabled instead: "+
			"no new algorithm can be created in it.", name, n), true
	}
	return "", false
}

// lifecycle handles POST /admin/scm/{id}/ACTION: 303 back to where the admin was (the form's
// next), 409 with the reason when a rule refuses. For htmx, the list's table and the message
// are swapped in place.
func (s *server) lifecycle(do lifecycleAction) echo.HandlerFunc {
	return func(c echo.Context) error {
		cfg, p, err := s.loadSCM(c)
		if err != nil {
			return err
		}
		next := safeNext(c.FormValue("next"))
		if next == "" {
			next = views.DetailsURL(cfg.ID)
		}
		done, err := do(c.Request().Context(), cfg, actor(c))
		msg, refused := s.refusal(c.Request().Context(), cfg, err)
		if err != nil && !refused {
			return err
		}
		if isHTMX(c) || refused {
			// Answered here: only now may the page take a message left for the next one.
			pg := s.page(c, listTitle)
			status := http.StatusOK
			if refused {
				status, pg.Alert = http.StatusConflict, msg
			} else {
				pg.Status = done
			}
			return s.renderWhere(c, status, next, cfg.ID, p, pg)
		}
		if err := s.setStatus(c, done); err != nil {
			return err
		}
		if next == views.DetailsURL(cfg.ID) && strings.HasSuffix(c.Path(), "/delete") {
			next = "/admin/scm"
		}
		return c.Redirect(http.StatusSeeOther, next)
	}
}

// renderWhere renders the page next names — the list (as its query views it) or the
// configuration's details — with status and pg's message.
func (s *server) renderWhere(c echo.Context, status int, next string, id int64, p *provider.Provider, pg views.Page) error {
	u, _ := url.Parse(next)
	if u.Path == views.DetailsURL(id) {
		cfg, err := s.st.SCMConfig(c.Request().Context(), id)
		if err == nil {
			pg.Title = cfg.DisplayName()
			return s.renderDetails(c, status, cfg, p, pg, nil)
		}
		if !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	return s.renderList(c, status, parseListQuery(u.Query()), pg)
}

// confirmDeleteSCM asks to confirm a delete: a page, or with htmx a row in place of the row.
func (s *server) confirmDeleteSCM(c echo.Context) error {
	cfg, p, err := s.loadSCM(c)
	if err != nil {
		return err
	}
	pg := s.page(c, "Delete "+cfg.DisplayName())
	listURL := "/admin/scm"
	if u, err := url.Parse(c.Request().Header.Get("HX-Current-URL")); err == nil && u.Path == "/admin/scm" {
		listURL = parseListQuery(u.Query()).URL()
	}
	err = s.st.CheckDelete(c.Request().Context(), cfg)
	if msg, refused := s.refusal(c.Request().Context(), cfg, err); refused {
		pg.Alert = msg
		if isHTMX(c) {
			row := templ.Join(views.SCMRow(cfg, listURL), views.Messages(pg, true))
			return render(c, http.StatusConflict, row, row)
		}
		return s.renderDetails(c, http.StatusConflict, cfg, p, pg, nil)
	} else if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.SCMDeletePage(pg, cfg), views.SCMDeleteRow(cfg, listURL))
}
