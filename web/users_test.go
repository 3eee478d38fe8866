package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/scmadmin/scmadmin/store"
)

const viewerPassword = "viewer password 123"

// withViewer adds the non-admin account "viewer" and returns a client signed in as it.
func (a *testApp) withViewer() *client {
	a.t.Helper()
	if _, err := a.st.CreateUser(context.Background(), "viewer", viewerPassword, false, store.Actor{}); err != nil {
		a.t.Fatal(err)
	}
	v := a.client()
	v.login("viewer", viewerPassword).wantStatus(http.StatusSeeOther)
	return v
}

func TestUsersPageListsEveryAccount(t *testing.T) {
	app := newTestApp(t)
	v := app.withViewer()
	admin := app.adminClient()

	r := admin.get("/admin/users").wantStatus(http.StatusOK)
	row := r.doc.Find(`table#users tr[data-username="admin"]`)
	if text := strings.Join(strings.Fields(row.Text()), " "); !strings.Contains(text, "Cluster admin") ||
		!strings.Contains(text, "Enabled") || !strings.Contains(text, "UTC") {
		t.Errorf("admin's row = %q; want cluster admin, enabled, a last sign-in", text)
	}
	if text := r.text(`tr[data-username="viewer"] .is-admin`); text != "No" {
		t.Errorf("viewer's admin column = %q", text)
	}
	if r.doc.Find(`nav a[href="/admin/users"]`).Length() != 1 {
		t.Error("the header has no link to the users page")
	}
	v.get("/admin/users").wantStatus(http.StatusForbidden)
	app.client().get("/admin/users").wantRedirect("/login?next=%2Fadmin%2Fusers")
}

func TestAddAccount(t *testing.T) {
	app := newTestApp(t)
	admin := app.adminClient()
	add := func(name, password, isAdmin string) *response {
		return admin.submit("/admin/users", "/admin/users", url.Values{"username": {name}, "password": {password}, "is_admin": {isAdmin}})
	}
	add("carol", "carol's long password", "1").wantRedirect("/admin/users")
	r := admin.get("/admin/users")
	if got := r.text("[role=status]"); !strings.Contains(got, "carol") {
		t.Errorf("status = %q", got)
	}
	if !r.has(`tr[data-username="carol"][data-admin="yes"]`) {
		t.Error("carol is not listed as a cluster admin")
	}
	carol := app.client()
	carol.login("carol", "carol's long password").wantStatus(http.StatusSeeOther)
	carol.get("/admin/scm").wantStatus(http.StatusOK)

	r = add("dave", "short", "").wantStatus(http.StatusUnprocessableEntity)
	if _, invalid := r.doc.Find(`#password[aria-invalid="true"]`).Attr("id"); !invalid || !strings.Contains(r.text("#password-error"), "12") {
		t.Errorf("short password not marked: %s", r.text("#password-error"))
	}
	if v, _ := r.doc.Find("#username").Attr("value"); v != "dave" {
		t.Errorf("typed username not kept: %q", v)
	}
	r = add("CAROL", "another long password", "").wantStatus(http.StatusUnprocessableEntity)
	if !strings.Contains(r.text("#username-error"), "already an account") {
		t.Errorf("duplicate: %s", r.text("#username-error"))
	}
	add("bad name", "another long password", "").wantStatus(http.StatusUnprocessableEntity)
	if users, _ := app.st.Users(context.Background()); len(users) != 2 {
		t.Errorf("%d accounts, want admin and carol", len(users))
	}
}

func TestMakeAdminAndTakeItAway(t *testing.T) {
	app := newTestApp(t)
	v := app.withViewer()
	admin := app.adminClient()
	v.get("/admin/scm").wantStatus(http.StatusForbidden)

	admin.submit("/admin/users", "/admin/users/viewer/admin", url.Values{"is_admin": {"1"}}).wantRedirect("/admin/users")
	v.get("/admin/scm").wantStatus(http.StatusOK) // at once, in the session it has
	admin.submit("/admin/users", "/admin/users/viewer/admin", url.Values{"is_admin": {"0"}}).wantRedirect("/admin/users")
	v.get("/admin/scm").wantStatus(http.StatusForbidden)

	admin.submit("/admin/users", "/admin/users/viewer/admin", url.Values{"is_admin": {"yes"}}).wantStatus(http.StatusBadRequest)
	admin.submit("/admin/users", "/admin/users/nobody/admin", url.Values{"is_admin": {"1"}}).wantStatus(http.StatusNotFound)

	evs, _, _ := app.st.ListAudit(context.Background(), store.AuditQuery{Limit: 10})
	var actions []string
	for _, ev := range evs {
		if ev.Target == "viewer" {
			actions = append(actions, ev.Action+" by "+ev.Actor.Username)
		}
	}
	if got := strings.Join(actions, ", "); got != "revoke_admin by admin, grant_admin by admin, add_user by " {
		t.Errorf("viewer's audit entries = %q", got)
	}
}

func TestLastEnabledAdminCannotBeDemotedOrDisabled(t *testing.T) {
	app := newTestApp(t)
	admin := app.adminClient()
	for _, action := range []string{"admin", "disable"} {
		r := admin.submit("/admin/users", "/admin/users/admin/"+action, url.Values{"is_admin": {"0"}}).wantStatus(http.StatusConflict)
		if got := r.text("[role=alert]"); !strings.Contains(got, "last enabled cluster admin") {
			t.Errorf("%s: alert = %q", action, got)
		}
		if !r.has(`table#users tr[data-username="admin"][data-admin="yes"][data-disabled="no"]`) {
			t.Errorf("%s: the 409 page does not show admin unchanged", action)
		}
	}
	admin.get("/admin/scm").wantStatus(http.StatusOK)
}

func TestDisabledAccountIsSignedOutAtOnce(t *testing.T) {
	app := newTestApp(t)
	v := app.withViewer()
	admin := app.adminClient()
	v.get("/account/password").wantStatus(http.StatusOK)

	admin.submit("/admin/users", "/admin/users/viewer/disable", nil).wantRedirect("/admin/users")
	v.get("/account/password").wantRedirect("/login?next=%2Faccount%2Fpassword")
	r := v.login("viewer", viewerPassword).wantStatus(http.StatusForbidden)
	if got := r.text("[role=alert]"); !strings.Contains(got, "disabled") {
		t.Errorf("alert = %q", got)
	}
	if !admin.get("/admin/users").has(`tr[data-username="viewer"][data-disabled="yes"] .badge`) {
		t.Error("viewer not shown disabled")
	}

	admin.submit("/admin/users", "/admin/users/viewer/enable", nil).wantRedirect("/admin/users")
	v.login("viewer", viewerPassword).wantStatus(http.StatusSeeOther)
	v.get("/account/password").wantStatus(http.StatusOK)
}

func TestSetAccountPassword(t *testing.T) {
	app := newTestApp(t)
	v := app.withViewer()
	admin := app.adminClient()
	set := func(name, password string) *response {
		return admin.submit("/admin/users", "/admin/users/"+name+"/password", url.Values{"password": {password}})
	}
	set("viewer", "viewer's new password").wantRedirect("/admin/users")
	v.get("/account/password").wantRedirect("/login?next=%2Faccount%2Fpassword")
	v.login("viewer", viewerPassword).wantStatus(http.StatusUnauthorized)
	v.login("viewer", "viewer's new password").wantStatus(http.StatusSeeOther)

	r := set("viewer", "short").wantStatus(http.StatusUnprocessableEntity)
	if !r.has(`#password-viewer[aria-invalid="true"]`) || !strings.Contains(r.text("#password-viewer-error"), "12") {
		t.Errorf("short password not marked on viewer's row:\n%s", r.body)
	}
	r = set("admin", adminPassword).wantStatus(http.StatusUnprocessableEntity)
	if !strings.Contains(r.text("#password-admin-error"), "current password") {
		t.Errorf("own password set to itself: %s", r.text("#password-admin-error"))
	}
	// Setting one's own password keeps one signed in, with a new session.
	set("admin", "the admin's new password").wantRedirect("/admin/users")
	admin.get("/admin/users").wantStatus(http.StatusOK)
	app.client().login(adminName, adminPassword).wantStatus(http.StatusUnauthorized)
}

func TestChangeOwnPasswordToTheSameIsRefused(t *testing.T) {
	app := newTestApp(t)
	admin := app.adminClient()
	r := admin.submit("/account/password", "/account/password", url.Values{"current_password": {adminPassword},
		"new_password": {adminPassword}, "confirm_password": {adminPassword}}).wantStatus(http.StatusUnprocessableEntity)
	if !strings.Contains(r.text("#new_password-error"), "current password") {
		t.Errorf("error = %q", r.text("#new_password-error"))
	}
	admin.get("/admin/scm").wantStatus(http.StatusOK) // still signed in
}

// `scmadmin user admin` and a disable by another server write from another process: the
// user and session caches, filled by the viewer's requests, see it on the next request
// (the data_versions triggers count the writes to users and sessions).
func TestAccountChangesByAnotherProcessAreSeen(t *testing.T) {
	app := newTestApp(t)
	v := app.withViewer()
	v.get("/admin/scm").wantStatus(http.StatusForbidden)
	v.get("/admin/scm").wantStatus(http.StatusForbidden) // now from the caches
	other := app.otherProcess()
	by := store.Actor{Username: "scmadmin user admin", Addr: "command line"}

	token := app.st.ChangeToken()
	if err := other.SetAdmin(context.Background(), "viewer", true, by); err != nil {
		t.Fatal(err)
	}
	app.awaitChange(token)
	v.get("/admin/scm").wantStatus(http.StatusOK)
	before := mustVersions(t, app.st)
	token = app.st.ChangeToken()
	if err := other.SetDisabled(context.Background(), "viewer", true, by); err != nil {
		t.Fatal(err)
	}
	app.awaitChange(token)
	if after := mustVersions(t, app.st); after.Users == before.Users || after.Sessions == before.Sessions {
		t.Errorf("disabling left a version unchanged: %+v → %+v", before, after)
	}
	v.get("/admin/scm").wantRedirect("/login")
}

func mustVersions(t *testing.T, st *store.Store) store.Versions {
	t.Helper()
	vs, err := st.Versions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return vs
}
