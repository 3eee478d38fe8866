package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scmadmin/scmadmin/store"
	"github.com/scmadmin/scmadmin/store/keyring"
	"github.com/scmadmin/scmadmin/web/provider"
)

// Issue 17, item 6: kill -9 the server while pushes arrive and the build hook's target is
// down half of the time; after a restart every accepted push is one build, every build
// reached the target (at least once, in order per configuration, no gaps), and the feed
// lists each once.

const (
	killHookSecret    = "kill test webhook secret"
	killBuildSecret   = "kill test build hook secret"
	killConfigs       = 20
	killPushes        = 1000
	killAcceptedFirst = 350 // accepted pushes before the kill
)

// killFixture makes the database before the server starts: the admin, a read key, and
// killConfigs Bitbucket Server configurations, each with its webhook secret and one
// registered repository (pushes build only registered repositories).
func killFixture(t *testing.T, dbPath, keyFile string) (readKey string, refs []string) {
	t.Helper()
	ctx := context.Background()
	keys, _, err := keyring.LoadOrCreate(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, dbPath, keys)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	by := store.Actor{Username: "test"}
	if _, err := st.CreateFirstAdmin(ctx, "admin", safetyPassword); err != nil {
		t.Fatal(err)
	}
	if _, readKey, err = st.CreateAPIKey(ctx, "follower", store.ScopeRead, "admin", by); err != nil {
		t.Fatal(err)
	}
	p, _ := provider.Lookup("bitbucket_server")
	for k := range killConfigs {
		host := fmt.Sprintf("bb%d.example.com", k)
		vals, errs := p.Validate(url.Values{"website_url": {"https://" + host}, "api_url": {"https://" + host + "/rest/api/1.0"},
			"ssh_url": {"ssh://git@" + host + ":7999"}, "project_key": {"ALGO"}, "access_token": {"token"}}, nil)
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		cfg, secrets := p.Config(vals)
		secrets[store.WebhookSecret] = killHookSecret
		created, err := st.CreateSCMConfig(ctx, cfg, secrets, by)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.RegisterRepository(ctx, store.Repository{ConfigID: created.ID, Owner: "ALGO", Name: "algo"}, by); err != nil {
			t.Fatal(err)
		}
		refs = append(refs, created.Ref)
	}
	return readKey, refs
}

// flakyTarget is the platform's build hook: every other request fails (503). It keeps, per
// configuration, the builds it took (2xx), in the order it took them.
type flakyTarget struct {
	*httptest.Server
	requests atomic.Int64
	mu       sync.Mutex
	taken    map[string][]string // scm_id → build ids
	badSigs  int
}

func newFlakyTarget(t *testing.T) *flakyTarget {
	f := &flakyTarget{taken: map[string][]string{}}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mac := hmac.New(sha256.New, []byte(killBuildSecret))
		mac.Write(body)
		f.mu.Lock()
		defer f.mu.Unlock()
		if r.Header.Get("X-Scmadmin-Signature") != "sha256="+hex.EncodeToString(mac.Sum(nil)) {
			f.badSigs++
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		if f.requests.Add(1)%2 == 1 {
			http.Error(w, "down half of the time", http.StatusServiceUnavailable)
			return
		}
		var b struct{ ID, SCMID string }
		if err := json.Unmarshal(body, &struct {
			ID    *string `json:"id"`
			SCMID *string `json:"scm_id"`
		}{&b.ID, &b.SCMID}); err != nil {
			http.Error(w, "not JSON", http.StatusBadRequest)
			return
		}
		f.taken[b.SCMID] = append(f.taken[b.SCMID], b.ID)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(f.Close)
	return f
}

// killPush is push i: to configuration i % killConfigs, a commit of its own.
func killPush(base string, refs []string, i int) (*http.Request, string) {
	commit := fmt.Sprintf("%040x", i+1)
	body := fmt.Appendf(nil, `{"eventKey":"repo:refs_changed","date":"2026-12-01T10:00:00+0000","actor":{"name":"pusher"},`+
		`"repository":{"slug":"algo","name":"algo","project":{"key":"ALGO"}},"changes":[{"ref":{"id":"refs/heads/master",`+
		`"displayId":"master","type":"BRANCH"},"refId":"refs/heads/master","fromHash":"%040x","toHash":%q,"type":"UPDATE"}]}`, i, commit)
	req, _ := http.NewRequest(http.MethodPost, base+"/hooks/scm/"+refs[i%len(refs)], bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Event-Key", "repo:refs_changed")
	req.Header.Set("X-Request-Id", fmt.Sprint("kill-", i))
	req.Header.Set("X-Hub-Signature", signHook(body, killHookSecret))
	return req, commit
}

// pushOutcomes are the answers to the pushes: accepted (202 "accepted"), or sent without an
// answer (the server was killed meanwhile).
type pushOutcomes struct {
	mu         sync.Mutex
	accepted   map[string]bool // by commit
	unanswered map[string]bool
	next       int // the next push to send
}

// sendPushes sends the pushes from o.next on from 8 connections until all are sent, or until
// the server stops answering; stopAt (when not nil) is closed once accepted reaches n.
func (o *pushOutcomes) sendPushes(t *testing.T, base string, refs []string, n int, reached chan struct{}) {
	client := &http.Client{Timeout: 10 * time.Second}
	var once sync.Once
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				o.mu.Lock()
				i := o.next
				o.next++
				o.mu.Unlock()
				if i >= killPushes {
					return
				}
				req, commit := killPush(base, refs, i)
				res, err := client.Do(req)
				if err != nil {
					o.mu.Lock()
					o.unanswered[commit] = true
					o.mu.Unlock()
					return // killed
				}
				answer, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusAccepted || !bytes.HasPrefix(answer, []byte("accepted:")) {
					t.Errorf("push %d: %d %q, want 202 accepted", i, res.StatusCode, answer)
					continue
				}
				o.mu.Lock()
				o.accepted[commit] = true
				if reached != nil && len(o.accepted) >= n {
					once.Do(func() { close(reached) })
				}
				o.mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

// followFeed reads the whole feed, page by page, by its marker.
func followFeed(t *testing.T, base, key string) []map[string]string {
	t.Helper()
	var all []map[string]string
	after := "0"
	for {
		req, _ := http.NewRequest(http.MethodGet, base+"/v1/builds?limit=1000&after="+after, nil)
		req.Header.Set("Authorization", "Simple "+key)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var page struct {
			Results []map[string]string `json:"results"`
			Marker  string              `json:"marker"`
		}
		err = json.NewDecoder(res.Body).Decode(&page)
		res.Body.Close()
		if err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("GET /v1/builds: %d %v", res.StatusCode, err)
		}
		if len(page.Results) == 0 {
			return all
		}
		all, after = append(all, page.Results...), page.Marker
	}
}

func TestKillDuringPushesLosesNoBuild(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	target := newFlakyTarget(t)
	vars := map[string]string{
		"SCMADMIN_DB":                filepath.Join(dir, "scm.db"),
		"SCMADMIN_KEY_FILE":          filepath.Join(dir, "keys"),
		"SCMADMIN_ADMIN_PASSWORD":    safetyPassword,
		"SCMADMIN_BUILD_HOOK_URL":    target.URL + "/builds",
		"SCMADMIN_BUILD_HOOK_SECRET": killBuildSecret,
	}
	readKey, refs := killFixture(t, vars["SCMADMIN_DB"], vars["SCMADMIN_KEY_FILE"])
	out := &pushOutcomes{accepted: map[string]bool{}, unanswered: map[string]bool{}}

	p := startProcess(t, bin, vars)
	reached := make(chan struct{})
	sent := make(chan struct{})
	go func() { out.sendPushes(t, p.base, refs, killAcceptedFirst, reached); close(sent) }()
	select {
	case <-reached:
	case <-time.After(20 * time.Second):
		t.Fatalf("%d pushes were not accepted within 20 s", killAcceptedFirst)
	}
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-sent
	<-p.exited
	out.mu.Lock()
	t.Logf("killed after %d accepted pushes (%d unanswered); the target had taken %d of %d requests",
		len(out.accepted), len(out.unanswered), len(target.takenIDs()), target.requests.Load())
	out.mu.Unlock()

	p2 := startProcess(t, bin, vars)
	out.sendPushes(t, p2.base, refs, 0, nil)

	// Every build in the feed reaches the target: in about 15 s on an idle machine; the
	// bound leaves room for one busy with other packages' tests under -race (47 of 992 were
	// still on their way after 40 s beside two busy loops).
	var feed []map[string]string
	for deadline := time.Now().Add(120 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		feed = followFeed(t, p2.base, readKey)
		if missing := target.missing(feed); missing == 0 {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("after 120 s, %d of the feed's %d builds have not reached the build hook", missing, len(feed))
		}
	}

	// Every accepted push is exactly one build, listed once; the others are pushes whose
	// answer the kill cut off.
	perCommit := map[string]int{}
	ids := map[string]bool{}
	for _, b := range feed {
		perCommit[b["commit"]]++
		if ids[b["id"]] {
			t.Errorf("the feed lists build %s twice", b["id"])
		}
		ids[b["id"]] = true
	}
	for commit := range out.accepted {
		if perCommit[commit] != 1 {
			t.Errorf("accepted push of %s is %d builds, want 1", commit, perCommit[commit])
		}
	}
	for commit, n := range perCommit {
		if !out.accepted[commit] && !out.unanswered[commit] {
			t.Errorf("build of %s (%d) from no push sent", commit, n)
		}
	}
	if len(out.accepted) < killPushes-len(out.unanswered) {
		t.Errorf("%d pushes accepted, want all %d but the %d the kill cut off", len(out.accepted), killPushes, len(out.unanswered))
	}

	// The target took each configuration's builds in the feed's order, each at least once: a
	// build it took again (its answer lost in the kill) comes right where delivery resumed.
	target.mu.Lock()
	defer target.mu.Unlock()
	if target.badSigs > 0 {
		t.Errorf("%d deliveries badly signed", target.badSigs)
	}
	// At least once: a kill re-sends what the target took of each configuration's run in
	// flight and the server had not recorded yet, at most a run (hookRun, 16) each.
	const run = 16
	again := 0
	for _, ref := range refs {
		againHere := 0
		var want []string
		for _, b := range feed {
			if b["scm_id"] == ref {
				want = append(want, b["id"])
			}
		}
		var first []string
		seen := map[string]bool{}
		for _, id := range target.taken[ref] {
			if seen[id] {
				again++
				againHere++
				continue
			}
			seen[id] = true
			first = append(first, id)
		}
		if strings.Join(first, ",") != strings.Join(want, ",") {
			t.Errorf("configuration %s: the target took %v, want the feed's order %v", ref, first, want)
		}
		if againHere > run {
			t.Errorf("configuration %s: %d builds taken twice, more than the run of %d a kill can leave unrecorded", ref, againHere, run)
		}
	}
	t.Logf("%d builds, %d requests to the target, %d taken twice", len(feed), target.requests.Load(), again)
}

// takenIDs are the build ids the target took, of every configuration.
func (f *flakyTarget) takenIDs() map[string]bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	ids := map[string]bool{}
	for _, taken := range f.taken {
		for _, id := range taken {
			ids[id] = true
		}
	}
	return ids
}

// missing counts the builds of feed the target has not taken.
func (f *flakyTarget) missing(feed []map[string]string) int {
	taken := f.takenIDs()
	n := 0
	for _, b := range feed {
		if !taken[b["id"]] {
			n++
		}
	}
	return n
}
