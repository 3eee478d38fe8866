package web

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gorilla/sessions"
	"github.com/labstack/echo/v4"

	"github.com/scmadmin/scmadmin/store"
	"github.com/scmadmin/scmadmin/views"
)

// newAPIKeyFlash is the session flash under which a key just made waits for the one page that
// shows it: the POST answers 303, so reloading that page neither shows nor makes it again.
const newAPIKeyFlash = "api_key"

// listAPIKeys shows the keys and the add form, with the key just made, if any, this once.
func (s *server) listAPIKeys(c echo.Context) error {
	newKey, err := s.popNewAPIKey(c)
	if err != nil {
		return err
	}
	return s.renderAPIKeys(c, http.StatusOK, views.APIKeyForm{Scope: store.ScopeRead}, newKey)
}

func (s *server) renderAPIKeys(c echo.Context, status int, f views.APIKeyForm, newKey string) error {
	keys, err := s.st.ListAPIKeys(c.Request().Context())
	if err != nil {
		return err
	}
	p := s.page(c, "API keys")
	if len(f.Errors) > 0 {
		p.Alert = "No key was made: correct the fields marked below."
	}
	return render(c, status, views.APIKeysPage(p, keys, f, newKey), nil)
}

// createAPIKey makes a key acting as the signed-in cluster admin.
func (s *server) createAPIKey(c echo.Context) error {
	f := views.APIKeyForm{Name: strings.TrimSpace(c.FormValue("name")), Scope: c.FormValue("scope"), Errors: map[string]string{}}
	if err := store.CheckAPIKeyName(f.Name); err != nil {
		f.Errors["name"] = "Not a name for a key: " + err.Error() + "."
	}
	if store.CheckScope(f.Scope) != nil {
		f.Errors["scope"] = "Choose read or admin."
	}
	if len(f.Errors) > 0 {
		return s.renderAPIKeys(c, http.StatusUnprocessableEntity, f, "")
	}
	u, _ := currentUser(c)
	k, key, err := s.st.CreateAPIKey(c.Request().Context(), f.Name, f.Scope, u.Username, actor(c))
	if errors.Is(err, store.ErrDuplicate) {
		f.Errors["name"] = "There is already a key called " + f.Name + " (revoked keys keep their names): choose another name."
		return s.renderAPIKeys(c, http.StatusUnprocessableEntity, f, "")
	}
	if err != nil {
		return err
	}
	s.keepFlash(c, newAPIKeyFlash, key)
	if err := s.setStatus(c, "Made the API key "+k.Name+" with the scope "+k.Scope+"."); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/admin/api-keys")
}

// popNewAPIKey returns (and forgets) the key the previous request made.
func (s *server) popNewAPIKey(c echo.Context) (string, error) { return s.popFlash(c, newAPIKeyFlash) }

// keepFlash leaves value in the session under name for the next request, which popFlash
// gives it to; it is saved with the status setStatus sets after it.
func (s *server) keepFlash(c echo.Context, name, value string) {
	if sess, ok := c.Get(sessionKey).(*sessions.Session); ok {
		sess.AddFlash(value, name)
	}
}

// popFlash returns (and forgets) the last value the previous request left in the session
// under name: a secret shown once.
func (s *server) popFlash(c echo.Context, name string) (string, error) {
	sess, ok := c.Get(sessionKey).(*sessions.Session)
	if !ok {
		return "", nil
	}
	flashes := sess.Flashes(name)
	if len(flashes) == 0 {
		return "", nil
	}
	if err := sess.Save(c.Request(), c.Response()); err != nil {
		return "", err
	}
	v, _ := flashes[len(flashes)-1].(string)
	return v, nil
}

// revokeAPIKey ends a key: requests that send it are refused from now on.
func (s *server) revokeAPIKey(c echo.Context) error {
	name := c.Param("name")
	err := s.st.RevokeAPIKey(c.Request().Context(), name, actor(c))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return s.notFound(c, "The API key "+name)
	case errors.Is(err, store.ErrRevoked):
		return s.errorPage(c, http.StatusConflict, "Refused", "The API key "+name+" was revoked before.")
	case err != nil:
		return err
	}
	if err := s.setStatus(c, "Revoked the API key "+name+": requests that send it are refused from now on."); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/admin/api-keys")
}
