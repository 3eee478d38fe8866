package web

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/scmadmin/scmadmin/store"
	"github.com/scmadmin/scmadmin/views"
)

func (s *server) showPasswordForm(c echo.Context) error {
	return render(c, http.StatusOK, views.PasswordPage(s.page(c, "Change your password"), nil), nil)
}

// changePassword asks for the current password, and ends the user's other sessions: this
// one gets a new session id, every other is signed out.
func (s *server) changePassword(c echo.Context) error {
	u, _ := currentUser(c)
	current, password := c.FormValue("current_password"), c.FormValue("new_password")
	errs := map[string]string{}
	if err := store.CheckPassword(password); err != nil {
		errs["new_password"] = "The new password is too short or too long: " + err.Error() + "."
	} else if password != c.FormValue("confirm_password") {
		errs["confirm_password"] = "The two new passwords differ: type the same one twice."
	}
	if len(errs) == 0 {
		// The current password is a password guess like any sign-in: the same limits apply.
		wait, _, err := s.signIns.begin(c.Request().Context(), u.Username, c.RealIP())
		if err != nil {
			return err
		}
		if wait > 0 {
			c.Response().Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds()+0.999)))
			p := s.page(c, "Change your password")
			p.Alert = "Too many wrong current passwords. Try again in " + humanDuration(wait) + "."
			return render(c, http.StatusTooManyRequests, views.PasswordPage(p, nil), nil)
		}
		err = s.st.ChangePassword(c.Request().Context(), u.ID, current, password, c.RealIP())
		s.endAttempt(u.Username, c.RealIP(), err)
		switch {
		case errors.Is(err, store.ErrBadCredentials):
			if err := s.st.RecordAudit(c.Request().Context(), store.AuditEvent{
				Actor: store.Actor{Username: u.Username, Addr: c.RealIP()}, Action: store.ActionChangePasswordFailed}); err != nil {
				return err
			}
			errs["current_password"] = "This is not your current password."
		case errors.Is(err, store.ErrSamePassword):
			errs["new_password"] = "This is your current password: choose a new one."
		case err != nil:
			return err
		default:
			if err := s.renewSession(c, u, "Changed your password. Every other session of yours is signed out."); err != nil {
				return err
			}
			if !u.IsAdmin {
				return c.Redirect(http.StatusSeeOther, "/account/password")
			}
			return c.Redirect(http.StatusSeeOther, "/admin/scm")
		}
	}
	p := s.page(c, "Change your password")
	p.Alert = "The password was not changed: correct the fields marked below."
	return render(c, http.StatusUnprocessableEntity, views.PasswordPage(p, errs), nil)
}

// renewSession signs u in again with a new session, its sessions having ended (its password
// changed), and leaves msg for the next page.
func (s *server) renewSession(c echo.Context, u store.User, msg string) error {
	sess := s.sessions.fresh(s.cookieName(sessionCookie))
	sess.Values[userIDKey] = u.ID
	sess.AddFlash(msg)
	if err := s.sessions.Save(c.Request(), c.Response(), sess); err != nil {
		return err
	}
	s.newCSRFToken(c)
	return nil
}
