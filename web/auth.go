package web

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/scmadmin/scmadmin/store"
	"github.com/scmadmin/scmadmin/views"
)

func (s *server) showLogin(c echo.Context) error {
	p := s.page(c, "Sign in")
	next := safeNext(c.QueryParam("next"))
	if next != "" {
		p.Status = "Sign in to continue: your session has ended, or you were not signed in."
	}
	return render(c, http.StatusOK, views.LoginPage(p, "", next), nil)
}

func (s *server) login(c echo.Context) error {
	username := strings.TrimSpace(c.FormValue("username"))
	next := safeNext(c.FormValue("next"))
	ctx := c.Request().Context()
	wait, audit, err := s.signIns.begin(ctx, username, c.RealIP())
	if err != nil {
		return err
	}
	if wait > 0 {
		return s.throttled(c, username, next, wait, audit)
	}
	login, u, err := s.checkSignIn(ctx, username, c.RealIP(), c.FormValue("password"))
	if errors.Is(err, errSignInsBusy) {
		c.Response().Header().Set("Retry-After", "2")
		p := s.page(c, "Sign in")
		p.Alert = "The server is busy with many sign-ins at once. Try again in a few seconds."
		return render(c, http.StatusServiceUnavailable, views.LoginPage(p, username, next), nil)
	}
	switch {
	case errors.Is(err, store.ErrBadCredentials):
		// Not the typed name: people paste passwords into the wrong box. The audit trail has
		// it only when it is an account's.
		s.log.Info("sign-in refused", "request_id", c.Response().Header().Get(echo.HeaderXRequestID), "remote", c.RealIP())
		return s.refuseSignIn(c, http.StatusUnauthorized, login, username, next, "Wrong username or password. Check both and try again.")
	case errors.Is(err, store.ErrDisabled):
		return s.refuseSignIn(c, http.StatusForbidden, login, username, next, "This account is disabled. Ask a cluster admin to enable it on the Users page.")
	}
	if err != nil {
		return err
	}
	// A new session id at every sign-in: a session id planted before it is worth nothing.
	if old, err := s.sessions.Get(c.Request(), s.cookieName(sessionCookie)); err == nil && !old.IsNew {
		old.Options.MaxAge = -1
		if err := s.sessions.Save(c.Request(), c.Response(), old); err != nil {
			return err
		}
	}
	sess := s.sessions.fresh(s.cookieName(sessionCookie))
	sess.Values[userIDKey] = u.ID
	if err := s.sessions.Save(c.Request(), c.Response(), sess); err != nil {
		return err
	}
	s.newCSRFToken(c)
	s.log.Info("signed in", "username", u.Username, "remote", c.RealIP())
	if err := s.st.RecordAudit(c.Request().Context(), store.AuditEvent{
		Actor: store.Actor{Username: u.Username, Addr: c.RealIP()}, Action: store.ActionSignIn}); err != nil {
		return err
	}
	if next == "" {
		next = "/admin/scm"
	}
	return c.Redirect(http.StatusSeeOther, next)
}

// refuseSignIn records a failed sign-in (naming the account only when it is one) and shows
// the form again, with what was typed as the name, and msg.
func (s *server) refuseSignIn(c echo.Context, status int, login store.Login, username, next, msg string) error {
	if err := s.st.RecordAudit(c.Request().Context(), store.AuditEvent{
		Actor: store.Actor{Username: auditedName(login), Addr: c.RealIP()}, Action: store.ActionSignInFailed}); err != nil {
		return err
	}
	p := s.page(c, "Sign in")
	p.Alert = msg
	return render(c, status, views.LoginPage(p, username, next), nil)
}

// throttled answers a sign-in the limiter refuses (429), auditing the first refusal of a lock.
func (s *server) throttled(c echo.Context, username, next string, wait time.Duration, audit bool) error {
	if audit { // once per lock: refused attempts must not grow the audit trail without bound
		login, err := s.st.LookupLogin(c.Request().Context(), username)
		if err != nil {
			return err
		}
		if err := s.st.RecordAudit(c.Request().Context(), store.AuditEvent{
			Actor: store.Actor{Username: auditedName(login), Addr: c.RealIP()}, Action: store.ActionSignInThrottled}); err != nil {
			return err
		}
	}
	secs := int(wait.Seconds() + 0.999)
	c.Response().Header().Set("Retry-After", strconv.Itoa(secs))
	p := s.page(c, "Sign in")
	p.Alert = "Too many failed sign-ins for this account or from this address. Try again in " + humanDuration(wait) +
		", or have the password reset on the server with: scmadmin user passwd NAME."
	return render(c, http.StatusTooManyRequests, views.LoginPage(p, username, next), nil)
}

// unknownAccount stands in the audit trail for a name typed at sign-in that is no account's:
// it may be a password typed into the wrong box. No username can be it (it has a space).
const unknownAccount = "unknown account"

// auditedName is the name the audit trail records for a sign-in attempt.
func auditedName(l store.Login) string {
	if !l.Exists {
		return unknownAccount
	}
	return l.User.Username
}

func (s *server) logout(c echo.Context) error {
	sess, err := s.sessions.Get(c.Request(), s.cookieName(sessionCookie))
	if err != nil {
		return err
	}
	if !sess.IsNew {
		if uid, ok := sess.Values[userIDKey].(int64); ok {
			if u, err := s.st.UserByID(c.Request().Context(), uid); err == nil {
				if err := s.st.RecordAudit(c.Request().Context(), store.AuditEvent{
					Actor: store.Actor{Username: u.Username, Addr: c.RealIP()}, Action: store.ActionSignOut}); err != nil {
					return err
				}
			}
		}
		sess.Options.MaxAge = -1
		if err := s.sessions.Save(c.Request(), c.Response(), sess); err != nil {
			return err
		}
	}
	s.newCSRFToken(c)
	return c.Redirect(http.StatusSeeOther, "/login")
}

// safeNext returns next if it is a path on this site, so that the sign-in page cannot be
// used to send people elsewhere.
func safeNext(next string) string {
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || !strings.HasPrefix(next, "/") ||
		strings.HasPrefix(next, "//") || strings.Contains(next, `\`) {
		return ""
	}
	return next
}

// truncate cuts s to at most n runes, so that hostile input stays small where it is kept.
func truncate(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n])
	}
	return s
}

// humanDuration says d in whole seconds or minutes, rounded up.
func humanDuration(d time.Duration) string {
	if d <= time.Minute {
		return strconv.Itoa(int(d.Seconds()+0.999)) + " seconds"
	}
	return strconv.Itoa(int(d.Minutes()+0.999)) + " minutes"
}
