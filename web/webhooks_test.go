package web

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/scmadmin/scmadmin/store"
	"github.com/scmadmin/scmadmin/web/internal/fakehost"
)

// Tests of build-on-checkin (SPEC "Build-on-checkin webhooks"): the receiver, its records,
// rotation with the grace period, the details page, and installation on a fake Bitbucket.

const (
	// hookSecret is the secret the fixture is signed with.
	hookSecret = "webhook-secret-for-tests"
	fixtureDir = "../../shared/fixtures/bitbucket-server/"
)

var hex64 = regexp.MustCompile(`^[0-9a-f]{64}$`)

// fixture returns the captured push and its signature; when the shared fixture is missing,
// an equivalent payload signed here.
func fixture(t *testing.T) (body []byte, sig string) {
	t.Helper()
	body, err := os.ReadFile(fixtureDir + "push-master.json")
	if os.IsNotExist(err) {
		t.Log("no shared fixture: using a payload written from the documented fields")
		body = pushBody(masterPush(fixtureHash))
		return body, signHook(body, hookSecret)
	} else if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(fixtureDir + "push-master.sig")
	if err != nil {
		t.Fatal(err)
	}
	sig = strings.TrimSpace(string(raw))
	if want := signHook(body, hookSecret); sig != want {
		t.Fatalf("fixture signature %s is not the HMAC-SHA256 of push-master.json under %q (%s)", sig, hookSecret, want)
	}
	if !bytes.Contains(body, []byte(fixtureHash)) {
		t.Fatalf("fixture does not push %s", fixtureHash)
	}
	return body, sig
}

// hookRequest is one delivery; empty headers are not sent.
type hookRequest struct {
	event, requestID, sig string
	body                  io.Reader
}

// send posts r to /hooks/scm/{id} as Bitbucket does: no cookie, no CSRF token. Safe to call
// from any goroutine.
func (a *testApp) send(id string, r hookRequest) (int, string, error) {
	req, err := http.NewRequest(http.MethodPost, a.srv.URL+"/hooks/scm/"+id, r.body)
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json; charset=UTF-8")
	req.Header.Set("User-Agent", "Bitbucket version: 8.9.0, Post webhook plugin")
	if r.event != "" {
		req.Header.Set("X-Event-Key", r.event)
	}
	if r.requestID != "" {
		req.Header.Set("X-Request-Id", r.requestID)
	}
	if r.sig != "" {
		req.Header.Set("X-Hub-Signature", r.sig)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	got, err := io.ReadAll(res.Body)
	return res.StatusCode, string(got), err
}

// deliver sends a signed-or-not delivery of body and returns the status and answer.
func deliver(t *testing.T, app *testApp, id int64, event, requestID, sig string, body []byte) (int, string) {
	t.Helper()
	status, answer, err := app.send(strconv.FormatInt(id, 10), hookRequest{event: event, requestID: requestID, sig: sig, body: bytes.NewReader(body)})
	if err != nil {
		t.Fatal(err)
	}
	return status, answer
}

// push delivers a repo:refs_changed payload signed with secret and wants status.
func push(t *testing.T, app *testApp, id int64, requestID, secret string, body []byte, want int) string {
	t.Helper()
	status, answer := deliver(t, app, id, "repo:refs_changed", requestID, signHook(body, secret), body)
	if status != want {
		t.Fatalf("delivery %s: status %d (%q), want %d", requestID, status, answer, want)
	}
	return answer
}

func deliveriesOf(t *testing.T, app *testApp, id int64) []store.Delivery {
	t.Helper()
	ds, err := app.st.Deliveries(context.Background(), id, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func buildsOf(t *testing.T, app *testApp, id int64) []store.Build {
	t.Helper()
	bs, err := app.st.Builds(context.Background(), id, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return bs
}

func hookStatus(t *testing.T, app *testApp, id int64) store.WebhookStatus {
	t.Helper()
	ws, err := app.st.WebhookStatus(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return ws
}

func repoCount(t *testing.T, app *testApp, id int64) int {
	t.Helper()
	c, err := app.st.SCMConfig(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return c.Repositories
}

// setHookSecret makes secret the webhook's secret, as a rotation does; the one made at
// creation is then the previous one, in grace.
func setHookSecret(t *testing.T, app *testApp, id int64, secret string) {
	t.Helper()
	if err := app.st.RotateWebhookSecret(context.Background(), id, secret, store.Actor{Username: "t"}); err != nil {
		t.Fatal(err)
	}
}

// newHookApp is an app with a Bitbucket Server (build-on-checkin) configuration of project
// ALGO created through the Add form, whose webhook secret is hookSecret, and whose registered
// repository is ALGO/sentiment-analysis, the fixture's.
func newHookApp(t *testing.T) (*testApp, *client, int64) {
	t.Helper()
	app := newTestAppWith(t, Config{BaseURL: hookBaseURL})
	c := app.adminClient()
	id := addConfig(t, c, validForm("bitbucket_server"))
	setHookSecret(t, app, id, hookSecret)
	registerRepo(t, app, id, "ALGO", "sentiment-analysis")
	return app, c, id
}

// registerRepo registers OWNER/name in configuration id, as creating it through the API does.
func registerRepo(t *testing.T, app *testApp, id int64, owner, name string) {
	t.Helper()
	if _, err := app.st.RegisterRepository(context.Background(), store.Repository{ConfigID: id, Owner: owner, Name: name},
		store.Actor{Username: "api key platform"}); err != nil {
		t.Fatal(err)
	}
}

// auditActions lists the actions of configuration id's audit events.
func auditActions(t *testing.T, app *testApp, id int64) []string {
	t.Helper()
	evs, _, err := app.st.ListAudit(context.Background(), store.AuditQuery{ConfigID: id, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, ev := range evs {
		out = append(out, ev.Action)
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestWebhookSecretMadeAtCreation(t *testing.T) {
	app := newTestAppWith(t, Config{BaseURL: hookBaseURL})
	c := app.adminClient()
	id := addConfig(t, c, validForm("bitbucket_server"))
	secret := openSecrets(t, app, id)[store.WebhookSecret]
	if !hex64.MatchString(secret) {
		t.Fatalf("webhook secret made at creation is %q, want 32 random bytes in hex", secret)
	}
	assertNotStored(t, app, "webhook secret", secret)
	if strings.Contains(c.get(scmPath(id, "")).wantStatus(http.StatusOK).body, secret) {
		t.Error("the details page shows the webhook secret")
	}
	other := addConfig(t, c, bbForm("bitbucket2.example.com", "ALGO"))
	if s := openSecrets(t, app, other)[store.WebhookSecret]; s == secret || !hex64.MatchString(s) {
		t.Errorf("second configuration's webhook secret %q (first %q): want another random one", s, secret)
	}
	api := bbForm("bitbucket3.example.com", "ALGO")
	api.Set("provider", "bitbucket_server_api")
	apiID := addConfig(t, c, api)
	if s, ok := openSecrets(t, app, apiID)[store.WebhookSecret]; ok {
		t.Errorf("a build-via-API configuration has a webhook secret %q", s)
	}
}

func TestWebhookFixtureStartsOneBuild(t *testing.T) {
	app, c, id := newHookApp(t)
	body, sig := fixture(t)
	const reqID = "6b4f0a3e-2c1d-4e5f-8a9b-0c1d2e3f4a5b"

	status, answer := deliver(t, app, id, "repo:refs_changed", reqID, sig, body)
	if status != http.StatusAccepted {
		t.Fatalf("fixture delivery: %d %q, want 202", status, answer)
	}
	builds := buildsOf(t, app, id)
	if len(builds) != 1 {
		t.Fatalf("%d builds after one push, want 1: %+v", len(builds), builds)
	}
	b := builds[0]
	wantPushed := time.Date(2026, 11, 20, 14, 3, 11, 0, time.UTC)
	if b.ConfigID != id || b.ProjectKey != "ALGO" || b.Repository != "sentiment-analysis" || b.Commit != fixtureHash ||
		b.Actor != "jdoe" || !b.PushedAt.Equal(wantPushed) || b.RequestID != reqID {
		t.Errorf("build = %+v\nwant config %d, ALGO/sentiment-analysis at %s by jdoe, pushed %s, request %s",
			b, id, fixtureHash, wantPushed, reqID)
	}
	if b.CreatedAt.IsZero() {
		t.Error("build has no creation time")
	}
	ds := deliveriesOf(t, app, id)
	if len(ds) != 1 {
		t.Fatalf("%d deliveries, want 1: %+v", len(ds), ds)
	}
	if d := ds[0]; d.Result != store.DeliveryAccepted || d.Status != http.StatusAccepted || d.Event != "repo:refs_changed" ||
		d.RequestID != reqID || d.Reason == "" || d.ReceivedAt.IsZero() {
		t.Errorf("delivery = %+v, want accepted (202) for repo:refs_changed %s with a reason", d, reqID)
	}
	if n := repoCount(t, app, id); n != 1 {
		t.Errorf("RepositoryCount = %d, want 1 (sentiment-analysis)", n)
	}

	// Bitbucket delivers the same event again: one build, a second delivery, a duplicate.
	status, answer = deliver(t, app, id, "repo:refs_changed", reqID, sig, body)
	if status != http.StatusAccepted {
		t.Fatalf("redelivery: %d %q, want 202", status, answer)
	}
	if n := len(buildsOf(t, app, id)); n != 1 {
		t.Errorf("%d builds after a redelivery, want 1", n)
	}
	ds = deliveriesOf(t, app, id)
	if len(ds) != 2 {
		t.Fatalf("%d deliveries after a redelivery, want 2", len(ds))
	}
	if d := ds[0]; d.Result != store.DeliveryDuplicate || d.Status != http.StatusAccepted || d.RequestID != reqID || d.Reason == "" {
		t.Errorf("redelivery recorded as %+v, want duplicate (202) with a reason", d)
	}
	if n := repoCount(t, app, id); n != 1 {
		t.Errorf("RepositoryCount after a redelivery = %d, want 1", n)
	}

	// The page shows both deliveries and the build.
	r := c.get(scmPath(id, "")).wantStatus(http.StatusOK)
	if rows := r.doc.Find("table#webhook-deliveries tbody tr"); rows.Length() != 2 ||
		rows.Eq(0).AttrOr("data-result", "") != "duplicate" || rows.Eq(1).AttrOr("data-result", "") != "accepted" {
		t.Errorf("deliveries table: %s", r.text("#webhook-activity"))
	}
	row := r.doc.Find("table#builds tbody tr")
	if row.Length() != 1 || row.Find("code").AttrOr("title", "") != fixtureHash ||
		!strings.Contains(row.Text(), "ALGO/sentiment-analysis") || !strings.Contains(row.Text(), "jdoe") {
		t.Errorf("builds table: %s", r.text("#webhook-activity"))
	}
	if got := r.text("#detail-repositories"); got != "1" {
		t.Errorf("details page says %q algorithm repositories, want 1", got)
	}
	if !strings.Contains(r.text("#webhook-last-delivery"), "duplicate") {
		t.Errorf("last delivery %q", r.text("#webhook-last-delivery"))
	}

	// Nothing of the body or the signature reached the log.
	logs := app.logs.String()
	for _, s := range []string{fixtureHash, strings.TrimPrefix(sig, "sha256="), hookSecret, "jdoe@example.com"} {
		if strings.Contains(logs, s) {
			t.Errorf("the log holds %q", s)
		}
	}

	// The configuration now hosts a repository: even disabled, it cannot be deleted.
	act(c, id, "disable", "/admin/scm").wantStatus(http.StatusSeeOther)
	r = act(c, id, "delete", "/admin/scm").wantStatus(http.StatusConflict)
	if msg := r.text("p[role=alert]"); !strings.Contains(msg, "cannot be deleted") || !strings.Contains(msg, "still hosts an algorithm repository ") {
		t.Errorf("delete refusal %q", msg)
	}
	if !configExists(t, app, id) {
		t.Fatal("a configuration hosting a repository was deleted")
	}
}

func TestWebhookPushesThatStartNoBuild(t *testing.T) {
	app, _, id := newHookApp(t)
	cases := []struct {
		name string
		spec func(*pushSpec)
		why  string // in the reason
	}{
		{"another branch", func(p *pushSpec) { p.ref = "refs/heads/dev" }, "refs/heads/dev"},
		{"a tag", func(p *pushSpec) { p.ref, p.refType, p.change = "refs/tags/v1", "TAG", "ADD" }, "refs/tags/v1"},
		{"master deleted", func(p *pushSpec) { p.change, p.toHash = "DELETE", strings.Repeat("0", 40) }, "DELETE"},
		{"a repository of another project", func(p *pushSpec) { p.project = "OTHER" }, "OTHER"},
		{"a repository that is not registered", func(p *pushSpec) { p.slug = "pushed-not-created" }, "ALGO/pushed-not-created is not an algorithm repository"},
		{"a branch whose name ends in master", func(p *pushSpec) { p.ref = "refs/heads/feature/master" }, "refs/heads/feature/master"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			spec := masterPush(fmt.Sprintf("%040x", i+1))
			tc.spec(&spec)
			body := pushBody(spec)
			reqID := fmt.Sprintf("ignored-%d", i)
			push(t, app, id, reqID, hookSecret, body, http.StatusAccepted)
			d := deliveriesOf(t, app, id)[0]
			if d.RequestID != reqID || d.Result != store.DeliveryIgnored || d.Status != http.StatusAccepted {
				t.Errorf("delivery = %+v, want ignored (202)", d)
			}
			if !strings.Contains(d.Reason, tc.why) {
				t.Errorf("reason %q does not say %q", d.Reason, tc.why)
			}
		})
	}
	if bs := buildsOf(t, app, id); len(bs) != 0 {
		t.Errorf("builds recorded for ignored pushes: %+v", bs)
	}
	if n := repoCount(t, app, id); n != 1 {
		t.Errorf("RepositoryCount = %d after ignored pushes, want 1 (the registered one)", n)
	}
	if n := len(deliveriesOf(t, app, id)); n != len(cases) {
		t.Errorf("%d deliveries, want %d", n, len(cases))
	}

	// Another signed event is recorded as ignored too.
	body := []byte(`{"eventKey":"repo:modified","date":"2026-11-20T14:03:11+0000"}`)
	status, _ := deliver(t, app, id, "repo:modified", "modified-1", signHook(body, hookSecret), body)
	if d := deliveriesOf(t, app, id)[0]; status != http.StatusAccepted || d.Result != store.DeliveryIgnored {
		t.Errorf("repo:modified: %d, recorded %+v; want 202, ignored", status, d)
	}
}

func TestWebhookPushesThatStartABuild(t *testing.T) {
	app, _, id := newHookApp(t)

	// master created (ADD), and a project key written in another case.
	spec := masterPush(strings.Repeat("a", 40))
	spec.change = "ADD"
	push(t, app, id, "add-1", hookSecret, pushBody(spec), http.StatusAccepted)

	// A push of several refs, master among them, starts one build of master's commit.
	var p map[string]any
	if err := json.Unmarshal(pushBody(masterPush(strings.Repeat("b", 40))), &p); err != nil {
		t.Fatal(err)
	}
	p["changes"] = append([]any{map[string]any{"ref": map[string]any{"id": "refs/heads/dev", "displayId": "dev", "type": "BRANCH"},
		"refId": "refs/heads/dev", "fromHash": strings.Repeat("c", 40), "toHash": strings.Repeat("d", 40), "type": "UPDATE"}},
		p["changes"].([]any)...)
	body, _ := json.Marshal(p)
	push(t, app, id, "multi-1", hookSecret, body, http.StatusAccepted)

	bs := buildsOf(t, app, id)
	if len(bs) != 2 || bs[0].Commit != strings.Repeat("b", 40) || bs[1].Commit != strings.Repeat("a", 40) {
		t.Fatalf("builds %+v, want one of master's aaaa… (ADD) and one of bbbb… (master among other refs)", bs)
	}

	// The push time keeps its instant whatever the server's zone.
	spec = masterPush(strings.Repeat("f", 40))
	spec.date, spec.actor = "2026-11-20T16:33:11+0230", "asmith"
	push(t, app, id, "zone-1", hookSecret, pushBody(spec), http.StatusAccepted)
	if b := buildsOf(t, app, id)[0]; !b.PushedAt.Equal(time.Date(2026, 11, 20, 14, 3, 11, 0, time.UTC)) || b.Actor != "asmith" {
		t.Errorf("build %+v, want pushed at 14:03:11Z by asmith", b)
	}
	for _, d := range deliveriesOf(t, app, id) {
		if d.Result != store.DeliveryAccepted {
			t.Errorf("delivery %+v, want accepted", d)
		}
	}
}

func TestWebhookPingUnsigned(t *testing.T) {
	app, _, id := newHookApp(t)
	status, answer := deliver(t, app, id, "diagnostics:ping", "ping-1", "", []byte(`{"test": true}`))
	if status != http.StatusOK {
		t.Fatalf("unsigned diagnostics:ping: %d %q, want 200", status, answer)
	}
	if ds := deliveriesOf(t, app, id); len(ds) != 0 {
		t.Errorf("ping recorded: %+v", ds)
	}
	if ws := hookStatus(t, app, id); ws.Failures != 0 {
		t.Errorf("ping counted as %d signature failures", ws.Failures)
	}
	if bs := buildsOf(t, app, id); len(bs) != 0 {
		t.Errorf("ping started builds: %+v", bs)
	}
	// Signed, as newer Bitbucket versions send it: the same.
	body := []byte(`{"test": true}`)
	if status, _ := deliver(t, app, id, "diagnostics:ping", "ping-2", signHook(body, hookSecret), body); status != http.StatusOK {
		t.Errorf("signed ping: %d, want 200", status)
	}
	if ds := deliveriesOf(t, app, id); len(ds) != 0 {
		t.Errorf("ping recorded: %+v", ds)
	}
}

func TestWebhookSignatureRefused(t *testing.T) {
	app, c, id := newHookApp(t)
	body, sig := fixture(t)
	sha1Mac := hmac.New(sha1.New, []byte(hookSecret))
	sha1Mac.Write(body)
	good := strings.TrimPrefix(sig, "sha256=")
	flipped := []byte(good)
	if flipped[10] == '0' {
		flipped[10] = '1'
	} else {
		flipped[10] = '0'
	}
	cases := []struct{ name, sig string }{
		{"bad signature", "sha256=" + string(flipped)},
		{"missing signature", ""},
		{"signed with another secret", signHook(body, "not-the-secret")},
		{"sha1", "sha1=" + hex.EncodeToString(sha1Mac.Sum(nil))},
		{"no algorithm", good},
		{"empty", "sha256="},
		{"signature of another body", signHook(append([]byte(" "), body...), hookSecret)},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, answer := deliver(t, app, id, "repo:refs_changed", fmt.Sprintf("bad-%d", i), tc.sig, body)
			if status != http.StatusUnauthorized {
				t.Fatalf("%s: %d %q, want 401", tc.name, status, answer)
			}
			if ds := deliveriesOf(t, app, id); len(ds) != 0 {
				t.Errorf("a refused signature was recorded as a delivery: %+v", ds)
			}
			if ws := hookStatus(t, app, id); ws.Failures != i+1 {
				t.Errorf("failure count %d, want %d", ws.Failures, i+1)
			}
		})
	}
	if bs := buildsOf(t, app, id); len(bs) != 0 {
		t.Errorf("builds without a valid signature: %+v", bs)
	}
	if got := c.get(scmPath(id, "")).text("#webhook-failures"); got != strconv.Itoa(len(cases)) {
		t.Errorf("details page shows %q refused signatures, want %d", got, len(cases))
	}
	// The right signature still works afterwards.
	if status, _ := deliver(t, app, id, "repo:refs_changed", "good-1", sig, body); status != http.StatusAccepted {
		t.Errorf("the fixture after refusals: %d, want 202", status)
	}
	if logs := app.logs.String(); strings.Contains(logs, good) || strings.Contains(logs, string(flipped)) {
		t.Error("a signature reached the log")
	}
}

func TestWebhookUnknownConfiguration(t *testing.T) {
	app, c, id := newHookApp(t)
	api := bbForm("bitbucket-api.example.com", "ALGO")
	api.Set("provider", "bitbucket_server_api")
	apiID := addConfig(t, c, api)
	body, sig := fixture(t)
	for _, target := range []string{"999", "abc", "1", strconv.FormatInt(apiID, 10), "-1", "2x", strconv.FormatInt(id, 10) + ".0"} {
		status, answer, err := app.send(target, hookRequest{event: "repo:refs_changed", requestID: "r-" + target, sig: sig, body: bytes.NewReader(body)})
		if err != nil {
			t.Fatal(err)
		}
		if status != http.StatusNotFound {
			t.Errorf("POST /hooks/scm/%s: %d %q, want 404", target, status, answer)
		}
	}
	for _, other := range []int64{1, apiID, id} {
		if ds := deliveriesOf(t, app, other); len(ds) != 0 {
			t.Errorf("configuration %d recorded %+v", other, ds)
		}
		if ws := hookStatus(t, app, other); ws.Failures != 0 {
			t.Errorf("configuration %d counted %d failures", other, ws.Failures)
		}
	}
}

func TestWebhookDisabledConfiguration(t *testing.T) {
	app, c, id := newHookApp(t)
	act(c, id, "disable", "/admin/scm").wantStatus(http.StatusSeeOther)
	body, sig := fixture(t)
	status, answer := deliver(t, app, id, "repo:refs_changed", "disabled-1", sig, body)
	if status != http.StatusConflict {
		t.Fatalf("delivery to a disabled configuration: %d %q, want 409", status, answer)
	}
	ds := deliveriesOf(t, app, id)
	if len(ds) != 1 || ds[0].Result != store.DeliveryRefused || ds[0].Status != http.StatusConflict ||
		ds[0].RequestID != "disabled-1" || !strings.Contains(ds[0].Reason, "disabled") {
		t.Errorf("deliveries %+v, want one refused (409) saying the configuration is disabled", ds)
	}
	if bs := buildsOf(t, app, id); len(bs) != 0 {
		t.Errorf("a disabled configuration started builds: %+v", bs)
	}
	// Enabled again, the same delivery starts its build.
	act(c, id, "enable", "/admin/scm").wantStatus(http.StatusSeeOther)
	if status, _ := deliver(t, app, id, "repo:refs_changed", "disabled-1", sig, body); status != http.StatusAccepted {
		t.Errorf("after enabling: %d, want 202", status)
	}
	if bs := buildsOf(t, app, id); len(bs) != 1 {
		t.Errorf("%d builds after enabling, want 1", len(bs))
	}
}

// unsized hides a reader's length, so the request is sent chunked.
type unsized struct{ io.Reader }

func TestWebhookOversizedAndMalformedBodies(t *testing.T) {
	app, c, id := newHookApp(t)
	fix, _ := fixture(t)

	// Exactly 1 MiB is accepted.
	limit := bytes.Repeat([]byte(" "), 1<<20)
	copy(limit, fix)
	push(t, app, id, "exactly-1MiB", hookSecret, limit, http.StatusAccepted)
	if bs := buildsOf(t, app, id); len(bs) != 1 {
		t.Fatalf("%d builds after a 1 MiB push, want 1", len(bs))
	}

	// One byte more is not, signed or not, with a length or chunked.
	over := append(bytes.Clone(limit), ' ')
	for i, r := range []hookRequest{
		{sig: signHook(over, hookSecret), body: bytes.NewReader(over)},
		{sig: signHook(over, hookSecret), body: unsized{bytes.NewReader(over)}},
		{body: bytes.NewReader(over)},
	} {
		r.event, r.requestID = "repo:refs_changed", fmt.Sprintf("over-%d", i)
		status, answer, err := app.send(strconv.FormatInt(id, 10), r)
		if err != nil {
			t.Fatal(err)
		}
		if status != http.StatusRequestEntityTooLarge {
			t.Errorf("body %d: %d %q, want 413", i, status, answer)
			continue
		}
		// Refused before its signature could be checked: counted, not recorded (anyone can send one).
		if d := deliveriesOf(t, app, id)[0]; d.RequestID != "exactly-1MiB" {
			t.Errorf("oversized delivery recorded as %+v; only signed deliveries are", d)
		}
		if got := hookStatus(t, app, id).Failures; got != i+1 {
			t.Errorf("failure count %d after %d oversized deliveries", got, i+1)
		}
	}

	// What an unsigned oversized delivery says of itself is shown as text.
	status, _, err := app.send(strconv.FormatInt(id, 10), hookRequest{event: `<script>alert("x")</script>`, requestID: `<img src=x>`, body: bytes.NewReader(over)})
	if err != nil || status != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized delivery with markup in its headers: %d %v", status, err)
	}
	if body := c.get(scmPath(id, "")).body; strings.Contains(body, `<script>alert("x")`) || strings.Contains(body, `<img src=x>`) {
		t.Error("the details page renders a delivery's headers as markup")
	}

	// Malformed JSON, well signed.
	for i, body := range [][]byte{[]byte(`{"eventKey":"repo:refs_changed","changes":[`), []byte(`not json`), []byte(`[1,2]`), {}} {
		reqID := fmt.Sprintf("malformed-%d", i)
		status, answer := deliver(t, app, id, "repo:refs_changed", reqID, signHook(body, hookSecret), body)
		if status != http.StatusBadRequest {
			t.Errorf("malformed body %q: %d %q, want 400", body, status, answer)
			continue
		}
		d := deliveriesOf(t, app, id)[0]
		if d.RequestID != reqID || d.Result != store.DeliveryRefused || d.Status != http.StatusBadRequest {
			t.Errorf("malformed delivery recorded as %+v, want refused (400)", d)
		}
	}
	// Well-formed JSON whose new head of master is not a commit: refused the same way, saying so.
	for i, hash := range []string{"not-a-hash", strings.Repeat("c", 39), strings.Repeat("c", 41), strings.Repeat("g", 40), strings.Repeat("f", 5000)} {
		reqID := fmt.Sprintf("not-a-commit-%d", i)
		body := pushBody(masterPush(hash))
		if status, answer := deliver(t, app, id, "repo:refs_changed", reqID, signHook(body, hookSecret), body); status != http.StatusBadRequest ||
			!strings.Contains(answer, "is not a commit id (40 hexadecimal digits)") {
			t.Errorf("a push of commit %.50q: %d %q, want 400 saying it is not a commit id", hash, status, answer)
		}
		if d := deliveriesOf(t, app, id)[0]; d.RequestID != reqID || d.Result != store.DeliveryRefused || len(d.Reason) > 200 {
			t.Errorf("a push of commit %.50q recorded as %+v, want refused with a short reason", hash, d)
		}
	}
	// Outside the project, a push is ignored whatever its head.
	outside := masterPush("not-a-hash")
	outside.project = "OTHER"
	body := pushBody(outside)
	if status, answer := deliver(t, app, id, "repo:refs_changed", "outside-not-a-commit", signHook(body, hookSecret), body); status != http.StatusAccepted ||
		!strings.HasPrefix(answer, store.DeliveryIgnored) {
		t.Errorf("a push from another project with a malformed head: %d %q, want 202 ignored", status, answer)
	}
	if bs := buildsOf(t, app, id); len(bs) != 1 {
		t.Errorf("%d builds, want the 1 MiB push's only", len(bs))
	}
	if strings.Contains(app.logs.String(), fixtureHash) {
		t.Error("a body reached the log")
	}
}

func TestWebhookConcurrentDistinctPushes(t *testing.T) {
	app, _, id := newHookApp(t)
	const n = 50
	want := map[string]bool{}
	var bodies [][]byte
	for i := range n {
		hash := fmt.Sprintf("%040x", 0xc0ffee00+i)
		want[hash] = true
		bodies = append(bodies, pushBody(masterPush(hash)))
	}
	concurrently(n, func(i int) {
		status, answer, err := app.send(strconv.FormatInt(id, 10), hookRequest{event: "repo:refs_changed",
			requestID: fmt.Sprintf("concurrent-%02d", i), sig: signHook(bodies[i], hookSecret), body: bytes.NewReader(bodies[i])})
		if err != nil || status != http.StatusAccepted {
			t.Errorf("push %d: %d %q %v", i, status, answer, err)
		}
	})
	bs := buildsOf(t, app, id)
	if len(bs) != n {
		t.Fatalf("%d builds after %d concurrent pushes, want %d", len(bs), n, n)
	}
	for _, b := range bs {
		if !want[b.Commit] {
			t.Errorf("build of %s, pushed by no one (or twice)", b.Commit)
		}
		delete(want, b.Commit)
	}
	ds := deliveriesOf(t, app, id)
	if len(ds) != n {
		t.Errorf("%d deliveries, want %d", len(ds), n)
	}
	for _, d := range ds {
		if d.Result != store.DeliveryAccepted {
			t.Errorf("delivery %+v, want accepted", d)
		}
	}
	if c := repoCount(t, app, id); c != 1 {
		t.Errorf("RepositoryCount %d, want 1", c)
	}
}

func TestWebhookConcurrentRedeliveries(t *testing.T) {
	app, _, id := newHookApp(t)
	body, sig := fixture(t)
	const n = 10
	concurrently(n, func(int) {
		status, _, err := app.send(strconv.FormatInt(id, 10), hookRequest{event: "repo:refs_changed", requestID: "same-id", sig: sig, body: bytes.NewReader(body)})
		if err != nil {
			t.Error(err)
		}
		if status != http.StatusAccepted {
			t.Errorf("redelivery answered %d, want 202", status)
		}
	})
	if bs := buildsOf(t, app, id); len(bs) != 1 {
		t.Errorf("%d builds from %d deliveries of one X-Request-Id, want 1", len(bs), n)
	}
	results := map[string]int{}
	for _, d := range deliveriesOf(t, app, id) {
		results[d.Result]++
	}
	if results[store.DeliveryAccepted] != 1 || results[store.DeliveryDuplicate] != n-1 {
		t.Errorf("delivery results %v, want 1 accepted and %d duplicate", results, n-1)
	}
}

// ageReplacedSecret moves the time the webhook secret name (one a rotation replaced) was
// replaced back by age, through a connection of its own to the application's database file.
func ageReplacedSecret(t *testing.T, app *testApp, id int64, name string, age time.Duration) {
	t.Helper()
	at := time.Now().UTC().Add(-age)
	res, err := app.rawDB().Exec(`UPDATE scm_secrets SET set_at = $1 WHERE config_id = $2 AND name = $3`, dbTime(at), id, name)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("no %s for configuration %d", name, id)
	}
	infos, err := app.st.SCMSecrets(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if got := infos[name].SetAt; got.Sub(at).Abs() > time.Second {
		t.Fatalf("%s set at %s after the update, want %s", name, got, at)
	}
}

// A webhook secret this server cannot open (sealed under a key its key file lacks, or
// damaged) makes every delivery a refused one, counted as such: 401, not a server error. Once
// the secret can be opened, deliveries are taken again: the failure was not kept.
func TestWebhookSecretThatCannotBeOpened(t *testing.T) {
	app, _, id := newHookApp(t)
	if _, err := app.rawDB().Exec(`UPDATE scm_secrets SET ciphertext = $1 WHERE config_id = $2 AND name IN ($3, $4)`,
		[]byte("not sealed by any key"), id, store.WebhookSecret, store.WebhookSecretPrevious); err != nil {
		t.Fatal(err)
	}
	before := hookStatus(t, app, id).Failures
	push(t, app, id, "unopened", hookSecret, pushBody(masterPush(strings.Repeat("1", 40))), http.StatusUnauthorized)
	if after := hookStatus(t, app, id).Failures; after != before+1 {
		t.Errorf("failure count %d → %d, want +1", before, after)
	}
	if _, err := app.rawDB().Exec(`DELETE FROM scm_secrets WHERE config_id = $1 AND name IN ($2, $3)`,
		id, store.WebhookSecret, store.WebhookSecretPrevious); err != nil {
		t.Fatal(err)
	}
	if _, err := app.st.EnsureWebhookSecret(context.Background(), id, hookSecret, store.Actor{Username: "t"}); err != nil {
		t.Fatal(err)
	}
	push(t, app, id, "opened", hookSecret, pushBody(masterPush(strings.Repeat("2", 40))), http.StatusAccepted)
}

func TestWebhookSecretRotation(t *testing.T) {
	app, c, id := newHookApp(t)
	original := openSecrets(t, app, id)[store.WebhookSecretPrevious] // made at creation
	// A delivery before the rotation: the server keeps the secrets it checked it with.
	push(t, app, id, "before-rotation", hookSecret, pushBody(masterPush(strings.Repeat("0", 40))), http.StatusAccepted)

	r := rotateSecret(t, c, id)
	secret := r.text("#webhook-secret")
	if !hex64.MatchString(secret) || secret == hookSecret {
		t.Fatalf("rotation shows %q, want a new 64-hex secret", secret)
	}
	if r.doc.Find(`button[data-copy="webhook-secret"]`).Length() != 1 {
		t.Error("the new secret has no Copy button")
	}
	if msg := r.text("p[role=status]"); !strings.Contains(msg, "24 hours") {
		t.Errorf("status %q does not say the old secret works 24 hours more", msg)
	}
	if cc := r.header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
		t.Errorf("the page showing the secret has Cache-Control %q, want no-store", cc)
	}
	if !strings.Contains(r.body, hookBaseURL+"/hooks/scm/"+strconv.FormatInt(id, 10)) {
		t.Error("the new secret's page does not show the webhook URL")
	}
	if s := openSecrets(t, app, id); s[store.WebhookSecret] != secret || s[store.WebhookSecretPrevious] != hookSecret {
		t.Errorf("after rotation: current is the shown one: %v; previous is the old one: %v",
			s[store.WebhookSecret] == secret, s[store.WebhookSecretPrevious] == hookSecret)
	}
	if !contains(auditActions(t, app, id), store.ActionRotateWebhookSecret) {
		t.Error("no rotate_webhook_secret audit event")
	}

	// Shown once only; never stored or logged in plain text.
	for _, page := range []string{scmPath(id, ""), scmPath(id, "webhook/activity"), scmPath(id, "edit"), "/admin/audit", "/admin/scm"} {
		if strings.Contains(c.get(page).body, secret) {
			t.Errorf("%s shows the secret after the rotation", page)
		}
	}
	if got := c.get(scmPath(id, "")).text("#webhook-secret-status"); !strings.Contains(got, store.Fingerprint(secret)) {
		t.Errorf("#webhook-secret-status = %q, want the new secret's fingerprint %s", got, store.Fingerprint(secret))
	}
	assertNotStored(t, app, "new webhook secret", secret)
	assertNotStored(t, app, "previous webhook secret", hookSecret)

	// Within the grace period, the new secret and both it replaced are accepted: the one made at
	// creation was replaced a rotation ago, within its grace, and the host may still sign with it.
	push(t, app, id, "new-secret", secret, pushBody(masterPush(strings.Repeat("1", 40))), http.StatusAccepted)
	push(t, app, id, "old-secret", hookSecret, pushBody(masterPush(strings.Repeat("2", 40))), http.StatusAccepted)
	push(t, app, id, "original-secret", original, pushBody(masterPush(strings.Repeat("3", 40))), http.StatusAccepted)
	if bs := buildsOf(t, app, id); len(bs) != 4 {
		t.Fatalf("%d builds, want 4 (before the rotation, then the new secret and both it replaced)", len(bs))
	}

	// Near the end of the grace period the previous secret still works…
	ageReplacedSecret(t, app, id, store.WebhookSecretPrevious, 23*time.Hour+50*time.Minute)
	push(t, app, id, "old-secret-23h", hookSecret, pushBody(masterPush(strings.Repeat("4", 40))), http.StatusAccepted)
	// …after it, it and the one before it are refused (and counted), while the new one still works.
	ageReplacedSecret(t, app, id, store.WebhookSecretPrevious, 24*time.Hour+time.Minute)
	ageReplacedSecret(t, app, id, store.WebhookSecretOlder, 24*time.Hour+time.Minute)
	before := hookStatus(t, app, id).Failures
	push(t, app, id, "old-secret-24h", hookSecret, pushBody(masterPush(strings.Repeat("5", 40))), http.StatusUnauthorized)
	push(t, app, id, "original-secret-24h", original, pushBody(masterPush(strings.Repeat("5", 40))), http.StatusUnauthorized)
	if after := hookStatus(t, app, id).Failures; after != before+2 {
		t.Errorf("failure count %d → %d, want +2", before, after)
	}
	push(t, app, id, "new-secret-24h", secret, pushBody(masterPush(strings.Repeat("6", 40))), http.StatusAccepted)
	if bs := buildsOf(t, app, id); len(bs) != 6 {
		t.Errorf("%d builds, want 6", len(bs))
	}

	// Rotated again once the previous one's grace is over: only the one just replaced works on.
	next := rotateSecret(t, c, id).text("#webhook-secret")
	push(t, app, id, "after-third", next, pushBody(masterPush(strings.Repeat("7", 40))), http.StatusAccepted)
	push(t, app, id, "replaced-by-third", secret, pushBody(masterPush(strings.Repeat("8", 40))), http.StatusAccepted)
	push(t, app, id, "expired-before-third", hookSecret, pushBody(masterPush(strings.Repeat("9", 40))), http.StatusUnauthorized)
}

func TestWebhookDetailsPage(t *testing.T) {
	app, c, id := newHookApp(t)
	r := c.get(scmPath(id, "")).wantStatus(http.StatusOK)
	wantURL := fmt.Sprintf("%s/hooks/scm/%d", hookBaseURL, id)
	if got := r.text("#webhook-url"); got != wantURL {
		t.Errorf("#webhook-url = %q, want %q", got, wantURL)
	}
	if b := r.doc.Find(`button[data-copy="webhook-url"]`); b.Length() != 1 || strings.TrimSpace(b.Text()) != "Copy" {
		t.Error("the webhook URL has no Copy button")
	}
	if got := r.text("#webhook-installed"); !strings.Contains(got, "Not installed") {
		t.Errorf("#webhook-installed = %q before any install", got)
	}
	activity := r.doc.Find("#webhook-activity")
	if trig := activity.AttrOr("hx-trigger", ""); !strings.Contains(trig, "every") {
		t.Errorf("#webhook-activity hx-trigger = %q, want a periodic refresh", trig)
	}
	if get := activity.AttrOr("hx-get", ""); get != scmPath(id, "webhook/activity") {
		t.Errorf("#webhook-activity hx-get = %q", get)
	}
	if r.has("table#webhook-deliveries") || r.has("table#builds") {
		t.Error("tables shown before any delivery")
	}
	for _, action := range []string{"webhook/install", "webhook/ping"} {
		if r.doc.Find(fmt.Sprintf(`form[action=%q][method=post] input[name=_csrf]`, scmPath(id, action))).Length() != 1 {
			t.Errorf("no %s form with a CSRF token", action)
		}
	}
	if r.doc.Find(fmt.Sprintf(`a[href=%q]`, scmPath(id, "webhook/rotate"))).Length() != 1 {
		t.Error("no link to the rotation's confirmation")
	}

	body, sig := fixture(t)
	deliver(t, app, id, "repo:refs_changed", "d-1", sig, body)
	dev := masterPush(strings.Repeat("e", 40))
	dev.ref = "refs/heads/dev"
	push(t, app, id, "d-2", hookSecret, pushBody(dev), http.StatusAccepted)

	check := func(name string, doc *goquery.Document) {
		t.Helper()
		rows := doc.Find("table#webhook-deliveries tbody tr")
		if rows.Length() != 2 || rows.Eq(0).AttrOr("data-result", "") != "ignored" || rows.Eq(1).AttrOr("data-result", "") != "accepted" {
			t.Errorf("%s: deliveries table has %d rows: %s", name, rows.Length(), doc.Find("#webhook-activity").Text())
		}
		if !strings.Contains(rows.Eq(0).Text(), "repo:refs_changed") || !strings.Contains(rows.Eq(0).Text(), "refs/heads/dev") {
			t.Errorf("%s: deliveries row %q does not show the event and why", name, rows.Eq(0).Text())
		}
		if b := doc.Find("table#builds tbody tr"); b.Length() != 1 || !strings.Contains(b.Text(), "sentiment-analysis") {
			t.Errorf("%s: builds table: %q", name, b.Text())
		}
	}
	check("details page", c.get(scmPath(id, "")).wantStatus(http.StatusOK).doc)

	for _, r := range []*response{c.get(scmPath(id, "webhook/activity")), c.getHTMX(scmPath(id, "webhook/activity"))} {
		r.wantStatus(http.StatusOK)
		if strings.Contains(strings.ToLower(r.body), "<html") || r.has("header.topbar") {
			t.Errorf("the activity fragment is a whole page:\n%s", r.body)
		}
		if !strings.HasPrefix(strings.TrimSpace(r.body), `<div id="webhook-activity"`) {
			t.Errorf("the activity fragment is not #webhook-activity:\n%s", r.body)
		}
		// Swapped in, it keeps polling.
		if trig := r.doc.Find("#webhook-activity").AttrOr("hx-trigger", ""); !strings.Contains(trig, "every") {
			t.Errorf("the swapped-in fragment's hx-trigger = %q: polling would stop", trig)
		}
		check("activity fragment", r.doc)
	}
	if strings.Contains(app.logs.String(), fixtureHash) {
		t.Error("a body reached the log")
	}

	// Signed out, the fragment is not served.
	if r := app.client().get(scmPath(id, "webhook/activity")); r.status != http.StatusSeeOther {
		t.Errorf("activity without a session: %d, want 303 to sign in", r.status)
	}
}

func TestNoWebhookForOtherProviders(t *testing.T) {
	app := newTestAppWith(t, Config{BaseURL: hookBaseURL})
	c := app.adminClient()
	api := bbForm("bitbucket-api.example.com", "ALGO")
	api.Set("provider", "bitbucket_server_api")
	ids := map[string]int64{
		"bitbucket_server_api": addConfig(t, c, api),
		"built-in":             1,
	}
	for name, id := range ids {
		t.Run(name, func(t *testing.T) {
			r := c.get(scmPath(id, "")).wantStatus(http.StatusOK)
			if r.has("#webhook-url") || r.has("#webhook-activity") || r.has("section.webhook") || strings.Contains(r.body, "/hooks/scm/") {
				t.Error("the details page has a webhook section")
			}
			for _, action := range []string{"webhook/install", "webhook/ping"} {
				c.submit(scmPath(id, ""), scmPath(id, action), nil).wantStatus(http.StatusBadRequest)
			}
			c.get(scmPath(id, "webhook/activity")).wantStatus(http.StatusBadRequest)
			if acts := auditActions(t, app, id); contains(acts, store.ActionRotateWebhookSecret) || contains(acts, store.ActionInstallWebhook) {
				t.Errorf("audit %v", acts)
			}
			if _, ok := openSecrets(t, app, id)[store.WebhookSecret]; ok {
				t.Error("a webhook secret made")
			}
		})
	}
	// A new secret, though, every configuration but the built-in one can have (SPEC).
	c.submit(scmPath(1, ""), scmPath(1, "webhook/rotate"), nil).wantStatus(http.StatusBadRequest)
	if secret := rotateSecret(t, c, ids["bitbucket_server_api"]).text("#webhook-secret"); len(secret) != 64 {
		t.Errorf("bitbucket_server_api's new secret %q", secret)
	}
	for _, action := range []string{"webhook/rotate", "webhook/install", "webhook/ping"} {
		c.submit("/admin/scm", scmPath(999, action), nil).wantStatus(http.StatusNotFound)
	}
	c.get(scmPath(999, "webhook/activity")).wantStatus(http.StatusNotFound)
}

// The OAuth providers' pushes come through the webhook of each repository made with a
// connected account: their page shows the URL, the refused signatures and the deliveries, and
// offers a new secret, but there is no project webhook to install or ping.
func TestOAuthProvidersHavePushWebhooks(t *testing.T) {
	app := newTestAppWith(t, Config{BaseURL: hookBaseURL})
	c := app.adminClient()
	for _, prov := range []string{"github", "github_enterprise", "gitlab", "bitbucket_cloud"} {
		t.Run(prov, func(t *testing.T) {
			id := addConfig(t, c, validForm(prov))
			r := c.get(scmPath(id, "")).wantStatus(http.StatusOK)
			if got := r.text("#webhook-url"); got != s2(hookBaseURL, "/hooks/scm/", id) {
				t.Errorf("#webhook-url = %q", got)
			}
			if !r.has("#webhook-activity") || !r.has("#webhook-failures") || r.has("#webhook-installed") {
				t.Error("the page lacks the deliveries or the refused signatures, or offers an installation")
			}
			if !strings.Contains(r.text("section.webhook"), "default branch") {
				t.Errorf("the webhook section does not say which pushes build: %q", r.text("section.webhook"))
			}
			for _, action := range []string{"webhook/install", "webhook/ping"} {
				if r.has(fmt.Sprintf(`form[action="%s"], a[href="%s"]`, scmPath(id, action), scmPath(id, action))) {
					t.Errorf("the page offers %s", action)
				}
				c.submit(scmPath(id, ""), scmPath(id, action), nil).wantStatus(http.StatusBadRequest)
			}
			c.get(scmPath(id, "webhook/activity")).wantStatus(http.StatusOK)
			old, ok := openSecrets(t, app, id)[store.WebhookSecret]
			if !ok {
				t.Error("no webhook secret made at creation")
			}
			if !r.has(fmt.Sprintf(`a[href="%s"]`, scmPath(id, "webhook/rotate"))) {
				t.Error("the page offers no Rotate webhook secret")
			}
			confirm := c.get(scmPath(id, "webhook/rotate")).wantStatus(http.StatusOK)
			if !strings.Contains(confirm.text("main"), "each repository's webhook settings") {
				t.Errorf("the confirmation does not say where the new secret goes: %q", confirm.text("main"))
			}
			shown := rotateSecret(t, c, id)
			if secret := shown.text("#webhook-secret"); secret == old || secret != openSecrets(t, app, id)[store.WebhookSecret] {
				t.Errorf("the page shows %q; the old secret was %q", secret, old)
			}
			if !contains(auditActions(t, app, id), store.ActionRotateWebhookSecret) {
				t.Error("the rotation is not in the audit trail")
			}
		})
	}
}

func s2(base, path string, id int64) string { return base + path + strconv.FormatInt(id, 10) }

func TestWebhookActionsNeedAdminAndCSRF(t *testing.T) {
	app, c, id := newHookApp(t)
	for _, action := range []string{"webhook/rotate", "webhook/install", "webhook/ping"} {
		if r := c.post(scmPath(id, action), nil); r.status != http.StatusForbidden {
			t.Errorf("%s without a CSRF token: %d, want 403", action, r.status)
		}
		if r := app.client().post(scmPath(id, action), nil); r.status != http.StatusSeeOther {
			t.Errorf("%s signed out: %d, want 303 to sign in", action, r.status)
		}
	}
	if s := openSecrets(t, app, id)[store.WebhookSecret]; s != hookSecret {
		t.Error("the secret was rotated without a CSRF token")
	}
}

const hookAPI = "/rest/api/1.0/projects/ALGO/webhooks"

// newInstallApp is an app with a Bitbucket Server (build-on-checkin) configuration on fake.
func newInstallApp(t *testing.T, f *bitbucketHost) (*testApp, *client, int64) {
	t.Helper()
	app := newTestAppWith(t, Config{BaseURL: hookBaseURL, ExtraCAs: f.srv.CAPEM})
	c := app.adminClient()
	id := addConfig(t, c, f.form(canaryToken))
	setHookSecret(t, app, id, hookSecret)
	return app, c, id
}

func TestWebhookInstall(t *testing.T) {
	f := newBitbucketHost(t, canaryToken)
	app, c, id := newInstallApp(t, f)
	hookURL := fmt.Sprintf("%s/hooks/scm/%d", hookBaseURL, id)
	// Another tool's webhook on the project is left alone.
	f.SetWebhooks("ALGO", map[string]any{"id": 3, "name": "CI", "url": "https://ci.example.com/hook", "events": []string{"repo:refs_changed"}, "active": true})

	c.submit(scmPath(id, ""), scmPath(id, "webhook/install"), nil).wantRedirect(scmPath(id, ""))
	calls := f.Calls()
	var creates, updates []fakehost.Call
	for _, call := range calls {
		if call.Header.Get("Authorization") != "Bearer "+canaryToken {
			t.Errorf("%s %s sent Authorization %q, want the token as Bearer", call.Method, call.Path, call.Header.Get("Authorization"))
		}
		switch {
		case call.Method == http.MethodPost && call.Path == hookAPI:
			creates = append(creates, call)
		case call.Method == http.MethodPut:
			updates = append(updates, call)
		}
	}
	if len(creates) != 1 || len(updates) != 0 {
		t.Fatalf("install made %d creates and %d updates, want 1 create: %+v", len(creates), len(updates), calls)
	}
	var sent struct {
		Events        []string          `json:"events"`
		URL           string            `json:"url"`
		Active        bool              `json:"active"`
		Name          string            `json:"name"`
		Configuration map[string]string `json:"configuration"`
	}
	if err := json.Unmarshal(creates[0].Body, &sent); err != nil {
		t.Fatalf("created webhook %s: %v", creates[0].Body, err)
	}
	if len(sent.Events) != 1 || sent.Events[0] != "repo:refs_changed" || sent.URL != hookURL || !sent.Active ||
		sent.Configuration["secret"] != hookSecret || sent.Name == "" {
		t.Errorf("created webhook %s\nwant events [repo:refs_changed], url %s, active, the current secret", creates[0].Body, hookURL)
	}
	if !strings.HasPrefix(creates[0].Header.Get("Content-Type"), "application/json") {
		t.Errorf("create sent Content-Type %q", creates[0].Header.Get("Content-Type"))
	}

	r := c.get(scmPath(id, "")).wantStatus(http.StatusOK)
	if msg := r.text("p[role=status]"); !strings.Contains(msg, "Installed") || !strings.Contains(msg, "ALGO") {
		t.Errorf("status after install %q", msg)
	}
	if got := r.text("#webhook-installed"); strings.Contains(got, "Not installed") {
		t.Errorf("#webhook-installed = %q after install", got)
	}
	if hookStatus(t, app, id).InstalledAt.IsZero() {
		t.Error("installation time not recorded")
	}
	if !contains(auditActions(t, app, id), store.ActionInstallWebhook) {
		t.Error("no install_webhook audit event")
	}
	if c.get(scmPath(id, "")).has("p[role=status]") {
		t.Error("the status message is shown twice")
	}

	// Installing again updates our webhook instead of adding a second one.
	f.Reset()
	c.submit(scmPath(id, ""), scmPath(id, "webhook/install"), nil).wantRedirect(scmPath(id, ""))
	creates, updates = nil, nil
	for _, call := range f.Calls() {
		switch {
		case call.Method == http.MethodPost && call.Path == hookAPI:
			creates = append(creates, call)
		case call.Method == http.MethodPut:
			updates = append(updates, call)
		}
	}
	if len(creates) != 0 || len(updates) != 1 || updates[0].Path != hookAPI+"/11" {
		t.Fatalf("second install: %d creates, updates %+v; want one PUT %s/11", len(creates), updates, hookAPI)
	}
	if err := json.Unmarshal(updates[0].Body, &sent); err != nil || sent.URL != hookURL || sent.Configuration["secret"] != hookSecret {
		t.Errorf("updated webhook %s", updates[0].Body)
	}
	if hooks := len(f.Webhooks("ALGO")); hooks != 2 {
		t.Errorf("the project has %d webhooks, want 2 (CI's and ours)", hooks)
	}
	if msg := c.get(scmPath(id, "")).text("p[role=status]"); !strings.Contains(msg, "Updated") {
		t.Errorf("status after the second install %q", msg)
	}

	// After a rotation, the page says Bitbucket holds the old secret, and installing hands it
	// the new one.
	if c.get(scmPath(id, "")).has("#webhook-stale") {
		t.Error("the page says the installed webhook's secret is stale before any rotation")
	}
	rotated := rotateSecret(t, c, id).text("#webhook-secret")
	if got := c.get(scmPath(id, "")).text("#webhook-installed #webhook-stale"); !strings.Contains(got, "Install webhook") {
		t.Errorf("after a rotation the installed webhook shows %q, want a word that Bitbucket holds the old secret", got)
	}
	f.Reset()
	c.submit(scmPath(id, ""), scmPath(id, "webhook/install"), nil).wantRedirect(scmPath(id, ""))
	if c.get(scmPath(id, "")).has("#webhook-stale") {
		t.Error("the page still says the secret is stale after installing again")
	}
	for _, call := range f.Calls() {
		if call.Method == http.MethodPut {
			if err := json.Unmarshal(call.Body, &sent); err != nil || sent.Configuration["secret"] != rotated {
				t.Error("install after a rotation did not send the new secret")
			}
		}
	}

	// Send test ping.
	f.Reset()
	c.submit(scmPath(id, ""), scmPath(id, "webhook/ping"), nil).wantRedirect(scmPath(id, ""))
	pings := f.Calls()
	if len(pings) != 1 || pings[0].Method != http.MethodPost || pings[0].Path != hookAPI+"/test" || pings[0].Header.Get("Authorization") != "Bearer "+canaryToken {
		t.Fatalf("ping calls %+v, want one POST %s/test with the token", pings, hookAPI)
	}
	if q, _ := url.ParseQuery(pings[0].Query); q.Get("url") != hookURL {
		t.Errorf("ping asked for url %q, want %q", q.Get("url"), hookURL)
	}
	if msg := c.get(scmPath(id, "")).text("p[role=status]"); !strings.Contains(msg, "200") {
		t.Errorf("status after ping %q does not name the 200", msg)
	}

	page := c.get(scmPath(id, ""))
	assertNoSecrets(t, app, page)
	if strings.Contains(page.body, hookSecret) || strings.Contains(page.body, rotated) || strings.Contains(app.logs.String(), rotated) {
		t.Error("a webhook secret was shown or logged")
	}
}

func TestWebhookInstallFailuresInPlainWords(t *testing.T) {
	f := newBitbucketHost(t, canaryToken)
	app, c, id := newInstallApp(t, f)
	f.Refuse(http.StatusUnauthorized, fakehost.NotPermitted)

	for _, action := range []string{"webhook/install", "webhook/ping"} {
		r := c.submit(scmPath(id, ""), scmPath(id, action), nil).wantStatus(http.StatusBadGateway)
		msg := r.text("p[role=alert]")
		if !strings.Contains(msg, "You are not permitted to access this resource") || !strings.Contains(msg, "401") {
			t.Errorf("%s refused: alert %q does not quote Bitbucket", action, msg)
		}
		if strings.Contains(msg, "{") || strings.Contains(msg, "exceptionName") {
			t.Errorf("%s refused: alert %q shows raw JSON", action, msg)
		}
		if !r.has("#webhook-url") {
			t.Errorf("%s refused: the answer is not the details page", action)
		}
		assertNoSecrets(t, app, r)
	}
	if !hookStatus(t, app, id).InstalledAt.IsZero() {
		t.Error("a refused install was recorded as installed")
	}
	if contains(auditActions(t, app, id), store.ActionInstallWebhook) {
		t.Error("a refused install was audited as done")
	}
	if got := c.get(scmPath(id, "")).text("#webhook-installed"); !strings.Contains(got, "Not installed") {
		t.Errorf("#webhook-installed = %q after a refused install", got)
	}

	// Bitbucket reached scmadmin, which refused its test delivery.
	f.Refuse(0, "")
	f.SetPingStatus(http.StatusUnauthorized)
	r := c.submit(scmPath(id, ""), scmPath(id, "webhook/ping"), nil).wantStatus(http.StatusBadGateway)
	if msg := r.text("p[role=alert]"); !strings.Contains(msg, "401") || !strings.Contains(msg, "/hooks/scm/") {
		t.Errorf("ping answered 401: alert %q", msg)
	}

	// Bitbucket does not answer at all.
	f.srv.Close()
	r = c.submit(scmPath(id, ""), scmPath(id, "webhook/install"), nil).wantStatus(http.StatusBadGateway)
	if msg := r.text("p[role=alert]"); !strings.Contains(msg, "did not answer") {
		t.Errorf("unreachable Bitbucket: alert %q", msg)
	}
}

// A Bitbucket Server configuration made before webhooks existed (migration 004) has no
// webhook secret. Nothing can be signed without one: it must not be installed on Bitbucket
// without a secret, and the page must not claim one is set.
func TestWebhookConfigurationWithoutSecret(t *testing.T) {
	f := newBitbucketHost(t, canaryToken)
	app := newTestAppWith(t, Config{BaseURL: hookBaseURL, ExtraCAs: f.srv.CAPEM})
	c := app.adminClient()
	cfg := seedConfig(t, app, store.SCMConfig{Provider: "bitbucket_server", WebsiteURL: f.srv.URL, APIURL: f.srv.URL + "/rest/api/1.0",
		SSHURL: "ssh://git@127.0.0.1:7999", ProjectKey: "ALGO", UniqueKey: "bitbucket_server|" + f.srv.URL + "|ALGO"},
		map[string]string{"access_token": canaryToken})
	id := cfg.ID
	if _, ok := openSecrets(t, app, id)[store.WebhookSecret]; ok {
		t.Fatal("seeded configuration has a webhook secret")
	}

	// Unsigned or signed with an empty key, nothing is accepted.
	body, _ := fixture(t)
	for i, sig := range []string{"", signHook(body, "")} {
		if status, _ := deliver(t, app, id, "repo:refs_changed", fmt.Sprintf("nosecret-%d", i), sig, body); status != http.StatusUnauthorized {
			t.Errorf("delivery %d to a configuration without a secret: %d, want 401", i, status)
		}
	}

	// The page and Install webhook must not act as if a secret existed.
	secretStatus := c.get(scmPath(id, "")).wantStatus(http.StatusOK).text("#webhook-secret-status")
	install := c.submit(scmPath(id, ""), scmPath(id, "webhook/install"), nil)
	var sentSecret *string
	for _, call := range f.Calls() {
		var sent struct {
			Configuration map[string]string `json:"configuration"`
		}
		if call.Method == http.MethodPost && call.Path == hookAPI && json.Unmarshal(call.Body, &sent) == nil {
			s := sent.Configuration["secret"]
			sentSecret = &s
		}
	}

	// Rotating makes one, and deliveries signed with it are accepted.
	secret := rotateSecret(t, c, id).text("#webhook-secret")
	if s := openSecrets(t, app, id); s[store.WebhookSecret] != secret {
		t.Errorf("after the rotation the current secret is not the one shown")
	}
	push(t, app, id, "nosecret-rotated", secret, body, http.StatusAccepted)

	created := "created no webhook"
	if sentSecret != nil {
		created = fmt.Sprintf("created the webhook on Bitbucket with configuration.secret %q", *sentSecret)
	}
	if strings.HasPrefix(secretStatus, "Set on") || (sentSecret != nil && *sentSecret == "") {
		t.Errorf("configuration %d has no webhook secret (as one made before migration 004), yet its page's "+
			"#webhook-secret-status says %q, and POST %s answered %d and %s: every delivery Bitbucket then sends is refused (401)",
			id, secretStatus, scmPath(id, "webhook/install"), install.status, created)
	}
}

func TestWebhookURLFollowsBaseURL(t *testing.T) {
	for base, want := range map[string]string{
		"http://scmadmin.example.com:8080/":    "http://scmadmin.example.com:8080/hooks/scm/2",
		"http://scmadmin.example.com/platform": "http://scmadmin.example.com/platform/hooks/scm/2",
	} {
		app := newTestAppWith(t, Config{BaseURL: base})
		c := app.adminClient()
		id := addConfig(t, c, validForm("bitbucket_server"))
		if got := c.get(scmPath(id, "")).text("#webhook-url"); got != strings.Replace(want, "/2", "/"+strconv.FormatInt(id, 10), 1) {
			t.Errorf("BASE_URL %s: #webhook-url = %q, want %q", base, got, want)
		}
	}
}

// With a base URL only this machine reaches (the default), the details page warns that
// Bitbucket cannot deliver to the webhook URL; with a public one it does not.
func TestWebhookURLOnLoopbackIsWarnedOf(t *testing.T) {
	for _, tc := range []struct {
		base string
		warn bool
	}{{"http://localhost:8080", true}, {"http://127.0.0.1", true}, {"https://scm.example.com", false}} {
		app := newTestAppWith(t, Config{BaseURL: tc.base})
		c := app.adminClient()
		id := addConfig(t, c, bbForm("bb.example.com", "ALGO"))
		page := c.get(scmPath(id, "")).wantStatus(http.StatusOK)
		if got := page.has("#webhook-unreachable"); got != tc.warn {
			t.Errorf("base URL %s: warning shown = %v, want %v (%q)", tc.base, got, tc.warn, page.text("#webhook-unreachable"))
		}
	}
}

// An admin who opens the webhook URL in a browser to check it learns that it is right and
// takes POSTs, not that the page does not exist.
func TestWebhookURLOpenedInABrowser(t *testing.T) {
	_, c, id := newHookApp(t)
	r := c.get("/hooks/scm/" + ref(id))
	if r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != http.MethodPost || !strings.Contains(r.body, "webhook URL") {
		t.Errorf("GET of the webhook URL: %d Allow %q %q, want 405 saying it is a webhook URL that takes POST",
			r.status, r.header.Get("Allow"), r.body)
	}
}
