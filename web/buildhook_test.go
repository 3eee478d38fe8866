package web

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scmadmin/scmadmin/store"
)

// Tests of the builds feed (GET /v1/builds) and the build hook (SCMADMIN_BUILD_HOOK_URL).

const buildHookSecret = "build-hook-secret-for-tests"

// readAPIKey makes a key of scope read.
func readAPIKey(t *testing.T, app *testApp) string {
	t.Helper()
	_, key, err := app.st.CreateAPIKey(context.Background(), "reader", store.ScopeRead, adminName, store.Actor{Username: adminName})
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// feedResults decodes the results of a GET /v1/builds answer.
func feedResults(t *testing.T, a *apiAnswer) []buildJSON {
	t.Helper()
	var feed buildFeed
	if err := json.Unmarshal(a.body, &feed); err != nil {
		t.Fatal(err)
	}
	return feed.Results
}

func TestBuildsFeed(t *testing.T) {
	app, _, id := newHookApp(t)
	api := newAPIClient(t, app, readAPIKey(t, app))
	empty := api.call(http.MethodGet, "/v1/builds", "").want(http.StatusOK, 0)
	if got := feedResults(t, empty); len(got) != 0 || empty.str("marker") != "0" {
		t.Errorf("empty feed: %s, want no results and marker 0", empty.body)
	}
	for i := range 3 {
		push(t, app, id, fmt.Sprint("req-", i), hookSecret, pushBody(masterPush(fmt.Sprintf("%040x", i))), http.StatusAccepted)
	}
	builds := buildsOf(t, app, id) // newest first
	all := feedResults(t, api.call(http.MethodGet, "/v1/builds", "").want(http.StatusOK, 0))
	if len(all) != 3 {
		t.Fatalf("feed lists %d builds, want 3", len(all))
	}
	for i, b := range all {
		want := buildJSON{ID: strconv.FormatInt(builds[2-i].ID, 10), SCMID: ref(id), Repository: "sentiment-analysis",
			Commit: fmt.Sprintf("%040x", i), Actor: "jdoe", Trigger: "push", CreatedAt: builds[2-i].CreatedAt.UTC()}
		if !b.CreatedAt.Equal(want.CreatedAt) || b.CreatedAt.Location() != time.UTC {
			t.Errorf("build %d created_at %s, want %s in UTC", i, b.CreatedAt, want.CreatedAt)
		}
		b.CreatedAt = want.CreatedAt
		if b != want {
			t.Errorf("build %d: %+v, want %+v", i, b, want)
		}
	}

	// Followed by its marker: each build once, then nothing new, with the same marker.
	first := api.call(http.MethodGet, "/v1/builds?limit=2", "").want(http.StatusOK, 0)
	rest := api.call(http.MethodGet, "/v1/builds?limit=2&after="+first.str("marker"), "").want(http.StatusOK, 0)
	if got := append(feedResults(t, first), feedResults(t, rest)...); len(got) != 3 || got[0].ID != all[0].ID || got[2].ID != all[2].ID {
		t.Errorf("paged: %+v, want the 3 builds once each", got)
	}
	caughtUp := api.call(http.MethodGet, "/v1/builds?after="+rest.str("marker"), "").want(http.StatusOK, 0)
	if len(feedResults(t, caughtUp)) != 0 || caughtUp.str("marker") != rest.str("marker") {
		t.Errorf("caught up: %s, want no results and the same marker %s", caughtUp.body, rest.str("marker"))
	}
	push(t, app, id, "req-new", hookSecret, pushBody(masterPush(strings.Repeat("e", 40))), http.StatusAccepted)
	if got := feedResults(t, api.call(http.MethodGet, "/v1/builds?after="+rest.str("marker"), "").want(http.StatusOK, 0)); len(got) != 1 ||
		got[0].Commit != strings.Repeat("e", 40) {
		t.Errorf("after a new push: %+v, want it alone", got)
	}

	for _, bad := range []struct{ query, field string }{
		{"after=abc", "after"}, {"after=-1", "after"}, {"after=%2B5", "after"}, {"after=99999999999999999999", "after"},
		{"after=999999", "after"}, // a marker the feed never gave: ahead of every build
		{"limit=0", "limit"}, {"limit=1001", "limit"}, {"limit=x", "limit"},
	} {
		a := api.call(http.MethodGet, "/v1/builds?"+bad.query, "").want(http.StatusBadRequest, http.StatusBadRequest)
		if a.field(bad.field) == "" {
			t.Errorf("?%s: %s, want an error naming %s", bad.query, a.body, bad.field)
		}
	}
	newAPIClient(t, app, "").call(http.MethodGet, "/v1/builds", "").want(http.StatusUnauthorized, http.StatusUnauthorized)
}

// hookTarget is the platform's end of the build hook: it answers with the statuses of
// answers in turn (then 204), and keeps every request.
type hookTarget struct {
	*httptest.Server
	mu       sync.Mutex
	answers  []int
	requests []hookRequestSeen
	hold     chan struct{} // when not nil, requests wait for it to close
}

type hookRequestSeen struct {
	body      []byte
	signature string
	status    int
}

func newHookTarget(t *testing.T, answers ...int) *hookTarget {
	h := &hookTarget{answers: answers}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		status := http.StatusNoContent
		if len(h.answers) > 0 {
			status, h.answers = h.answers[0], h.answers[1:]
		}
		h.requests = append(h.requests, hookRequestSeen{body: body, signature: r.Header.Get(SignatureHeader), status: status})
		hold := h.hold
		h.mu.Unlock()
		if hold != nil {
			<-hold
		}
		if status >= 300 {
			http.Error(w, "down for maintenance, back soon", status)
			return
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hookTarget) seen() []hookRequestSeen {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookRequestSeen(nil), h.requests...)
}

// newBuildHookApp is newHookApp for a server whose build hook is on.
func newBuildHookApp(t *testing.T) (*testApp, *client, int64) {
	t.Helper()
	app := newTestAppWith(t, Config{BaseURL: hookBaseURL, BuildHook: true})
	c := app.adminClient()
	id := addConfig(t, c, validForm("bitbucket_server"))
	setHookSecret(t, app, id, hookSecret)
	registerRepo(t, app, id, "ALGO", "sentiment-analysis")
	return app, c, id
}

// runBuildHook runs the build hook of app's store towards target until the test ends.
func runBuildHook(t *testing.T, app *testApp, target string) (stop func()) {
	t.Helper()
	hook, err := NewBuildHook(context.Background(), BuildHookConfig{URL: target, Secret: buildHookSecret, Logger: app.s.log}, app.st)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		hook.Run(ctx)
	}()
	stop = func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("the build hook did not stop within 5 s")
		}
	}
	t.Cleanup(stop)
	return stop
}

func metricLine(t *testing.T, app *testApp, name string) string {
	t.Helper()
	body := app.client().get("/metrics").wantStatus(http.StatusOK).body
	m := regexp.MustCompile(`(?m)^` + name + ` (\S+)$`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("/metrics has no %s:\n%.3000s", name, body)
	}
	return m[1]
}

func TestBuildHookDeliversEveryBuildSignedInOrder(t *testing.T) {
	app, c, id := newBuildHookApp(t)
	target := newHookTarget(t, http.StatusServiceUnavailable, http.StatusServiceUnavailable) // down twice, then up
	runBuildHook(t, app, target.URL)
	for i := range 3 {
		push(t, app, id, fmt.Sprint("req-", i), hookSecret, pushBody(masterPush(fmt.Sprintf("%040x", i))), http.StatusAccepted)
	}
	waitFor(t, "3 builds taken by the target", func() bool {
		n := 0
		for _, r := range target.seen() {
			if r.status < 300 {
				n++
			}
		}
		return n == 3
	})

	feed := feedResults(t, newAPIClient(t, app, readAPIKey(t, app)).call(http.MethodGet, "/v1/builds", "").want(http.StatusOK, 0))
	seen := target.seen()
	if len(seen) != 5 {
		t.Errorf("the target saw %d requests, want 5 (the first build 3 times)", len(seen))
	}
	var taken []buildJSON
	for i, r := range seen {
		mac := hmac.New(sha256.New, []byte(buildHookSecret))
		mac.Write(r.body)
		if want := "sha256=" + hex.EncodeToString(mac.Sum(nil)); r.signature != want {
			t.Errorf("request %d signed %q, want %q", i, r.signature, want)
		}
		var b buildJSON
		if err := json.Unmarshal(r.body, &b); err != nil {
			t.Fatalf("request %d: %v: %s", i, err, r.body)
		}
		if i < 3 && b.ID != feed[0].ID {
			t.Errorf("request %d is build %s: a later build went before the first was taken", i, b.ID)
		}
		if r.status < 300 {
			taken = append(taken, b)
		}
	}
	for i := range feed {
		if i >= len(taken) || taken[i] != feed[i] {
			t.Errorf("taken %+v, want the feed's builds in its order %+v", taken, feed)
			break
		}
	}

	// The details page: nothing waits once the deliveries are recorded (a run's record follows
	// its POSTs by up to hookGather), the last failure is the target's 503 and its words.
	var page *response
	waitFor(t, "the details page shows nothing waiting", func() bool {
		page = c.get(scmPath(id, "")).wantStatus(http.StatusOK)
		return strings.Contains(page.text("#build-hook-pending"), "None")
	})
	if got := page.text("#build-hook-last-failure"); !strings.Contains(got, "503") || !strings.Contains(got, "down for maintenance") ||
		!strings.Contains(got, "2 failed attempts") {
		t.Errorf("last failure: %q, want the 503, the target's words and 2 attempts", got)
	}
	if got := metricLine(t, app, "scmadmin_build_hook_failures_total"); got != "2" {
		t.Errorf("scmadmin_build_hook_failures_total %s, want 2", got)
	}
	if got := metricLine(t, app, "scmadmin_build_hook_pending"); got != "0" {
		t.Errorf("scmadmin_build_hook_pending %s, want 0", got)
	}
	if got, _ := strconv.ParseFloat(metricLine(t, app, "scmadmin_build_hook_last_failure_timestamp_seconds"), 64); time.Since(time.Unix(int64(got), 0)) > time.Minute {
		t.Errorf("scmadmin_build_hook_last_failure_timestamp_seconds %v, want about now", got)
	}
	assertNotStored(t, app, "the build hook's secret", buildHookSecret)
}

// A configuration's backlog goes out in runs: a build the target refuses in the middle of
// one is tried again before any build after it, and the run's builds before it are not sent
// again.
func TestBuildHookRunStopsAtARefusalAndKeepsTheOrder(t *testing.T) {
	app, _, id := newBuildHookApp(t)
	// Builds 0, 1 and 2 are taken, 3 is refused once, then every one is taken.
	target := newHookTarget(t, http.StatusNoContent, http.StatusNoContent, http.StatusNoContent, http.StatusServiceUnavailable)
	hold := make(chan struct{})
	target.hold = hold // the first build waits at the target while the others queue behind it
	runBuildHook(t, app, target.URL)
	push(t, app, id, "req-0", hookSecret, pushBody(masterPush(fmt.Sprintf("%040x", 0))), http.StatusAccepted)
	waitFor(t, "the first build at the target", func() bool { return len(target.seen()) == 1 })
	for i := 1; i < 6; i++ {
		push(t, app, id, fmt.Sprint("req-", i), hookSecret, pushBody(masterPush(fmt.Sprintf("%040x", i))), http.StatusAccepted)
	}
	close(hold)
	waitFor(t, "every build taken", func() bool { return metricLine(t, app, "scmadmin_build_hook_pending") == "0" })
	var got []string
	for _, r := range target.seen() {
		var b buildJSON
		if err := json.Unmarshal(r.body, &b); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s:%d", strings.TrimLeft(b.Commit, "0"), r.status))
	}
	if want := []string{":204", "1:204", "2:204", "3:503", "3:204", "4:204", "5:204"}; !slices.Equal(got, want) {
		t.Errorf("the target saw (commit:status) %v, want %v", got, want)
	}
}

func TestBuildHookWaitingShownWhileTheTargetFails(t *testing.T) {
	app, c, id := newBuildHookApp(t)
	target := newHookTarget(t, http.StatusInternalServerError, http.StatusInternalServerError, http.StatusInternalServerError,
		http.StatusInternalServerError, http.StatusInternalServerError, http.StatusInternalServerError)
	runBuildHook(t, app, target.URL)
	for i := range 2 {
		push(t, app, id, fmt.Sprint("req-", i), hookSecret, pushBody(masterPush(fmt.Sprintf("%040x", i))), http.StatusAccepted)
	}
	waitFor(t, "a failed attempt", func() bool { return len(target.seen()) > 0 })
	waitFor(t, "the failure recorded", func() bool { return metricLine(t, app, "scmadmin_build_hook_failures_total") != "0" })
	page := c.get(scmPath(id, "")).wantStatus(http.StatusOK)
	if got := page.text("#build-hook-pending"); !strings.Contains(got, "2 builds wait") {
		t.Errorf("waiting: %q, want 2 builds", got)
	}
	if got := page.text("#build-hook-last-failure"); !strings.Contains(got, "500") || !strings.Contains(got, "down for maintenance") {
		t.Errorf("last failure: %q, want the target's 500 and its words", got)
	}
	if got := metricLine(t, app, "scmadmin_build_hook_pending"); got != "2" {
		t.Errorf("scmadmin_build_hook_pending %s, want 2", got)
	}
	for _, r := range target.seen() {
		if !strings.Contains(string(r.body), fmt.Sprintf("%040x", 0)) {
			t.Errorf("the second build was sent while the first had not been taken: %s", r.body)
		}
	}
}

// A build-via-API configuration's page shows what waits for the build hook, as a push one's does.
func TestBuildHookShownForAPIBuilds(t *testing.T) {
	app := newTestAppWith(t, Config{BaseURL: hookBaseURL, BuildHook: true})
	id := addConfig(t, app.adminClient(), validForm("bitbucket_server_api"))
	registerRepo(t, app, id, "ALGO", "sentiment-analysis")
	target := newHookTarget(t, http.StatusInternalServerError, http.StatusInternalServerError, http.StatusInternalServerError)
	runBuildHook(t, app, target.URL)
	cfg := mustConfig(t, app, id)
	newAPIClient(t, app, adminAPIKey(t, app)).call(http.MethodPost, buildsPath(cfg.Ref), buildBody("sentiment-analysis", strings.Repeat("a", 40))).
		want(http.StatusAccepted, 0)
	waitFor(t, "the failure recorded", func() bool { return metricLine(t, app, "scmadmin_build_hook_failures_total") != "0" })
	page := app.adminClient().get(scmPath(id, "")).wantStatus(http.StatusOK)
	if got := page.text("section.builds #build-hook-pending"); !strings.Contains(got, "1 build waits for the build hook") {
		t.Errorf("waiting: %q, want 1 build", got)
	}
	if got := page.text("section.builds #build-hook-last-failure"); !strings.Contains(got, "500") || !strings.Contains(got, "down for maintenance") {
		t.Errorf("last failure: %q, want the target's 500 and its words", got)
	}
}

func TestBuildHookStopsCleanlyAndGivesBackWhatWasInFlight(t *testing.T) {
	app, _, id := newBuildHookApp(t)
	target := newHookTarget(t)
	target.hold = make(chan struct{})
	defer close(target.hold)
	stop := runBuildHook(t, app, target.URL)
	push(t, app, id, "req", hookSecret, pushBody(masterPush(fixtureHash)), http.StatusAccepted)
	waitFor(t, "the build in flight", func() bool { return len(target.seen()) == 1 })
	started := time.Now()
	stop()
	if took := time.Since(started); took > 2*time.Second {
		t.Errorf("stopping took %s with a build in flight", took)
	}
	// Given back, not failed: another server (or the next start) takes it at once.
	now := time.Now()
	claimed, _, err := app.st.ClaimBuildHooks(context.Background(), "next", now, now.Add(time.Minute), 10)
	if err != nil || len(claimed) != 1 || claimed[0].Attempts != 0 {
		t.Errorf("after stopping: claimed %+v %v, want the build, with no failed attempt", claimed, err)
	}
}

func TestBuildHookConfiguration(t *testing.T) {
	app := newTestApp(t)
	for _, bad := range []struct {
		cfg   BuildHookConfig
		names string
	}{
		{BuildHookConfig{URL: "ftp://platform.example.com/builds", Secret: "s"}, "SCMADMIN_BUILD_HOOK_URL"},
		{BuildHookConfig{URL: "/builds", Secret: "s"}, "SCMADMIN_BUILD_HOOK_URL"},
		{BuildHookConfig{URL: "https://platform.example.com/builds"}, "SCMADMIN_BUILD_HOOK_SECRET"},
		{BuildHookConfig{URL: "https://platform.example.com/builds", Secret: "s", ExtraCAs: []byte("not PEM")}, "SCMADMIN_CA_FILE"},
	} {
		bad.cfg.Logger = app.s.log
		if _, err := NewBuildHook(context.Background(), bad.cfg, app.st); err == nil || !strings.Contains(err.Error(), bad.names) {
			t.Errorf("%+v: %v, want an error naming %s", bad.cfg, err, bad.names)
		}
	}
}

func TestBuildHookRetryDelay(t *testing.T) {
	for attempts, ceiling := range map[int]time.Duration{0: hookBackoff, 1: 2 * hookBackoff, 5: 32 * hookBackoff, 20: hookMaxBackoff, 1000: hookMaxBackoff} {
		var longest time.Duration
		for range 200 {
			d := hookRetryDelay(attempts)
			if d < 0 || d > ceiling {
				t.Fatalf("after %d attempts: %s, want 0 to %s", attempts+1, d, ceiling)
			}
			longest = max(longest, d)
		}
		if longest < ceiling/2 {
			t.Errorf("after %d attempts the longest of 200 delays is %s: not spread up to %s", attempts+1, longest, ceiling)
		}
	}
}
