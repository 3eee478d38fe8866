package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scmadmin/scmadmin/store"
)

// Attacks on sign-in (issue 13, items 1, 2 and 10), against the real server.

// signInFrom posts a sign-in from the loopback address ip with the CSRF token a page gave
// (token is both the cookie and the field, as a browser sends them) and returns the status,
// or 0 when ctx ended first.
func signInFrom(ctx context.Context, app *testApp, hc *http.Client, token, username, password string) int {
	form := url.Values{"username": {username}, "password": {password}, "_csrf": {token}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, app.srv.URL+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: csrfCookie, Value: token})
	res, err := hc.Do(req)
	if err != nil {
		return 0
	}
	res.Body.Close()
	return res.StatusCode
}

// noRedirects is fromAddr(ip) that shows redirects instead of following them.
func noRedirects(ip string) *http.Client {
	hc := fromAddr(ip)
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return hc
}

// TestLockoutSurvivesAFlood: once, past 10,000 entries the limiter forgot everything, locks
// included, and a locked account's password was let in (issue 13, item 1). The bound is
// lowered here so that the flood is small; the rule is the same.
func TestLockoutSurvivesAFlood(t *testing.T) {
	app := newTestApp(t)
	app.s.signIns.max = 100
	frozen := time.Now() // however long the flood takes, the lock has not run out
	app.s.signIns.now = func() time.Time { return frozen }
	if _, err := app.st.CreateUser(context.Background(), "bob", adminPassword, false, store.Actor{}); err != nil {
		t.Fatal(err)
	}
	token := app.client().get("/login").csrf()
	ctx := context.Background()
	attacker := noRedirects("127.0.3.1")
	for range freeFailures {
		signInFrom(ctx, app, attacker, token, adminName, "wrong")
	}
	lockedAddr := noRedirects("127.0.3.250")
	for i := range addrFailures {
		signInFrom(ctx, app, lockedAddr, token, fmt.Sprintf("nobody-%d", i), "wrong")
	}
	// The flood: made-up names from many addresses, each address below its own limit.
	var wg sync.WaitGroup
	for g := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hc := noRedirects(fmt.Sprintf("127.0.3.%d", 10+g))
			for i := range 20 {
				signInFrom(ctx, app, hc, token, fmt.Sprintf("junk-%d-%d", g, i), "wrong")
			}
		}()
	}
	wg.Wait()
	app.s.signIns.mu.Lock()
	n := len(app.s.signIns.accounts) + len(app.s.signIns.addrs)
	app.s.signIns.mu.Unlock()
	if n > 101 {
		t.Errorf("%d entries kept, bound 100", n)
	}
	if got := signInFrom(ctx, app, noRedirects("127.0.3.200"), token, adminName, adminPassword); got != http.StatusTooManyRequests {
		t.Errorf("the locked account's password from a new address after the flood: %d, want 429", got)
	}
	if got := signInFrom(ctx, app, lockedAddr, token, "bob", adminPassword); got != http.StatusTooManyRequests {
		t.Errorf("a locked address after the flood: %d, want 429", got)
	}
}

// TestSignInFloodDoesNotKeepAdminsOut: 10,200 abandoned sign-ins once kept the CPU busy for
// six minutes, and a real admin's sign-in took 412 s (issue 13, item 2). While 10,000 junk
// sign-ins arrive, the admin signs in within 5 s (well under a second on an idle machine; the
// bound leaves room for -race beside the other packages' tests on two cores).
func TestSignInFloodDoesNotKeepAdminsOut(t *testing.T) {
	app := newTestApp(t)
	token := app.client().get("/login").csrf()
	const junk, senders = 10_000, 50
	var sent, busy atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hc := noRedirects(fmt.Sprintf("127.0.4.%d", g+1))
			for i := 0; sent.Add(1) <= junk; i++ {
				// Abandoned after 200 ms, as a flood's clients do.
				ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
				if signInFrom(ctx, app, hc, token, fmt.Sprintf("junk-%d-%d", g, i), "wrong") == http.StatusServiceUnavailable {
					busy.Add(1)
				}
				cancel()
			}
		}()
	}
	go func() { wg.Wait(); close(stop) }()
	for sent.Load() < junk/10 {
		time.Sleep(10 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	status := signInFrom(ctx, app, noRedirects("127.0.5.1"), token, adminName, adminPassword)
	took := time.Since(start)
	t.Logf("admin signed in (%d) in %s after %d junk sign-ins", status, took, sent.Load())
	if status != http.StatusSeeOther || took > 5*time.Second {
		t.Errorf("the admin's sign-in during the flood: %d after %s, want 303 within 5 s", status, took)
	}
	<-stop
	if busy.Load() == 0 {
		t.Error("no junk sign-in was refused as busy: the queue is not bounded")
	}
}

// TestSimultaneousCorrectSignIns: ten correct sign-ins of one account at once all succeed
// (half were refused with 429: each attempt counted as a failure before its check).
func TestSimultaneousCorrectSignIns(t *testing.T) {
	app := newTestApp(t)
	var wg sync.WaitGroup
	statuses := make(chan int, 10)
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := app.client()
			token := c.get("/login").csrf()
			statuses <- signInFrom(context.Background(), app, c.http, token, adminName, adminPassword)
		}()
	}
	wg.Wait()
	close(statuses)
	for s := range statuses {
		if s != http.StatusSeeOther {
			t.Errorf("a simultaneous correct sign-in answered %d, want 303", s)
		}
	}
}

// TestParallelGuessesStillLock: guesses sent at once cannot all be checked before the lock.
func TestParallelGuessesStillLock(t *testing.T) {
	app := newTestApp(t)
	token := app.client().get("/login").csrf()
	var wg sync.WaitGroup
	var unauthorized atomic.Int64
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if signInFrom(context.Background(), app, noRedirects("127.0.6.1"), token, adminName, "wrong") == http.StatusUnauthorized {
				unauthorized.Add(1)
			}
		}()
	}
	wg.Wait()
	if n := unauthorized.Load(); n != freeFailures {
		t.Errorf("%d of 20 parallel guesses were checked, want %d", n, freeFailures)
	}
}

// TestFailedSignInAuditsOnlyAccountNames: a password typed into the user name box must not
// land in the audit trail (issue 13, item 10).
func TestFailedSignInAuditsOnlyAccountNames(t *testing.T) {
	app := newTestApp(t)
	c := app.client()
	c.login("Tr0ub4dor&3-secret", "anything").wantStatus(http.StatusUnauthorized)
	c.login(adminName, "wrong password").wantStatus(http.StatusUnauthorized)
	r := app.adminClient().get("/admin/audit")
	if strings.Contains(r.body, "Tr0ub4dor") {
		t.Error("a name no account has (perhaps a password) is in the audit trail")
	}
	rows := auditRows(t, r, true)
	var who []string
	for _, row := range rows {
		if row.action == "sign_in_failed" {
			who = append(who, row.who)
		}
	}
	if strings.Join(who, ",") != adminName+","+unknownAccount {
		t.Errorf("failed sign-ins by %q, want the account's name, then %q", who, unknownAccount)
	}
}

// TestClientThatLeftIsLogged499: a request whose client left was logged and counted as 200
// (issue 13, item 10). Here a sign-in waits for a hashing place that never frees, and its
// client gives up.
func TestClientThatLeftIsLogged499(t *testing.T) {
	app := newTestApp(t)
	app.s.hashing = newHashQueue(0)
	token := app.client().get("/login").csrf()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if got := signInFrom(ctx, app, noRedirects("127.0.7.1"), token, adminName, adminPassword); got != 0 {
		t.Fatalf("the sign-in was answered %d before its client left", got)
	}
	deadline := time.Now().Add(2 * time.Second)
	for !strings.Contains(app.logs.String(), `"path":"/login","route":"/login","status":499`) {
		if time.Now().After(deadline) {
			t.Fatalf("no request logged with status 499:\n%s", app.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if m := app.client().get("/metrics").body; !strings.Contains(m, `scmadmin_http_requests_total{code="499",route="/login"} 1`) {
		t.Error("the request is not counted as 499 in /metrics")
	}
}
