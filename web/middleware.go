package web

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/sessions"
	"github.com/labstack/echo/v4"

	"github.com/scmadmin/scmadmin/store"
	"github.com/scmadmin/scmadmin/web/action"
)

const csrfCookie = "scmadmin_csrf"

// Context keys.
const (
	userKey    = "scmadmin.user"
	sessionKey = "scmadmin.session"
	csrfKey    = "scmadmin.csrf"
)

// requestID gives every request an id of our own, in the X-Request-Id response header and
// the log. One sent by the client is not taken: it could forge or collide with another's.
func requestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		raw := make([]byte, 8)
		rand.Read(raw)
		c.Response().Header().Set(echo.HeaderXRequestID, hex.EncodeToString(raw))
		return next(c)
	}
}

// logRequests logs one line per request with its id, route, status and duration. It logs the
// path without the query string and never a body, so no secret reaches the log.
func (s *server) logRequests(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		status := decidedStatus(c)
		s.metrics.observe(c, status, time.Since(start))
		level := slog.LevelInfo
		if status >= 500 {
			level = slog.LevelError
		}
		s.log.LogAttrs(c.Request().Context(), level, "request",
			slog.String("request_id", c.Response().Header().Get(echo.HeaderXRequestID)),
			slog.String("method", c.Request().Method),
			slog.String("path", c.Request().URL.Path),
			slog.String("route", c.Path()),
			slog.Int("status", status),
			slog.Duration("duration", time.Since(start)),
		)
		return nil
	}
}

// statusClientLeft is what the log and the metrics say of a request whose client left
// before it was answered (nginx's name for it): nothing was sent, so no status was.
const statusClientLeft = 499

// decidedStatus is the status the request was answered with, or statusClientLeft.
func decidedStatus(c echo.Context) int {
	if !c.Response().Committed && c.Request().Context().Err() != nil {
		return statusClientLeft
	}
	return c.Response().Status
}

// contentSecurityPolicy allows only our own scripts and styles: no inline code at all.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

func (s *server) secureHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		if !strings.HasPrefix(c.Request().URL.Path, "/static/") {
			// Pages hold configuration details and the CSRF token: no cache may keep them.
			h.Set("Cache-Control", "no-store")
		}
		if s.secure {
			h.Set("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
		}
		return next(c)
	}
}

// csrf guards every state change twice. Browsers say where a request comes from
// (Sec-Fetch-Site, Origin): one from another origin is refused outright. And every form
// repeats, in its _csrf field (htmx: the X-CSRF-Token header), a random token that is also in
// an HttpOnly SameSite cookie — __Host- prefixed on https, so no other host can plant it.
func (s *server) csrf(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		token := ""
		if ck, err := c.Cookie(s.cookieName(csrfCookie)); err == nil && len(ck.Value) == 43 {
			token = ck.Value
		}
		switch c.Request().Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
		default:
			sent := c.Request().Header.Get("X-CSRF-Token")
			if sent == "" {
				sent = c.FormValue("_csrf")
			}
			if s.crossOrigin.Check(c.Request()) != nil || token == "" ||
				subtle.ConstantTimeCompare([]byte(token), []byte(sent)) != 1 {
				return s.errorPage(c, http.StatusForbidden, "Request refused",
					"This form has expired or was sent from another site. Reload the page and try again.")
			}
		}
		if token == "" {
			s.newCSRFToken(c)
		} else {
			c.Set(csrfKey, token)
		}
		return next(c)
	}
}

// newCSRFToken sets a fresh token, as at sign-in and sign-out, so that a token seen before
// is worthless after.
func (s *server) newCSRFToken(c echo.Context) {
	raw := make([]byte, 32)
	rand.Read(raw)
	token := base64.RawURLEncoding.EncodeToString(raw)
	c.SetCookie(&http.Cookie{Name: s.cookieName(csrfCookie), Value: token, Path: "/", HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode})
	c.Set(csrfKey, token)
}

func csrfToken(c echo.Context) string {
	t, _ := c.Get(csrfKey).(string)
	return t
}

// cookieName is the name of a cookie of ours: with the __Host- prefix on https, which binds
// it to this host and path / so that no sibling host can set it.
func (s *server) cookieName(name string) string {
	if s.secure {
		return "__Host-" + name
	}
	return name
}

// requireUser lets through a signed-in user; anyone else is sent to the sign-in page (303).
func (s *server) requireUser(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		sess, err := s.sessions.Get(c.Request(), s.cookieName(sessionCookie))
		if err != nil {
			return err
		}
		uid, _ := sess.Values[userIDKey].(int64)
		u, err := s.user(c.Request(), uid)
		if errors.Is(err, store.ErrNotFound) || (err == nil && u.Disabled) {
			return s.toLogin(c)
		}
		if err != nil {
			return err
		}
		c.Set(userKey, u)
		c.Set(sessionKey, sess)
		return next(c)
	}
}

// maxCachedUsers is far more than the cluster admins signed in at once.
const maxCachedUsers = 1024

// user returns the user with id, from the cache while it is current.
func (s *server) user(r *http.Request, id int64) (store.User, error) {
	return s.users.load(r.Context(), s.versions.read, id, func(ctx context.Context) (store.User, error) {
		return s.st.UserByID(ctx, id)
	})
}

// requireAdmin lets through only a signed-in cluster admin: anyone not signed in is sent to
// the sign-in page (303), a signed-in user who is not an admin gets 403.
func (s *server) requireAdmin(next echo.HandlerFunc) echo.HandlerFunc {
	return s.requireUser(func(c echo.Context) error {
		if u, _ := currentUser(c); !u.IsAdmin {
			return s.errorPage(c, http.StatusForbidden, "Cluster admins only",
				"Signed in as "+u.Username+", who is not a cluster admin. Ask a cluster admin to make this account one, or sign in as one.")
		}
		return next(c)
	})
}

// toLogin sends the browser to the sign-in page, remembering where it was going: the page
// asked for, or for a form posted after the session ended, the page the form was on.
func (s *server) toLogin(c echo.Context) error {
	target := "/login"
	next := c.Request().URL.RequestURI()
	if c.Request().Method != http.MethodGet {
		next = ""
		if ref, err := url.Parse(c.Request().Referer()); err == nil && ref.Host == c.Request().Host {
			next = safeNext(ref.RequestURI())
		}
	}
	if next != "" && next != "/admin/scm" {
		target += "?next=" + url.QueryEscape(next)
	}
	if isHTMX(c) {
		c.Response().Header().Set("HX-Redirect", target)
		return c.NoContent(http.StatusNoContent)
	}
	return c.Redirect(http.StatusSeeOther, target)
}

// actor is who makes the request's change, for the audit trail: the signed-in user, or the
// API key the request came with.
func actor(c echo.Context) store.Actor {
	if _, ok := c.Get(apiKeyKey).(store.APIKey); ok {
		return apiActor(c)
	}
	u, _ := currentUser(c)
	return store.Actor{Username: u.Username, Addr: c.RealIP()}
}

func currentUser(c echo.Context) (store.User, bool) {
	u, ok := c.Get(userKey).(store.User)
	return u, ok
}

// setStatus leaves a success message for the page the response redirects to.
func (s *server) setStatus(c echo.Context, msg string) error {
	sess, ok := c.Get(sessionKey).(*sessions.Session)
	if !ok {
		return nil
	}
	sess.AddFlash(msg)
	return sess.Save(c.Request(), c.Response())
}

// popStatus returns (and forgets) the message a previous request left. An htmx request
// leaves it for the next full page.
func (s *server) popStatus(c echo.Context) string {
	sess, ok := c.Get(sessionKey).(*sessions.Session)
	if !ok || isHTMX(c) {
		return ""
	}
	flashes := sess.Flashes()
	if len(flashes) == 0 {
		return ""
	}
	if err := sess.Save(c.Request(), c.Response()); err != nil {
		s.log.Error("save session", "err", err)
	}
	msgs := make([]string, 0, len(flashes))
	for _, f := range flashes {
		if m, ok := f.(string); ok {
			msgs = append(msgs, m)
		}
	}
	return strings.Join(msgs, " ")
}

// handleError turns an error a handler returned into a page: the status and message of an
// echo.HTTPError, or a logged 500 that shows nothing of the cause.
func (s *server) handleError(err error, c echo.Context) {
	if c.Response().Committed || c.Request().Context().Err() != nil {
		return // answered already, or no one is left to answer
	}
	if s.answerUnavailable(c, err) {
		return
	}
	if _, ok := action.AsRefusal(err); !ok && errors.Is(err, store.ErrNotFound) {
		// What the request named was deleted while it ran, after an action loaded it: a race,
		// not a fault.
		err = &action.Refusal{Rule: store.ErrNotFound, Message: "What this request was about no longer exists: it was deleted meanwhile."}
	}
	if _, api := err.(*apiError); api || isAPIPath(c.Request().URL.Path) {
		s.answerAPIError(c, err)
		return
	}
	if r, ok := action.AsRefusal(err); ok {
		switch {
		case errors.Is(r, store.ErrNotFound):
			s.errorPage(c, http.StatusNotFound, "Not found", r.Message)
		case errors.Is(r, action.ErrBuiltIn), errors.Is(r, action.ErrInvalid):
			s.errorPage(c, http.StatusBadRequest, http.StatusText(http.StatusBadRequest), r.Message)
		default:
			s.errorPage(c, http.StatusConflict, "Refused", r.Message)
		}
		return
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		msg := http.StatusText(he.Code)
		if m, ok := he.Message.(string); ok {
			msg = m
		}
		switch he.Code {
		case http.StatusNotFound:
			s.notFound(c, "The page "+c.Request().URL.Path)
		case http.StatusRequestEntityTooLarge:
			s.errorPage(c, he.Code, "Request too large", "The request is larger than scmadmin accepts (1 MiB).")
		default:
			s.errorPage(c, he.Code, http.StatusText(he.Code), msg)
		}
		return
	}
	s.log.Error("request failed", "request_id", c.Response().Header().Get(echo.HeaderXRequestID),
		"route", c.Path(), "err", err)
	s.errorPage(c, http.StatusInternalServerError, "Something went wrong",
		"scmadmin could not complete this request. Try again; if it keeps failing, the server log has the details under request id "+
			c.Response().Header().Get(echo.HeaderXRequestID)+".")
}

// isAPIPath reports whether path is the JSON API's, which answers errors with the envelope;
// the OAuth round trip's start and finish are pages a browser opens.
func isAPIPath(path string) bool {
	return strings.HasPrefix(path, "/v1/") && !strings.HasSuffix(path, "/oauth/start") && !strings.HasSuffix(path, "/oauth/finish")
}
