package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/scmadmin/scmadmin/store"
)

// Pushes from GitHub, GitHub Enterprise, GitLab and Bitbucket Cloud (SPEC "Algorithm
// repositories and builds"), end to end through POST /hooks/scm/{id}, with the providers'
// documented push payloads (web/testdata/push-*.json) and the headers each sends.

// hostPush is how one provider delivers its push, and what its fixture says.
type hostPush struct {
	provider, fixture string
	// eventHeader names the event (event: a push); deliveryHeader carries the delivery id.
	eventHeader, event, deliveryHeader string
	// sign gives the header and value that authenticate body under secret.
	sign func(body []byte, secret string) (header, value string)
	// What the fixture's build is.
	owner, repo, commit, actor string
	pushedAt                   time.Time
	// Changes of the fixture: a push to another branch, a tag, a deleted default branch, a
	// push to another repository.
	otherBranch, tag, deleteBranch, otherRepo func(m map[string]any)
}

func hmacSigned(header string) func([]byte, string) (string, string) {
	return func(body []byte, secret string) (string, string) { return header, signHook(body, secret) }
}

func tokenSigned(body []byte, secret string) (string, string) { return "X-Gitlab-Token", secret }

// obj is m's member name as an object.
func obj(m map[string]any, name string) map[string]any { return m[name].(map[string]any) }

// bitbucketCloudChange is the fixture's first change of refs.
func bitbucketCloudChange(m map[string]any) map[string]any {
	return obj(m, "push")["changes"].([]any)[0].(map[string]any)
}

var githubPushes = hostPush{
	eventHeader: "X-GitHub-Event", event: "push", deliveryHeader: "X-GitHub-Delivery", fixture: "push-github.json",
	sign:  hmacSigned("X-Hub-Signature-256"),
	owner: "algo-org", repo: "sentiment-analysis", commit: "9c1f4b2e8d7a6c5b4a39281706f5e4d3c2b1a098", actor: "octocat",
	pushedAt:    time.Date(2026, 11, 20, 14, 3, 11, 0, time.UTC),
	otherBranch: func(m map[string]any) { m["ref"] = "refs/heads/dev" },
	tag:         func(m map[string]any) { m["ref"], m["base_ref"] = "refs/tags/v1.0", "refs/heads/main" },
	deleteBranch: func(m map[string]any) {
		m["deleted"], m["after"], m["head_commit"], m["commits"] = true, strings.Repeat("0", 40), nil, []any{}
	},
	otherRepo: func(m map[string]any) {
		r := obj(m, "repository")
		r["name"], r["full_name"] = "pushed-not-created", "algo-org/pushed-not-created"
	},
}

var hostPushes = []hostPush{
	func() hostPush { p := githubPushes; p.provider = "github"; return p }(),
	func() hostPush { p := githubPushes; p.provider = "github_enterprise"; return p }(),
	{
		provider: "gitlab", fixture: "push-gitlab.json", eventHeader: "X-Gitlab-Event", event: "Push Hook",
		deliveryHeader: "X-Gitlab-Event-UUID", sign: tokenSigned,
		owner: "algorithms/nlp", repo: "sentiment-analysis", commit: "da1560886d4f094c3e6c9ef40349f7d38b5d27d7", actor: "jsmith",
		pushedAt:    time.Date(2026, 11, 20, 14, 3, 11, 0, time.UTC),
		otherBranch: func(m map[string]any) { m["ref"] = "refs/heads/dev" },
		tag: func(m map[string]any) {
			m["object_kind"], m["event_name"], m["ref"] = "tag_push", "tag_push", "refs/tags/v1.0"
		},
		deleteBranch: func(m map[string]any) {
			m["after"], m["checkout_sha"], m["commits"], m["total_commits_count"] = strings.Repeat("0", 40), nil, []any{}, 0
		},
		otherRepo: func(m map[string]any) { obj(m, "project")["path_with_namespace"] = "algorithms/nlp/pushed-not-created" },
	},
	{
		provider: "bitbucket_cloud", fixture: "push-bitbucket-cloud.json", eventHeader: "X-Event-Key", event: "repo:push",
		deliveryHeader: "X-Request-UUID", sign: hmacSigned("X-Hub-Signature"),
		owner: "algo-workspace", repo: "sentiment-analysis", commit: "709d658dc5b6d6afcd46049c2f332ee3f515a67d", actor: "emma",
		pushedAt:    time.Date(2026, 11, 20, 14, 3, 11, 0, time.UTC),
		otherBranch: func(m map[string]any) { obj(bitbucketCloudChange(m), "new")["name"] = "dev" },
		tag:         func(m map[string]any) { n := obj(bitbucketCloudChange(m), "new"); n["type"], n["name"] = "tag", "v1.0" },
		deleteBranch: func(m map[string]any) {
			ch := bitbucketCloudChange(m)
			ch["new"], ch["closed"] = nil, true
		},
		otherRepo: func(m map[string]any) { obj(m, "repository")["full_name"] = "algo-workspace/pushed-not-created" },
	},
}

// body is the fixture, changed by each of change.
func (hp hostPush) body(t *testing.T, change ...func(map[string]any)) []byte {
	t.Helper()
	raw, err := os.ReadFile("testdata/" + hp.fixture)
	if err != nil {
		t.Fatal(err)
	}
	if len(change) == 0 {
		return raw
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	for _, c := range change {
		c(m)
	}
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// deliver sends body as the provider does, signed under secret ("" unsigned), and returns the
// status and answer.
func (hp hostPush) deliver(t *testing.T, app *testApp, id int64, event, deliveryID, secret string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, app.srv.URL+"/hooks/scm/"+strconv.FormatInt(id, 10), bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(hp.eventHeader, event)
	req.Header.Set(hp.deliveryHeader, deliveryID)
	if secret != "" {
		req.Header.Set(hp.sign(body, secret))
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	answer, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(answer)
}

// newProviderHookApp is an app with a configuration of hp's provider, whose webhook secret is
// hookSecret and whose registered repository is the fixture's.
func newProviderHookApp(t *testing.T, hp hostPush) (*testApp, *client, int64) {
	t.Helper()
	app := newTestAppWith(t, Config{BaseURL: hookBaseURL})
	c := app.adminClient()
	id := addConfig(t, c, validForm(hp.provider))
	setHookSecret(t, app, id, hookSecret)
	registerRepo(t, app, id, hp.owner, hp.repo)
	return app, c, id
}

func TestProviderPushes(t *testing.T) {
	for _, hp := range hostPushes {
		t.Run(hp.provider, func(t *testing.T) {
			app, c, id := newProviderHookApp(t, hp)
			want := func(event, deliveryID string, body []byte, status int, result, reason string) {
				t.Helper()
				got, answer := hp.deliver(t, app, id, event, deliveryID, hookSecret, body)
				if got != status {
					t.Fatalf("delivery %s: %d %q, want %d", deliveryID, got, answer, status)
				}
				d := deliveriesOf(t, app, id)[0]
				if d.RequestID != deliveryID || d.Result != result || d.Status != status || d.Event != event || !strings.Contains(d.Reason, reason) {
					t.Errorf("delivery %s recorded as %+v, want %s (%d) saying %q", deliveryID, d, result, status, reason)
				}
			}

			// The documented push to the default branch: one build.
			want(hp.event, "d-1", hp.body(t), http.StatusAccepted, store.DeliveryAccepted, hp.owner+"/"+hp.repo)
			bs := buildsOf(t, app, id)
			if len(bs) != 1 {
				t.Fatalf("%d builds after one push, want 1", len(bs))
			}
			if b := bs[0]; b.ProjectKey != hp.owner || b.Repository != hp.repo || b.Commit != hp.commit || b.Actor != hp.actor ||
				!b.PushedAt.Equal(hp.pushedAt) || b.RequestID != "d-1" || b.Trigger != store.TriggerPush {
				t.Errorf("build %+v\nwant %s/%s at %s by %s, pushed %s", b, hp.owner, hp.repo, hp.commit, hp.actor, hp.pushedAt)
			}

			// The host delivers it again: nothing new.
			want(hp.event, "d-1", hp.body(t), http.StatusAccepted, store.DeliveryDuplicate, "already built")
			// Pushes that start no build.
			want(hp.event, "d-branch", hp.body(t, hp.otherBranch), http.StatusAccepted, store.DeliveryIgnored, "dev")
			want(hp.event, "d-tag", hp.body(t, hp.tag), http.StatusAccepted, store.DeliveryIgnored, "v1.0")
			want(hp.event, "d-delete", hp.body(t, hp.deleteBranch), http.StatusAccepted, store.DeliveryIgnored, "deleted")
			want(hp.event, "d-unregistered", hp.body(t, hp.otherRepo), http.StatusAccepted, store.DeliveryIgnored,
				hp.owner+"/pushed-not-created is not an algorithm repository")
			want("issues", "d-other-event", []byte(`{"action":"opened"}`), http.StatusAccepted, store.DeliveryIgnored, "starts no build")
			want(hp.event, "d-malformed", []byte(`{"ref": `), http.StatusBadRequest, store.DeliveryRefused, "malformed JSON")
			want(hp.event, "d-not-a-commit", bytes.ReplaceAll(hp.body(t), []byte(hp.commit), []byte("not-a-hash")), http.StatusBadRequest,
				store.DeliveryRefused, `new head "not-a-hash" is not a commit id`)
			if n := len(buildsOf(t, app, id)); n != 1 {
				t.Errorf("%d builds, want still 1", n)
			}
			if n := repoCount(t, app, id); n != 1 {
				t.Errorf("%d repositories after pushes, want the registered 1", n)
			}

			// Refused signatures: 401, counted, not recorded.
			before := len(deliveriesOf(t, app, id))
			body := hp.body(t)
			for i, secret := range []string{"", "not-the-secret", hookSecret[:len(hookSecret)-1]} {
				if got, answer := hp.deliver(t, app, id, hp.event, fmt.Sprint("d-bad-", i), secret, body); got != http.StatusUnauthorized {
					t.Errorf("signed with %q: %d %q, want 401", secret, got, answer)
				}
			}
			if n := len(deliveriesOf(t, app, id)); n != before {
				t.Errorf("refused deliveries were recorded: %d, want %d", n, before)
			}
			if f := hookStatus(t, app, id).Failures; f != 3 {
				t.Errorf("%d refused signatures counted, want 3", f)
			}

			// The details page lists every delivery, and the build.
			page := c.get(scmPath(id, "")).wantStatus(http.StatusOK)
			if rows := page.doc.Find("table#webhook-deliveries tbody tr"); rows.Length() != before {
				t.Errorf("deliveries table has %d rows, want %d: %s", rows.Length(), before, page.text("#webhook-activity"))
			}
			if got := page.text("#webhook-deliveries"); !strings.Contains(got, hp.event) || !strings.Contains(got, "not an algorithm repository") {
				t.Errorf("deliveries table does not show the events and reasons: %s", got)
			}
			row := page.doc.Find("table#builds tbody tr")
			if row.Length() != 1 || row.Find("code").AttrOr("title", "") != hp.commit || !strings.Contains(row.Text(), hp.owner+"/"+hp.repo) {
				t.Errorf("builds table: %s", page.text("table#builds"))
			}
			if got := page.text("#webhook-failures"); got != "3" {
				t.Errorf("#webhook-failures = %q, want 3", got)
			}

			// Disabled: 409, recorded, no build.
			act(c, id, "disable", "/admin/scm").wantStatus(http.StatusSeeOther)
			want(hp.event, "d-disabled", hp.body(t, hp.otherRepo), http.StatusConflict, store.DeliveryRefused, "disabled")
		})
	}
}

// GitHub's ping, sent when a webhook is created, answers 200 and records nothing; GitLab and
// Bitbucket Cloud name no ping, so an unsigned delivery without an event is refused.
func TestProviderPings(t *testing.T) {
	for _, hp := range hostPushes {
		t.Run(hp.provider, func(t *testing.T) {
			app, _, id := newProviderHookApp(t, hp)
			body := []byte(`{"zen": "Keep it logically awesome.", "hook_id": 1}`)
			status, answer := hp.deliver(t, app, id, "ping", "ping-1", "", body)
			wantStatus := http.StatusUnauthorized
			if strings.HasPrefix(hp.provider, "github") {
				wantStatus = http.StatusOK
			}
			if status != wantStatus {
				t.Errorf("unsigned ping: %d %q, want %d", status, answer, wantStatus)
			}
			if ds := deliveriesOf(t, app, id); len(ds) != 0 {
				t.Errorf("a ping was recorded: %+v", ds)
			}
			// An empty event header is no ping either.
			if status, _ := hp.deliver(t, app, id, "", "empty-1", "", body); status != http.StatusUnauthorized {
				t.Errorf("unsigned delivery without an event: %d, want 401", status)
			}
		})
	}
}

// GitLab sends the secret itself in X-Gitlab-Token: only the whole secret, exactly, is accepted.
func TestGitLabTokenComparedWhole(t *testing.T) {
	hp := hostPushes[2]
	app, _, id := newProviderHookApp(t, hp)
	body := hp.body(t)
	for _, token := range []string{hookSecret + "x", hookSecret[1:], strings.ToUpper(hookSecret), "sha256=" + hookSecret} {
		req, _ := http.NewRequest(http.MethodPost, app.srv.URL+"/hooks/scm/"+strconv.FormatInt(id, 10), bytes.NewReader(body))
		req.Header.Set("X-Gitlab-Event", "Push Hook")
		req.Header.Set("X-Gitlab-Token", token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusUnauthorized {
			t.Errorf("X-Gitlab-Token %q: %d, want 401", token, res.StatusCode)
		}
	}
	if bs := buildsOf(t, app, id); len(bs) != 0 {
		t.Errorf("builds from wrong tokens: %+v", bs)
	}
}

// Bitbucket Cloud's main branch is the one the payload names as mainbranch; without it, main
// or master.
func TestBitbucketCloudMainBranch(t *testing.T) {
	hp := hostPushes[3]
	app, _, id := newProviderHookApp(t, hp)
	withMain := func(name string) func(map[string]any) {
		return func(m map[string]any) {
			obj(m, "repository")["mainbranch"] = map[string]any{"type": "branch", "name": name}
		}
	}
	onBranch := func(name, hash string) func(map[string]any) {
		return func(m map[string]any) {
			n := obj(bitbucketCloudChange(m), "new")
			n["name"] = name
			obj(n, "target")["hash"] = hash
		}
	}
	for i, tc := range []struct {
		changes []func(map[string]any)
		builds  bool
	}{
		{[]func(map[string]any){onBranch("master", strings.Repeat("1", 40))}, true},
		{[]func(map[string]any){onBranch("trunk", strings.Repeat("2", 40))}, false},
		{[]func(map[string]any){withMain("trunk"), onBranch("trunk", strings.Repeat("3", 40))}, true},
		{[]func(map[string]any){withMain("trunk"), onBranch("main", strings.Repeat("4", 40))}, false},
	} {
		before := len(buildsOf(t, app, id))
		status, answer := hp.deliver(t, app, id, hp.event, fmt.Sprint("main-", i), hookSecret, hp.body(t, tc.changes...))
		if status != http.StatusAccepted {
			t.Fatalf("case %d: %d %q", i, status, answer)
		}
		if built := len(buildsOf(t, app, id)) > before; built != tc.builds {
			t.Errorf("case %d: built %v, want %v (%s)", i, built, tc.builds, deliveriesOf(t, app, id)[0].Reason)
		}
	}
}
