package web

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scmadmin/scmadmin/store"
)

func TestSignInBackoffPerAccount(t *testing.T) {
	app := newTestApp(t)
	now := time.Now()
	app.s.signIns.now = func() time.Time { return now }
	c := app.client()
	for i := range freeFailures {
		c.login(adminName, "wrong password "+strconv.Itoa(i)).wantStatus(http.StatusUnauthorized)
	}
	// Past the free failures even the right password waits, told for how long.
	r := c.login(adminName, adminPassword).wantStatus(http.StatusTooManyRequests)
	if ra, _ := strconv.Atoi(r.header.Get("Retry-After")); ra < 1 || ra > int(firstBackoff.Seconds()) {
		t.Errorf("Retry-After %q", r.header.Get("Retry-After"))
	}
	if !strings.Contains(r.text("[role=alert]"), "Try again in 30 seconds") {
		t.Errorf("alert %q", r.text("[role=alert]"))
	}
	evs, _, _ := app.st.ListAudit(context.Background(), store.AuditQuery{Limit: 1})
	if len(evs) == 0 || evs[0].Action != store.ActionSignInThrottled {
		t.Errorf("the refused attempt is not audited: %+v", evs)
	}
	// Another account from the same address is not held back by this one.
	if _, err := app.st.CreateUser(context.Background(), "second", "second password 1", true, store.Actor{}); err != nil {
		t.Fatal(err)
	}
	c.login("second", "second password 1").wantRedirect("/admin/scm")

	// Once the wait is over, the right password works and clears the count; the next
	// wrong one is free again.
	now = now.Add(firstBackoff + time.Second)
	c.login(adminName, adminPassword).wantRedirect("/admin/scm")
	c.login(adminName, "wrong again").wantStatus(http.StatusUnauthorized)

	// Each failure past the free ones doubles the wait (one failure is already counted).
	for range freeFailures - 1 {
		c.login(adminName, "wrong").wantStatus(http.StatusUnauthorized)
	}
	now = now.Add(firstBackoff + time.Second)
	c.login(adminName, "wrong").wantStatus(http.StatusUnauthorized)
	r = c.login(adminName, adminPassword).wantStatus(http.StatusTooManyRequests)
	if ra := r.header.Get("Retry-After"); ra != strconv.Itoa(int(2*firstBackoff/time.Second)) {
		t.Errorf("Retry-After after one more failure %s, want %v", ra, 2*firstBackoff)
	}
}

func TestSignInLimitPerAddress(t *testing.T) {
	app := newTestApp(t)
	c := app.client()
	for i := range addrFailures {
		// A different name each time: only the address ties them together.
		c.login("guess"+strconv.Itoa(i), "x").wantStatus(http.StatusUnauthorized)
	}
	c.login(adminName, adminPassword).wantStatus(http.StatusTooManyRequests)
}

func TestLongUnicodePasswordSignsIn(t *testing.T) {
	app := newTestApp(t)
	pw := strings.Repeat("пароль-密码-🔑 ", 8) // 96 characters, spaces included
	if _, err := app.st.CreateUser(context.Background(), "unicode", pw, true, store.Actor{}); err != nil {
		t.Fatal(err)
	}
	app.client().login("unicode", pw).wantRedirect("/admin/scm")
}

func TestChangePassword(t *testing.T) {
	app := newTestApp(t)
	c := app.adminClient()
	other := app.adminClient() // the same user in another browser

	change := func(current, next, again string) *response {
		return c.submit("/account/password", "/account/password",
			url.Values{"current_password": {current}, "new_password": {next}, "confirm_password": {again}})
	}
	r := change("not the password", "a brand new password", "a brand new password").wantStatus(http.StatusUnprocessableEntity)
	if !strings.Contains(r.text("#current_password-error"), "not your current password") {
		t.Errorf("#current_password-error %q", r.text("#current_password-error"))
	}
	change(adminPassword, "short", "short").wantStatus(http.StatusUnprocessableEntity)
	r = change(adminPassword, "a brand new password", "a different one!!").wantStatus(http.StatusUnprocessableEntity)
	if !r.has("#confirm_password-error") {
		t.Error("no error for the mismatched confirmation")
	}
	other.get("/admin/scm").wantStatus(http.StatusOK)

	change(adminPassword, "a brand new password", "a brand new password").wantRedirect("/admin/scm")
	if got := c.get("/admin/scm").wantStatus(http.StatusOK).text("[role=status]"); !strings.Contains(got, "Changed your password") {
		t.Errorf("status %q", got)
	}
	// The other session is over; this one goes on; the new password works, the old not.
	other.get("/admin/scm").wantRedirect("/login")
	app.client().login(adminName, adminPassword).wantStatus(http.StatusUnauthorized)
	app.client().login(adminName, "a brand new password").wantRedirect("/admin/scm")

	app.client().get("/account/password").wantRedirect("/login?next=%2Faccount%2Fpassword")
}

func TestParallelGuessesAreCountedBeforeHashing(t *testing.T) {
	app := newTestApp(t)
	c := app.client()
	token := c.get("/login").csrf()
	codes := make(chan int, 20)
	for i := range 20 {
		go func() {
			form := url.Values{"_csrf": {token}, "username": {adminName}, "password": {"guess " + strconv.Itoa(i)}}
			req, _ := http.NewRequest(http.MethodPost, app.srv.URL+"/login", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			res, err := c.http.Do(req)
			if err != nil {
				codes <- 0
				return
			}
			res.Body.Close()
			codes <- res.StatusCode
		}()
	}
	got := map[int]int{}
	for range 20 {
		got[<-codes]++
	}
	if got[http.StatusUnauthorized] != freeFailures || got[http.StatusTooManyRequests] != 20-freeFailures {
		t.Errorf("status codes %v: want %d tries and the rest refused", got, freeFailures)
	}
	// One audit entry for the lock, however many were refused.
	evs, _, _ := app.st.ListAudit(context.Background(), store.AuditQuery{Limit: 100})
	throttled := 0
	for _, ev := range evs {
		if ev.Action == store.ActionSignInThrottled {
			throttled++
		}
	}
	if throttled != 1 {
		t.Errorf("%d throttled sign-ins audited, want 1", throttled)
	}
}

func TestFailuresAreForgottenAfterQuiet(t *testing.T) {
	app := newTestApp(t)
	now := time.Now()
	app.s.signIns.now = func() time.Time { return now }
	c := app.client()
	for range freeFailures - 1 {
		c.login(adminName, "wrong").wantStatus(http.StatusUnauthorized)
	}
	// One wrong password every quarter of an hour no longer keeps the account locked.
	now = now.Add(maxBackoff + time.Minute)
	for range freeFailures - 1 {
		c.login(adminName, "wrong").wantStatus(http.StatusUnauthorized)
	}
	c.login(adminName, adminPassword).wantRedirect("/admin/scm")
}

func TestHugeUsernamesDoNotGrowTheLimiter(t *testing.T) {
	l := newSignInLimiter(nil)
	ctx := context.Background()
	for i := range 3 {
		name := strings.Repeat("x", 1<<20) + strconv.Itoa(i)
		l.begin(ctx, name, "127.0.0.1")
		l.failed(name, "127.0.0.1")
	}
	for k := range l.accounts {
		if len(k) > maxKeyLen {
			t.Fatalf("a %d-byte key is kept", len(k))
		}
	}
	for i := range maxEntries + 10 {
		name, addr := "user"+strconv.Itoa(i), "127.0."+strconv.Itoa(i/250)+"."+strconv.Itoa(i%250)
		if wait, _, _ := l.begin(ctx, name, addr); wait == 0 {
			l.failed(name, addr)
		}
	}
	if n := len(l.accounts) + len(l.addrs); n > maxEntries+1 {
		t.Errorf("%d entries kept, want at most about %d", n, maxEntries)
	}
}
