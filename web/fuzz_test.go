package web

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"github.com/scmadmin/scmadmin/store"
	"github.com/scmadmin/scmadmin/web/provider"
)

// Fuzz targets for what strangers and admins send: webhook deliveries (signed, so that the
// body gets past the signature check and reaches the parser), sign-ins and the Add form. No
// input may make a 500 or a panic. Their seed corpora run as ordinary tests. The attacks of
// issue 13 are kept here too, as properties every input must keep: a replayed delivery
// builds nothing, a lie about a body's length erases no history, a typed name reaches the
// audit trail only when it is an account's, and no flood of names lifts a lock.

const fuzzHookSecret = "fuzz-webhook-secret"

// FuzzWebhookBody posts body, with event as X-Event-Key, to a Bitbucket Server configuration's
// webhook, validly signed. Then, as an attacker who captured it would, it sends the same body
// again under a new X-Request-Id and under none, and once more claiming Content-Length:
// 2000000 (issue 13, items 3 and 5).
func FuzzWebhookBody(f *testing.F) {
	fixtureBody, err := os.ReadFile("../../shared/fixtures/bitbucket-server/push-master.json")
	if err != nil {
		fixtureBody = pushBody(masterPush(fixtureHash))
	}
	seeds := [][]byte{
		fixtureBody,
		pushBody(masterPush(fixtureHash)),
		pushBody(pushSpec{project: "OTHER", slug: "x", ref: "refs/heads/master", change: "UPDATE", toHash: "abc", date: "bad date"}),
		pushBody(pushSpec{project: "ALGO", slug: "x", ref: "refs/heads/dev", change: "DELETE", toHash: "abc", date: "2026-11-20T14:03:11+0000"}),
		{},
		[]byte("null"),
		[]byte("[]"),
		[]byte("{}"),
		[]byte(`{"changes":null,"repository":{"project":{"key":"ALGO"}}}`),
		[]byte(`{"changes":[{}],"repository":{"project":{"key":"algo"}}}`),
		[]byte(`{"changes":[{"ref":{"id":"refs/heads/master"},"type":"ADD","toHash":""}],"repository":{"project":{"key":"ALGO"},"slug":""}}`),
		[]byte(`{"date":12,"actor":[],"repository":"x"}`),
		[]byte("\xff\xfe\x00garbage"),
	}
	// Deeply nested JSON and huge strings. While fuzzing they stay small: the engine
	// minimises every new interesting input, which takes minutes for one of hundreds of KiB.
	depth, long := 20000, 100000
	fuzzing := isFuzzing()
	if fuzzing {
		depth, long = 100, 1000
	}
	seeds = append(seeds,
		[]byte(strings.Repeat("[", depth)+strings.Repeat("]", depth)),
		[]byte(strings.Repeat(`{"a":`, depth/4)+"1"+strings.Repeat("}", depth/4)),
		[]byte(`{"changes":[{"ref":{"id":"refs/heads/master"},"type":"UPDATE","toHash":"`+strings.Repeat("f", long)+
			`"}],"actor":{"name":"`+strings.Repeat("ü", long/2)+`"},"repository":{"slug":"`+strings.Repeat("s", long)+`","project":{"key":"ALGO"}}}`))
	if !fuzzing {
		// Bodies at and over the 1 MiB limit (413), in the seed run only.
		seeds = append(seeds, bytes.Repeat([]byte("x"), maxDelivery), bytes.Repeat([]byte("x"), maxDelivery+1))
	}
	// Issue 13, item 3: fields just over what is stored, cut where a rune would split (an
	// actor of 128 "é" is 256 bytes; the slug's 128th byte is inside its "ü"), and the
	// fixture's commit pushed again in another body (another actor and date): the same
	// (repository, commit), so no second build, whatever the delivery id.
	atBounds := masterPush(strings.Repeat("c", 40))
	atBounds.actor, atBounds.slug = strings.Repeat("é", 128), strings.Repeat("s", 127)+"ü"
	again := masterPush(fixtureHash)
	again.actor, again.date = "mallory", "2026-11-21T09:00:00+0000"
	seeds = append(seeds, pushBody(atBounds), pushBody(again))
	events := []string{"repo:refs_changed", "", "diagnostics:ping", "pr:opened", "repo:refs_changed\x00", strings.Repeat("e", 300)}
	for i, body := range seeds {
		f.Add(body, events[i%len(events)], "req-"+strconv.Itoa(i))
		f.Add(body, "repo:refs_changed", "")
	}
	// A captured push sent again under the first one's id, a forged one, a huge one.
	f.Add(fixtureBody, "repo:refs_changed", "req-0")
	f.Add(fixtureBody, "repo:refs_changed", "forged-"+strings.Repeat("9", 200))
	f.Add(pushBody(again), "repo:refs_changed", "\x00\u202e")

	app := newTestAppWith(f, Config{BaseURL: hookBaseURL})
	ctx := context.Background()
	cfg, err := app.st.CreateSCMConfig(ctx, store.SCMConfig{Provider: "bitbucket_server", WebsiteURL: "https://bitbucket.example.com",
		APIURL: "https://bitbucket.example.com/rest/api/1.0", SSHURL: "ssh://git@bitbucket.example.com:7999", ProjectKey: "ALGO",
		UniqueKey: "fuzz bitbucket_server ALGO"}, map[string]string{"access_token": "t", store.WebhookSecret: "made at creation"},
		store.Actor{Username: "fuzz"})
	if err != nil {
		f.Fatal(err)
	}
	if err := app.st.RotateWebhookSecret(ctx, cfg.ID, fuzzHookSecret, store.Actor{Username: "fuzz"}); err != nil {
		f.Fatal(err)
	}
	// Only registered repositories build: the fixture's, and the one pushed at the bounds.
	for _, name := range []string{"sentiment-analysis", strings.Repeat("s", 127)} {
		if _, err := app.st.RegisterRepository(ctx, store.Repository{ConfigID: cfg.ID, Owner: "ALGO", Name: name}, store.Actor{Username: "fuzz"}); err != nil {
			f.Fatal(err)
		}
	}
	handler := app.srv.Config.Handler
	path := "/hooks/scm/" + strconv.FormatInt(cfg.ID, 10)
	// send posts body as a delivery claiming length bytes of body, and returns the answer.
	send := func(body []byte, event, requestID string, length int64) (int, string) {
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		req.ContentLength = length
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Event-Key", event)
		if requestID != "" {
			req.Header.Set("X-Request-Id", requestID)
		}
		req.Header.Set("X-Hub-Signature", signHook(body, fuzzHookSecret))
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req) // a panic that escapes Recover fails the fuzz run
		return rec.Code, rec.Body.String()
	}
	latest := func(t *testing.T) (delivery, build int64, failures int) {
		ds, err := app.st.Deliveries(ctx, cfg.ID, 1)
		if err != nil {
			t.Fatal(err)
		}
		bs, err := app.st.Builds(ctx, cfg.ID, 1)
		if err != nil {
			t.Fatal(err)
		}
		ws, err := app.st.WebhookStatus(ctx, cfg.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) > 0 {
			delivery = ds[0].ID
		}
		if len(bs) > 0 {
			build = bs[0].ID
		}
		return delivery, build, ws.Failures
	}
	// built is every (repository, commit) this process built, while no build was pruned.
	built := map[[2]string]bool{}
	replays := 0

	f.Fuzz(func(t *testing.T, body []byte, event, requestID string) {
		delivery0, build0, _ := latest(t)
		status, answer := send(body, event, requestID, int64(len(body)))
		switch status {
		case http.StatusOK, http.StatusAccepted, http.StatusBadRequest, http.StatusConflict, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("status %d for a signed delivery (event %q, %d-byte body): %s", status, event, len(body), truncate(answer, 300))
		}
		if len(body) > maxDelivery && status != http.StatusRequestEntityTooLarge {
			t.Errorf("a %d-byte body answered %d, want 413", len(body), status)
		}
		// Issue 13, item 5: refused before its signature is checked, so counted but never
		// recorded (a recorded one would push a signed delivery out of the kept history).
		if delivery, _, _ := latest(t); status == http.StatusRequestEntityTooLarge && delivery != delivery0 {
			t.Errorf("a %d-byte body was refused (413) but recorded as a delivery", len(body))
		}

		// Issue 13, item 3: the same signed body again, under a new X-Request-Id and under none,
		// is answered as the first was and builds nothing more: one build per (configuration,
		// repository, commit), whatever the delivery's id.
		replays++
		for _, id := range []string{"replay-" + strconv.Itoa(replays), ""} {
			again, answerAgain := send(body, event, id, int64(len(body)))
			if again != status {
				t.Errorf("the same signed body with X-Request-Id %q answered %d, the first time %d", id, again, status)
			}
			if strings.HasPrefix(answer, store.DeliveryAccepted+":") && !strings.HasPrefix(answerAgain, store.DeliveryDuplicate+":") {
				t.Errorf("a replayed push with X-Request-Id %q answered %q, want a duplicate", id, truncate(answerAgain, 200))
			}
		}
		bs, err := app.st.Builds(ctx, cfg.ID, 4)
		if err != nil {
			t.Fatal(err)
		}
		var fresh []store.Build
		for _, b := range bs {
			if b.ID > build0 {
				fresh = append(fresh, b)
			}
		}
		if len(fresh) > 1 {
			t.Errorf("one signed body sent under 3 delivery ids made %d builds, want at most 1", len(fresh))
		}
		for _, b := range fresh {
			// Stored as bounded, valid UTF-8 (a cut inside a rune would not be).
			if len(b.Commit) > 64 || len(b.Actor) > 255 || len(b.Repository) > 128 || len(b.ProjectKey) > 128 {
				t.Errorf("stored a commit of %d bytes, an actor of %d, a slug of %d, a project of %d",
					len(b.Commit), len(b.Actor), len(b.Repository), len(b.ProjectKey))
			}
			for _, s := range []string{b.Commit, b.Actor, b.Repository, b.ProjectKey} {
				if !utf8.ValidString(s) {
					t.Errorf("stored %q: cut inside a character", truncate(s, 100))
				}
			}
			key := [2]string{b.Repository, b.Commit}
			if built[key] && len(built) < store.KeptBuilds {
				t.Errorf("commit %q of %q built a second time (X-Request-Id %q)", truncate(b.Commit, 64), truncate(b.Repository, 64), requestID)
			}
			built[key] = true
		}

		// Issue 13, item 5: the same body claiming Content-Length: 2000000 is refused before it
		// is read or its signature checked: the failure is counted, no delivery recorded.
		delivery1, _, failures1 := latest(t)
		if lied, answerLied := send(body, event, requestID, 2_000_000); lied != http.StatusRequestEntityTooLarge {
			t.Errorf("a %d-byte body claiming 2,000,000 bytes answered %d %q, want 413", len(body), lied, truncate(answerLied, 200))
		}
		if delivery, _, failures := latest(t); delivery != delivery1 || failures != failures1+1 {
			t.Errorf("a Content-Length lie was recorded as a delivery (%v) or not counted as a failure (%d, then %d)",
				delivery != delivery1, failures1, failures)
		}
	})
}

// isFuzzing says whether this run is fuzzing (-fuzz), not only running the seed corpora.
func isFuzzing() bool {
	fl := flag.Lookup("test.fuzz")
	return fl != nil && fl.Value.String() != ""
}

// signInVia posts a sign-in straight to handler, as from addr, with a CSRF token of its own
// in the cookie and the form, as a browser sends them.
func signInVia(ctx context.Context, handler http.Handler, addr, username, password string) *httptest.ResponseRecorder {
	token := strings.Repeat("k", 43)
	form := url.Values{"username": {username}, "password": {password}, "_csrf": {token}}
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: csrfCookie, Value: token})
	req.RemoteAddr = net.JoinHostPort(addr, "40000")
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, req)
	return rec
}

// FuzzSignInName signs in with any name and password, each input from an address of its own,
// while one account and one address are locked (issue 13, items 1 and 10). The limiter's
// clock stands still, so the locks outlast any run, and its bound is lowered so far that the
// seeds alone overflow it. Whatever is typed: no 500; the audit trail names an account or
// "unknown account", never the typed text (it may be a password); the limiter keeps within
// its bound, with no attempt left pending; and both locks still hold.
func FuzzSignInName(f *testing.F) {
	const (
		bobPassword = "another passphrase, long enough"
		lockedAddr  = "192.0.2.1"
		bound       = 16
	)
	seeds := [][2]string{
		{adminName, adminPassword},
		{" " + adminName + "\t", adminPassword},
		{"ADMIN", adminPassword},
		{adminName, "wrong"},
		{adminPassword, adminName}, // the password typed into the name box
		{"Tr0ub4dor&3-secret", ""},
		{"bob", bobPassword}, // locked: refused, right password or not
		{"BOB", bobPassword},
		{unknownAccount, "x"},
		{"", ""},
		{"ａｄｍｉｎ", adminPassword},
		{"admin\u200b", adminPassword},
		{"\u202enimda\x00", "\x00"},
		{"\xff\xfe", "\xc3"},
		{"admin\r\nX-Injected: 1", "<script>alert(1)</script>"},
		{strings.Repeat("a", maxKeyLen) + "b", "x"}, // these two share a limiter key
		{strings.Repeat("a", maxKeyLen) + "c", "x"},
	}
	long := 100_000
	if isFuzzing() {
		long = 1000 // the engine minimises every new interesting input: keep them small
	}
	seeds = append(seeds, [2]string{strings.Repeat("n", long), "x"}, [2]string{strings.Repeat("ü", long/2), strings.Repeat("p", long)})
	if !isFuzzing() {
		seeds = append(seeds, [2]string{strings.Repeat("n", 1<<20), "x"}) // over the 1 MiB form limit
	}
	for _, s := range seeds {
		f.Add(s[0], s[1])
	}

	app := newTestApp(f)
	ctx := context.Background()
	if _, err := app.st.CreateUser(ctx, "bob", bobPassword, false, store.Actor{Username: adminName}); err != nil {
		f.Fatal(err)
	}
	l := app.s.signIns
	frozen := time.Now()
	l.now = func() time.Time { return frozen }
	// The locks, through the limiter (so many hashed guesses would take seconds under -race).
	fail := func(username, addr string) {
		if wait, _, err := l.begin(ctx, username, addr); wait > 0 || err != nil {
			f.Fatalf("sign-in as %s from %s refused before its lock: %s %v", username, addr, wait, err)
		}
		l.failed(username, addr)
	}
	for range freeFailures {
		fail("bob", "192.0.2.2")
	}
	for i := range addrFailures {
		fail("guess-"+strconv.Itoa(i), lockedAddr)
	}
	l.max = bound
	handler := app.srv.Config.Handler
	var n int

	f.Fuzz(func(t *testing.T, username, password string) {
		n++
		addr := fmt.Sprintf("10.%d.%d.%d", n>>16&255, n>>8&255, n&255)
		evs, _, err := app.st.ListAudit(ctx, store.AuditQuery{Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		var lastAudit int64
		if len(evs) > 0 {
			lastAudit = evs[0].ID
		}
		rec := signInVia(ctx, handler, addr, username, password)
		switch rec.Code {
		case http.StatusSeeOther, http.StatusUnauthorized, http.StatusTooManyRequests:
		case http.StatusRequestEntityTooLarge:
			if len(username)+len(password) < 1<<20 {
				t.Fatalf("a %d-byte name answered 413", len(username))
			}
		default:
			t.Fatalf("sign-in as %q: status %d\n%s", truncate(username, 100), rec.Code, truncate(rec.Body.String(), 500))
		}

		// Issue 13, item 10: a name no account has is audited as "unknown account".
		evs, _, err = app.st.ListAudit(ctx, store.AuditQuery{Limit: 5})
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			if who := ev.Actor.Username; ev.ID > lastAudit && who != adminName && who != "bob" && who != unknownAccount {
				t.Errorf("sign-in as %q audited %s by %q: only accounts' names may reach the audit trail",
					truncate(username, 100), ev.Action, truncate(who, 100))
			}
		}

		// Issue 13, item 1: the locks hold, however many entries the limiter has had to forget.
		if got := signInVia(ctx, handler, addr, "bob", bobPassword).Code; got != http.StatusTooManyRequests {
			t.Errorf("after sign-in %d (%q), the locked account's own password from a new address: %d, want 429", n, truncate(username, 100), got)
		}
		if got := signInVia(ctx, handler, lockedAddr, adminName, adminPassword).Code; got != http.StatusTooManyRequests {
			t.Errorf("after sign-in %d (%q), the admin's password from the locked address: %d, want 429", n, truncate(username, 100), got)
		}
		l.mu.Lock()
		entries, locks, pending, longest := len(l.accounts)+len(l.addrs), 0, 0, 0
		for k, a := range l.accounts {
			locks += boolInt(a.until.After(frozen))
			pending += a.pending
			longest = max(longest, utf8.RuneCountInString(k))
		}
		for _, w := range l.addrs {
			locks += boolInt(w.count >= addrFailures)
			pending += w.pending
		}
		l.mu.Unlock()
		// Past the bound only locks are kept, and each attempt adds at most two entries.
		if entries > max(bound+1, locks+2) {
			t.Errorf("the limiter holds %d entries (%d locked), bound %d", entries, locks, bound)
		}
		if pending != 0 {
			t.Errorf("%d attempts left pending: their entries could never be forgotten", pending)
		}
		if longest > maxKeyLen {
			t.Errorf("an account is kept under a key of %d characters, want at most %d", longest, maxKeyLen)
		}
	})
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// FuzzCreateForm posts the Add form with fuzzed values, as a signed-in admin.
func FuzzCreateForm(f *testing.F) {
	ids := []string{}
	for _, p := range provider.Selectable() {
		ids = append(ids, p.ID)
	}
	if len(ids) != 6 {
		f.Fatalf("%d selectable providers, want 6: %v", len(ids), ids)
	}
	for i := range ids {
		v := validForm(ids[i])
		f.Add(uint8(i), v.Get("website_url"), v.Get("api_url"), v.Get("ssh_url"), v.Get("project_key")+v.Get("client_id"),
			v.Get("access_token")+v.Get("client_secret"))
	}
	for _, s := range [][5]string{
		{"", "", "", "", ""},
		{"https://", "https://:0", "ssh://:", "_", " "},
		{"HTTPS://Bitbucket.Example.COM:443/", "https://[::1]:8443/x", "git@[::1]:22", "algo", "tok"},
		{"https://bb.example.com/%zz", "https://bb.example.com/?q#f", "ssh://u@h:65536", "A" + strings.Repeat("B", 200), strings.Repeat("t", 2000)},
		{"https://ü.example.com", "https://xn--.example.com", "ssh://git@ü:7999", "ÄLGO", "token\x00"},
		{"javascript:alert(1)", "https://a.example.com\r\nX: y", "ssh://git@a.example.com:7999/path", "<script>", "\"'><"},
		{"https://a.example.com:99999", "https://[fe80::1%25eth0]/", "ssh://[::1]:22", "A_1", "a"},
		{strings.Repeat("https://a.example.com/", 200), "https://a", "ssh://a:1", "Z", strings.Repeat("x", 1024)},
	} {
		for _, p := range []uint8{0, 2, 4} {
			f.Add(p, s[0], s[1], s[2], s[3], s[4])
		}
	}

	app := newTestApp(f)
	c := app.client()
	if r := c.login(adminName, adminPassword); r.status != http.StatusSeeOther {
		f.Fatalf("sign-in: %d; log:\n%s", r.status, app.logs.String())
	}
	token := c.get("/admin/scm/new").csrf()

	f.Fuzz(func(t *testing.T, p uint8, website, api, ssh, key, secret string) {
		id := ids[int(p)%len(ids)]
		form := url.Values{"_csrf": {token}, "provider": {id}, "website_url": {website}, "api_url": {api}, "ssh_url": {ssh},
			"project_key": {key}, "access_token": {secret}, "client_id": {key}, "client_secret": {secret}, "name": {key}}
		body := form.Encode()
		req, _ := http.NewRequest(http.MethodPost, app.srv.URL+"/admin/scm", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		res, err := c.http.Do(req)
		if err != nil {
			t.Fatalf("the server dropped the request (a panic?): %v", err)
		}
		page, _ := io.ReadAll(res.Body)
		res.Body.Close()
		switch {
		case res.StatusCode == http.StatusSeeOther, res.StatusCode == http.StatusUnprocessableEntity:
		case res.StatusCode == http.StatusRequestEntityTooLarge && len(body) > 1<<20:
		default:
			t.Fatalf("provider %s, website %q api %q ssh %q key %q: status %d\n%s", id, website, api, ssh, key, res.StatusCode,
				truncate(string(page), 500))
		}
	})
}

// FuzzAPIBody decodes any body as the API's create and update do: the answer is the request
// or an error envelope with a 4xx status, never a panic, and a refused body names no member
// that is not a field, a member or "urls".
func FuzzAPIBody(f *testing.F) {
	for _, seed := range []string{bbJSON("bb.example.com", "ALGO"), `{}`, `{"urls": {"web": 1}}`, `{"x": 1}`, `[]`, `null`,
		`{"enabled": "no"}`, `{"scm": {"project_key": ["A"]}}`, `{"id": "a", "id": "b"}`, "\x00", `{"name": "` + strings.Repeat("é", 300) + `"}`} {
		f.Add(seed)
	}
	e := echo.New()
	f.Fuzz(func(t *testing.T, body string) {
		for _, code := range []int{codeCreateInvalid, codeUpdateInvalid} {
			req := httptest.NewRequest(http.MethodPost, "/v1/admin/scms", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			var sr scmRequest
			err := decodeJSON(e.NewContext(req, httptest.NewRecorder()), code, &sr)
			if err == nil {
				// Every decoded request maps to form fields, or is refused for credentials that differ.
				if _, err = sr.fields(code); err == nil {
					continue
				}
			}
			ae, ok := err.(*apiError)
			if !ok || ae.Status < 400 || ae.Status > 499 || ae.Message == "" {
				t.Fatalf("body %q: error %#v, want an API error with a 4xx status and a message", body, err)
			}
			if ae.Status == http.StatusBadRequest && ae.Code != code {
				t.Fatalf("body %q: code %d, want %d", body, ae.Code, code)
			}
		}
	})
}

// TestMalformedSignIns: the sign-in floods of issue 13 (items 1 and 2) as small cases, each
// bounded in time and in hashed passwords. Sign-ins go straight to the handler, each from its
// own address; hashing is given no place, so that the queue's order can be watched.
func TestMalformedSignIns(t *testing.T) {
	// queue fills the unknown names' queue with maxWaitingUnknown sign-ins, and returns
	// the function that ends their requests and waits for their answers.
	queue := func(t *testing.T, app *testApp) (leave func() []int) {
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel) // should the test stop first
		codes := make(chan int, maxWaitingUnknown)
		for i := range maxWaitingUnknown {
			go func() {
				codes <- signInVia(ctx, app.srv.Config.Handler, fmt.Sprintf("10.1.0.%d", i+1), fmt.Sprintf("junk-%d", i), "wrong").Code
			}()
		}
		waitUntil(t, "the unknown names' queue is full", func() bool { _, unknown := queued(app.s.hashing); return unknown == maxWaitingUnknown })
		return func() []int {
			cancel()
			var got []int
			for range maxWaitingUnknown {
				got = append(got, <-codes)
			}
			return got
		}
	}
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, app *testApp)
	}{{
		// Before: no bound, and a flood queued for minutes. Now a full queue answers at once.
		name: "a sign-in past a full queue is refused at once with Retry-After, and counts for nothing",
		run: func(t *testing.T, app *testApp) {
			leave := queue(t, app)
			defer leave()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			start := time.Now()
			rec := signInVia(ctx, app.srv.Config.Handler, "10.2.0.1", "one-too-many", "wrong")
			if took := time.Since(start); rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" || took > time.Second {
				t.Errorf("a sign-in past a full queue: %d, Retry-After %q, after %s; want 503 with Retry-After at once",
					rec.Code, rec.Header().Get("Retry-After"), took)
			}
			if a, w, pending := limiterEntries(app.s.signIns, "one-too-many", "10.2.0.1"); a+w+pending != 0 {
				t.Errorf("a sign-in refused as busy counted %d failures of the name, %d of the address, %d pending", a, w, pending)
			}
		},
	}, {
		// Before: one queue in order of arrival; junk ahead of the admin kept the admin out.
		name: "an account's sign-in goes ahead of queued unknown names",
		run: func(t *testing.T, app *testApp) {
			leave := queue(t, app)
			defer leave()
			done := make(chan int, 1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				done <- signInVia(ctx, app.srv.Config.Handler, "10.3.0.1", adminName, adminPassword).Code
			}()
			waitUntil(t, "the admin's sign-in is queued", func() bool { known, _ := queued(app.s.hashing); return known == 1 })
			app.s.hashing.release() // one place frees
			if got := <-done; got != http.StatusSeeOther {
				t.Fatalf("the admin's sign-in: %d, want 303", got)
			}
			// Had the place gone to the first junk sign-in, the admin would have come out last.
			if _, unknown := queued(app.s.hashing); unknown < maxWaitingUnknown/2 {
				t.Errorf("the admin was answered after %d of %d queued unknown names", maxWaitingUnknown-unknown, maxWaitingUnknown)
			}
		},
	}, {
		// Before: a hash ran, and a failure counted, after the client had gone.
		name: "queued sign-ins whose clients left are dropped unhashed and count for nothing",
		run: func(t *testing.T, app *testApp) {
			codes := queue(t, app)()
			for _, code := range codes {
				if code == http.StatusUnauthorized {
					t.Errorf("an abandoned sign-in's password was checked: %v", codes)
					break
				}
			}
			if _, unknown := queued(app.s.hashing); unknown != 0 {
				t.Errorf("%d abandoned sign-ins still queued", unknown)
			}
			for i := range maxWaitingUnknown {
				if a, w, pending := limiterEntries(app.s.signIns, fmt.Sprintf("junk-%d", i), fmt.Sprintf("10.1.0.%d", i+1)); a+w+pending != 0 {
					t.Fatalf("abandoned sign-in %d counted %d failures of the name, %d of the address, %d pending", i, a, w, pending)
				}
			}
		},
	}, {
		// Refusals from a locked address are answered without hashing, so they are the cheapest
		// flood there is: what it makes the limiter forget must be what never failed, not the
		// failures an account has already had.
		name: "a flood refused at once evicts no account's earlier failures",
		run: func(t *testing.T, app *testApp) {
			app.s.hashing = newHashQueue(hashPlaces)
			l := app.s.signIns
			ctx := context.Background()
			for i := range addrFailures {
				name := "guess-" + strconv.Itoa(i)
				if wait, _, err := l.begin(ctx, name, "192.0.2.9"); wait > 0 || err != nil {
					t.Fatalf("guess %d refused: %s %v", i, wait, err)
				}
				l.failed(name, "192.0.2.9")
			}
			for range freeFailures - 1 {
				signInVia(ctx, app.srv.Config.Handler, "10.4.0.1", adminName, "wrong")
			}
			l.max = 20
			for i := range 3 * l.max {
				if got := signInVia(ctx, app.srv.Config.Handler, "192.0.2.9", fmt.Sprintf("flood-%d", i), "x").Code; got != http.StatusTooManyRequests {
					t.Fatalf("a sign-in from the locked address: %d, want 429", got)
				}
			}
			if got := signInVia(ctx, app.srv.Config.Handler, "10.4.0.2", adminName, "wrong").Code; got != http.StatusUnauthorized {
				t.Fatalf("the admin's fifth wrong password: %d, want 401", got)
			}
			if got := signInVia(ctx, app.srv.Config.Handler, "10.4.0.3", adminName, adminPassword).Code; got != http.StatusTooManyRequests {
				t.Errorf("after %d wrong passwords and a flood, the admin's password: %d, want 429 (the flood erased the first %d)",
					freeFailures, got, freeFailures-1)
			}
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			app := newTestApp(t)
			app.s.hashing = newHashQueue(0)
			tc.run(t, app)
		})
	}
}

// queued is how many sign-ins of existing accounts, and of unknown names, wait for hashing.
func queued(q *hashQueue) (known, unknown int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.waiting[0]), len(q.waiting[1])
}

// limiterEntries is what the limiter holds of username and addr: their failures and the
// attempts pending.
func limiterEntries(l *signInLimiter, username, addr string) (account, address, pending int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if a := l.accounts[accountKey(username)]; a != nil {
		account, pending = a.count, a.pending
	}
	if w := l.addrs[addr]; w != nil {
		address, pending = w.count, pending+w.pending
	}
	return account, address, pending
}

// waitUntil polls cond for up to 5 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
	}
}
