package web

import (
	"bytes"
	"context"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/scmadmin/scmadmin/store"
	"github.com/scmadmin/scmadmin/web/provider"
)

// Fuzz targets for what strangers and admins send: webhook deliveries (signed, so that the
// body gets past the signature check and reaches the parser) and the Add form. No input may
// make a 500 or a panic. Their seed corpora run as ordinary tests.

const fuzzHookSecret = "fuzz-webhook-secret"

// FuzzWebhookBody posts body, with event as X-Event-Key, to a Bitbucket Server configuration's
// webhook, validly signed.
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
	fuzzing := flag.Lookup("test.fuzz") != nil && flag.Lookup("test.fuzz").Value.String() != ""
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
	events := []string{"repo:refs_changed", "", "diagnostics:ping", "pr:opened", "repo:refs_changed\x00", strings.Repeat("e", 300)}
	for i, body := range seeds {
		f.Add(body, events[i%len(events)], "req-"+strconv.Itoa(i))
		f.Add(body, "repo:refs_changed", "")
	}

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
	handler := app.srv.Config.Handler
	path := "/hooks/scm/" + strconv.FormatInt(cfg.ID, 10)

	f.Fuzz(func(t *testing.T, body []byte, event, requestID string) {
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Event-Key", event)
		req.Header.Set("X-Request-Id", requestID)
		req.Header.Set("X-Hub-Signature", signHook(body, fuzzHookSecret))
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req) // a panic that escapes Recover fails the fuzz run
		switch rec.Code {
		case http.StatusOK, http.StatusAccepted, http.StatusBadRequest, http.StatusConflict, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("status %d for a signed delivery (event %q, %d-byte body): %s", rec.Code, event, len(body), truncate(rec.Body.String(), 300))
		}
		if len(body) > maxDelivery && rec.Code != http.StatusRequestEntityTooLarge {
			t.Errorf("a %d-byte body answered %d, want 413", len(body), rec.Code)
		}
	})
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
				sr.fields() // every decoded request maps to form fields
				continue
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
