package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/scmadmin/scmadmin/store"
	"github.com/scmadmin/scmadmin/views"
	"github.com/scmadmin/scmadmin/web/action"
	"github.com/scmadmin/scmadmin/web/provider"
)

// lifecycleAction is a lifecycle route's operation; removes says the configuration's page is
// gone after it.
type lifecycleAction struct {
	do      func(*action.Actions, context.Context, store.Actor, string) (action.Done, error)
	removes bool
}

// lifecycleActions are the lifecycle routes, POST /admin/scm/{id}/NAME, by NAME.
var lifecycleActions = map[string]lifecycleAction{
	"default": {do: (*action.Actions).MakeDefault},
	"enable":  {do: (*action.Actions).Enable},
	"disable": {do: (*action.Actions).Disable},
	"delete":  {do: (*action.Actions).Delete, removes: true},
}

// lifecycle handles POST /admin/scm/{id}/NAME with a: 303 back to where the admin was (the
// form's next), 409 with the reason when a rule refuses. For htmx, the list's table and the
// message are swapped in place.
func (s *server) lifecycle(a lifecycleAction) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := configID(c)
		next := safeNext(c.FormValue("next"))
		if next == "" {
			next = views.DetailsURL(id)
		}
		done, err := a.do(s.actions, c.Request().Context(), actor(c), id)
		if r, ok := action.AsRefusal(err); ok && !errors.Is(r, store.ErrNotFound) {
			pg := s.page(c, listTitle)
			pg.Alert = r.Message
			return s.renderWhere(c, http.StatusConflict, next, id, pg)
		}
		if err != nil {
			return err
		}
		if isHTMX(c) {
			// Answered here: only now may the page take a message left for the next one.
			pg := s.page(c, listTitle)
			pg.Status = done.Message
			return s.renderWhere(c, http.StatusOK, next, id, pg)
		}
		if err := s.setStatus(c, done.Message); err != nil {
			return err
		}
		if a.removes && next == views.DetailsURL(id) {
			next = "/admin/scm" // the details are gone
		}
		return c.Redirect(http.StatusSeeOther, next)
	}
}

// renderWhere renders the page next names — the list (as its query views it) or the
// configuration's details — with status and pg's message.
func (s *server) renderWhere(c echo.Context, status int, next string, id string, pg views.Page) error {
	u, _ := url.Parse(next)
	if u.Path == views.DetailsURL(id) {
		cfg, p, err := s.actions.Load(c.Request().Context(), id)
		if err == nil {
			pg.Title = cfg.DisplayName()
			return s.renderDetails(c, status, cfg, p, pg, nil)
		}
		if r, ok := action.AsRefusal(err); !ok || !errors.Is(r, store.ErrNotFound) {
			return err
		}
	}
	return s.renderList(c, status, parseListQuery(u.Query()), pg, "")
}

// confirmDeleteSCM asks to confirm a delete: a page, or with htmx a row in place of the row.
// A delete that a rule would refuse is refused now (409), with the reason.
func (s *server) confirmDeleteSCM(c echo.Context) error {
	listURL := "/admin/scm"
	if u, err := url.Parse(c.Request().Header.Get("HX-Current-URL")); err == nil && u.Path == "/admin/scm" {
		listURL = parseListQuery(u.Query()).URL()
	}
	cfg, err := s.actions.CheckDelete(c.Request().Context(), configID(c))
	r, refused := action.AsRefusal(err)
	if refused && errors.Is(r, store.ErrNotFound) || !refused && err != nil {
		return err
	}
	pg := s.page(c, "Delete "+cfg.DisplayName())
	if !refused {
		connected, err := s.st.CountOAuthConnections(c.Request().Context(), cfg.ID)
		if err != nil {
			return err
		}
		return render(c, http.StatusOK, views.SCMDeletePage(pg, cfg, connected), views.SCMDeleteRow(cfg, listURL))
	}
	pg.Alert = r.Message
	if isHTMX(c) {
		row := templ.Join(views.SCMRow(cfg, listURL), views.Messages(pg, true))
		return render(c, http.StatusConflict, row, row)
	}
	p, _ := provider.Lookup(cfg.Provider)
	return s.renderDetails(c, http.StatusConflict, cfg, p, pg, nil)
}
