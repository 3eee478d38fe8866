package web

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/PuerkitoBio/goquery"
)

// TestHundredConcurrentDuplicateCreates: 100 creates of the same configuration at once, from
// one signed-in admin, make exactly one row; the 99 others are told, beside the project key,
// which configuration already holds it. None is a 500.
func TestHundredConcurrentDuplicateCreates(t *testing.T) {
	app := newTestApp(t)
	c := app.adminClient()
	token := c.get("/admin/scm/new").csrf()
	form := validForm("bitbucket_server")
	form.Set("name", "Algorithms")
	form.Set("_csrf", token)
	body := form.Encode()

	const n = 100
	type result struct {
		status int
		msg    string
		err    error
	}
	results := make([]result, n)
	transport := &http.Transport{MaxConnsPerHost: 0, MaxIdleConnsPerHost: n}
	defer transport.CloseIdleConnections()
	hc := &http.Client{Jar: c.http.Jar, Transport: transport, CheckRedirect: c.http.CheckRedirect}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			req, _ := http.NewRequest(http.MethodPost, app.srv.URL+"/admin/scm", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			res, err := hc.Do(req)
			if err != nil {
				results[i].err = err
				return
			}
			defer res.Body.Close()
			raw, _ := io.ReadAll(res.Body)
			results[i].status = res.StatusCode
			if doc, err := goquery.NewDocumentFromReader(strings.NewReader(string(raw))); err == nil {
				results[i].msg = strings.Join(strings.Fields(doc.Find("#project_key-error").Text()), " ")
			}
		}()
	}
	close(start)
	wg.Wait()

	codes := map[int]int{}
	for i, r := range results {
		if r.err != nil {
			t.Errorf("request %d: %v", i, r.err)
			continue
		}
		codes[r.status]++
		if r.status == http.StatusUnprocessableEntity {
			for _, want := range []string{"ALGO", "Algorithms", "configuration 2"} {
				if !strings.Contains(r.msg, want) {
					t.Errorf("request %d: #project_key-error %q lacks %q", i, r.msg, want)
					break
				}
			}
		}
	}
	if codes[http.StatusSeeOther] != 1 || codes[http.StatusUnprocessableEntity] != n-1 {
		t.Errorf("status codes %v, want one 303 and %d 422", codes, n-1)
	}
	if codes[http.StatusInternalServerError] > 0 {
		t.Errorf("%d answers were 500; log:\n%s", codes[http.StatusInternalServerError], app.logs.String())
	}
	assertConfigCount(t, app, 2)
	if cfg := mustConfig(t, app, 2); cfg.Name != "Algorithms" || cfg.ProjectKey != "ALGO" {
		t.Errorf("stored %+v", cfg)
	}
	if s := openSecrets(t, app, 2); s["access_token"] != canaryToken {
		t.Errorf("stored token %q", s["access_token"])
	}
	// The list shows one row for it.
	list := c.get("/admin/scm").wantStatus(http.StatusOK)
	if got := list.doc.Find(`table#scm-configs tr[data-scm-id]`).Length(); got != 2 {
		t.Errorf("list has %d rows, want 2", got)
	}
}
