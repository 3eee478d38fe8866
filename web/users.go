package web

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/scmadmin/scmadmin/store"
	"github.com/scmadmin/scmadmin/views"
)

const usersURL = "/admin/users"

// listUsers is the users page: every account, and the forms that change them.
func (s *server) listUsers(c echo.Context) error {
	return s.renderUsers(c, http.StatusOK, s.page(c, "Users"), views.UserForms{})
}

// renderUsers renders the users page with status, p's messages and f's typed values and errors.
func (s *server) renderUsers(c echo.Context, status int, p views.Page, f views.UserForms) error {
	users, err := s.st.Users(c.Request().Context())
	if err != nil {
		return err
	}
	u, _ := currentUser(c)
	f.Self = u.Username
	return render(c, status, views.UsersPage(p, users, f), nil)
}

// addUser creates an account: a cluster admin when is_admin is 1.
func (s *server) addUser(c echo.Context) error {
	f := views.UserForms{Username: strings.TrimSpace(c.FormValue("username")), IsAdmin: c.FormValue("is_admin") == "1",
		Errors: map[string]string{}}
	password := c.FormValue("password")
	if err := store.CheckUsername(f.Username); err != nil {
		f.Errors["username"] = "The username is not valid: " + err.Error() + "."
	}
	if err := store.CheckPassword(password); err != nil {
		f.Errors["password"] = "The password is too short or too long: " + err.Error() + "."
	}
	if len(f.Errors) == 0 {
		_, err := s.st.CreateUser(c.Request().Context(), f.Username, password, f.IsAdmin, actor(c))
		if errors.Is(err, store.ErrDuplicate) {
			f.Errors["username"] = "There is already an account called " + f.Username + " (names ignore case)."
		} else if err != nil {
			return err
		}
	}
	if len(f.Errors) > 0 {
		p := s.page(c, "Users")
		p.Alert = "The account was not added: correct the fields marked below."
		return s.renderUsers(c, http.StatusUnprocessableEntity, p, f)
	}
	return s.usersDone(c, "Added the account "+f.Username+".")
}

// accountChange changes the account called name, and says what it did.
type accountChange func(c echo.Context, name string) (string, error)

var errBadAdminValue = echo.NewHTTPError(http.StatusBadRequest, "is_admin must be 1 (make a cluster admin) or 0 (take that away).")

func (s *server) setUserAdmin(c echo.Context, name string) (string, error) {
	admin := c.FormValue("is_admin")
	if admin != "1" && admin != "0" {
		return "", errBadAdminValue
	}
	if err := s.st.SetAdmin(c.Request().Context(), name, admin == "1", actor(c)); err != nil {
		return "", err
	}
	if admin == "1" {
		return name + " is now a cluster admin.", nil
	}
	return name + " is no longer a cluster admin.", nil
}

func (s *server) setUserDisabled(disabled bool) accountChange {
	return func(c echo.Context, name string) (string, error) {
		if err := s.st.SetDisabled(c.Request().Context(), name, disabled, actor(c)); err != nil {
			return "", err
		}
		if disabled {
			return "Disabled " + name + ": it cannot sign in, and its sessions have ended.", nil
		}
		return "Enabled " + name + ": it can sign in again.", nil
	}
}

// changeUser runs change on the account the route names, then returns to the users page;
// the last-admin rule's refusal is a 409 saying why.
func (s *server) changeUser(change accountChange) echo.HandlerFunc {
	return func(c echo.Context) error {
		name := accountName(c)
		msg, err := change(c, name)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return s.notFound(c, "The account "+name)
		case errors.Is(err, store.ErrLastAdmin):
			p := s.page(c, "Users")
			p.Alert = name + " is the last enabled cluster admin: it must stay an enabled cluster admin, or nobody " +
				"could manage accounts and configurations. Make another account a cluster admin first."
			return s.renderUsers(c, http.StatusConflict, p, views.UserForms{})
		case err != nil:
			return err
		}
		return s.usersDone(c, msg)
	}
}

// setUserPassword sets an account's password, which ends its sessions. An admin who sets
// their own is signed in again, as on the change-password page.
func (s *server) setUserPassword(c echo.Context) error {
	name, password := accountName(c), c.FormValue("password")
	me, _ := currentUser(c)
	f := views.UserForms{PasswordFor: name}
	err := store.CheckPassword(password)
	if err != nil {
		f.PasswordError = "The password is too short or too long: " + err.Error() + "."
	} else if err = s.st.SetPassword(c.Request().Context(), name, password, actor(c)); errors.Is(err, store.ErrSamePassword) {
		f.PasswordError = "This is your current password: choose a new one."
	}
	switch {
	case f.PasswordError != "":
		p := s.page(c, "Users")
		p.Alert = "The password of " + name + " was not set: " + f.PasswordError
		return s.renderUsers(c, http.StatusUnprocessableEntity, p, f)
	case errors.Is(err, store.ErrNotFound):
		return s.notFound(c, "The account "+name)
	case err != nil:
		return err
	case strings.EqualFold(name, me.Username):
		if err := s.renewSession(c, me, "Set your password. Every other session of yours is signed out."); err != nil {
			return err
		}
		return c.Redirect(http.StatusSeeOther, usersURL)
	}
	return s.usersDone(c, "Set the password of "+name+": its sessions have ended.")
}

// usersDone leaves msg for the users page and returns to it.
func (s *server) usersDone(c echo.Context, msg string) error {
	if err := s.setStatus(c, msg); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, usersURL)
}

// accountName is the account the route names: usernames hold no %, so unescaping a name
// the router has already unescaped changes nothing.
func accountName(c echo.Context) string {
	if name, err := url.PathUnescape(c.Param("username")); err == nil {
		return name
	}
	return c.Param("username")
}
