package web

import (
	"errors"
	"net/http"

	"github.com/gorilla/sessions"
	"github.com/labstack/echo/v4"

	"github.com/scmadmin/scmadmin/store"
	"github.com/scmadmin/scmadmin/views"
	"github.com/scmadmin/scmadmin/web/action"
)

// The OAuth routes of Algorithmia's API: start and finish run in the browser of a signed-in
// account; status and revoke also take an API key (acting as the key's admin).

// callbackURL is the one address to register on every host: Algorithmia's.
func (s *server) callbackURL() string { return s.baseURL + "/v1/scms/oauth/finish" }

// caller is who runs a round trip in this request.
func (s *server) caller(c echo.Context) action.Caller {
	u, _ := currentUser(c)
	caller := action.Caller{User: u, By: actor(c)}
	if sess, ok := c.Get(sessionKey).(*sessions.Session); ok {
		caller.SessionHash, _ = tokenHash(sess.ID)
	}
	return caller
}

// startOAuth is GET /v1/scms/{id}/oauth/start: 303 to the host's authorization page.
func (s *server) startOAuth(c echo.Context) error {
	to, err := s.actions.StartConnect(c.Request().Context(), s.caller(c), configID(c), s.callbackURL())
	if r, ok := action.AsRefusal(err); ok && !errors.Is(r, store.ErrNotFound) {
		return s.errorPage(c, http.StatusConflict, "Cannot connect", r.Message)
	} else if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, to)
}

// finishOAuth is the callback, GET /v1/scms/oauth/finish (and /v1/scms/{id}/oauth/finish):
// a cluster admin goes back to the configuration's page, anyone else to a page that says it
// worked. A refused answer is 400, saying why and what to do.
func (s *server) finishOAuth(c echo.Context) error {
	q := c.QueryParams()
	ans := action.Answer{State: q.Get("state"), Code: q.Get("code"), Error: q.Get("error"),
		Description: q.Get("error_description"), ID: c.Param("id")}
	cfg, conn, err := s.actions.FinishConnect(c.Request().Context(), s.caller(c), ans, s.callbackURL())
	if r, ok := action.AsRefusal(err); ok {
		return s.errorPage(c, http.StatusBadRequest, "The account was not connected", r.Message)
	} else if err != nil {
		return err
	}
	msg := "Connected as " + conn.Username + " on “" + cfg.DisplayName() + "”."
	if u, _ := currentUser(c); !u.IsAdmin {
		pg := s.page(c, "Account connected")
		pg.Status = msg
		return render(c, http.StatusOK, views.ConnectedPage(pg), nil)
	}
	if err := s.setStatus(c, msg); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, views.DetailsURL(cfg.Ref))
}

// oauthStatus is GET /v1/scms/{id}/oauth/status, for the caller.
func (s *server) oauthStatus(c echo.Context) error {
	u, _ := currentUser(c)
	conn, _, err := s.actions.Connection(c.Request().Context(), u, configID(c))
	answer := struct {
		Status   string           `json:"authorization_status"`
		Username string           `json:"scm_username,omitempty"`
		Orgs     []store.OAuthOrg `json:"scm_organizations"`
		// Message says why it is unauthorized and what to do (none connected, or the host
		// would not renew the token).
		Message string `json:"message,omitempty"`
	}{Status: "unauthorized", Orgs: []store.OAuthOrg{}}
	if r, ok := action.AsRefusal(err); ok && errors.Is(r, action.ErrNotConnected) {
		answer.Message = r.Message
		return c.JSON(http.StatusOK, answer)
	} else if err != nil {
		return err
	}
	answer.Status, answer.Username = "authorized", conn.Username
	answer.Orgs = append(answer.Orgs, conn.Orgs...)
	return c.JSON(http.StatusOK, answer)
}

// revokeOAuth is POST /v1/scms/{id}/oauth/revoke: 204, or for a page's form 303 back to it.
func (s *server) revokeOAuth(c echo.Context) error {
	if err := s.actions.Disconnect(c.Request().Context(), s.caller(c), configID(c)); err != nil {
		return err
	}
	if next := safeNext(c.FormValue("next")); next != "" {
		if err := s.setStatus(c, "Disconnected your account."); err != nil {
			return err
		}
		return c.Redirect(http.StatusSeeOther, next)
	}
	return c.NoContent(http.StatusNoContent)
}

// keyOrSession authenticates with an API key when the request carries one or no session
// cookie, else with the session (and, for a change, its CSRF token).
func (s *server) keyOrSession(scope string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		withKey := s.requireAPIKey(scope)(next)
		withSession := s.requireUser(s.csrf(next))
		return func(c echo.Context) error {
			if _, err := c.Cookie(s.cookieName(sessionCookie)); err != nil || c.Request().Header.Get(echo.HeaderAuthorization) != "" {
				return withKey(c)
			}
			return withSession(c)
		}
	}
}

// oauthDetails is what cfg's details page shows of its connected accounts.
func (s *server) oauthDetails(c echo.Context, cfg store.SCMConfig) (*views.OAuth, error) {
	ctx := c.Request().Context()
	o := &views.OAuth{ConfigRef: cfg.Ref, CallbackURL: s.callbackURL()}
	u, _ := currentUser(c)
	conn, err := s.st.OAuthConnectionOf(ctx, u.ID, cfg.ID)
	if err == nil {
		conn.Token = "" // the page needs who, never the token
		o.Connection = &conn
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	o.Connected, err = s.st.CountOAuthConnections(ctx, cfg.ID)
	return o, err
}

// showAccount is GET /account: the signed-in account's connections to hosts.
func (s *server) showAccount(c echo.Context) error {
	u, _ := currentUser(c)
	conns, err := s.st.OAuthConnectionsOf(c.Request().Context(), u.ID)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.AccountPage(s.page(c, "Your account"), conns), nil)
}
