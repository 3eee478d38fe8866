package web

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/scmadmin/scmadmin/store"
)

// Races with a delete (issue 13, item 8): what was deleted meanwhile is 404, never 500.

// postAs sends form with the client's CSRF token to path and returns the status and body.
func postAs(c *client, token, path string, form url.Values) (int, string) {
	f := url.Values{"_csrf": {token}}
	for k, v := range form {
		f[k] = v
	}
	req, _ := http.NewRequest(http.MethodPost, c.app.srv.URL+path, strings.NewReader(f.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := c.http.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// disabledConfig seeds a disabled Bitbucket Server configuration on host: one that can be deleted.
func disabledConfig(t *testing.T, app *testApp, host string) int64 {
	t.Helper()
	cfg := seedConfig(t, app, store.SCMConfig{Provider: "bitbucket_server", WebsiteURL: "https://" + host,
		APIURL: "https://" + host + "/rest/api/1.0", SSHURL: "ssh://git@" + host + ":7999", ProjectKey: "ALGO"},
		map[string]string{"access_token": "t"})
	if err := app.st.SetEnabled(context.Background(), cfg.ID, false, store.Actor{Username: "test"}); err != nil {
		t.Fatal(err)
	}
	return cfg.ID
}

func TestConcurrentDeletesOfOne(t *testing.T) {
	app := newTestApp(t)
	c := app.adminClient()
	token := c.get("/admin/scm").csrf()
	for round := range 20 {
		id := disabledConfig(t, app, fmt.Sprintf("bb%d.example.com", round))
		start := make(chan struct{})
		codes := make(chan int, 8)
		for range 8 {
			go func() {
				<-start
				code, _ := postAs(c, token, scmPath(id, "delete"), nil)
				codes <- code
			}()
		}
		close(start)
		got := map[int]int{}
		for range 8 {
			got[<-codes]++
		}
		if got[http.StatusSeeOther] != 1 || got[http.StatusNotFound] != 7 {
			t.Fatalf("8 concurrent deletes of one configuration answered %v, want one 303 and seven 404", got)
		}
	}
}

func TestActionsRacingADeleteAreNotFound(t *testing.T) {
	app := newTestApp(t)
	c := app.adminClient()
	token := c.get("/admin/scm").csrf()
	actions := []struct {
		path string
		form url.Values
	}{
		{"enable", nil}, {"disable", nil}, {"default", nil}, {"webhook/rotate", nil},
		{"", url.Values{"name": {"x"}, "website_url": {"https://bb.example.com"}, "api_url": {"https://bb.example.com/rest/api/1.0"},
			"ssh_url": {"ssh://git@bb.example.com:7999"}}},
	}
	got := map[int]int{}
	var mu sync.Mutex
	for round := range 10 {
		id := disabledConfig(t, app, fmt.Sprintf("bb%d.example.com", round))
		var wg sync.WaitGroup
		for _, a := range append(actions, struct {
			path string
			form url.Values
		}{"delete", nil}) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				code, _ := postAs(c, token, scmPath(id, a.path), a.form)
				mu.Lock()
				got[code]++
				mu.Unlock()
			}()
		}
		wg.Wait()
	}
	if got[http.StatusInternalServerError] > 0 || got[0] > 0 {
		t.Errorf("actions racing a delete answered %v: no 500 wanted", got)
	}
}

// TestTestOfADeletedConfiguration: a connection test whose configuration is deleted while
// it runs says so (404), and keeps nothing.
func TestTestOfADeletedConfiguration(t *testing.T) {
	app := newTestApp(t)
	c := app.adminClient()
	token := c.get("/admin/scm").csrf()
	// A host that hangs up once the configuration is deleted.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	reached, deleted := make(chan struct{}, 1), make(chan struct{})
	hangUp := sync.OnceFunc(func() { close(deleted) })
	defer hangUp()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			select {
			case reached <- struct{}{}:
			default:
			}
			go func() { <-deleted; conn.Close() }()
		}
	}()
	id := disabledConfig(t, app, ln.Addr().String())
	answer := make(chan string, 1)
	go func() {
		code, body := postAs(c, token, scmPath(id, "test"), nil)
		answer <- fmt.Sprint(code, " ", body)
	}()
	select {
	case <-reached:
	case got := <-answer:
		t.Fatalf("the test answered before it reached the host: %.300s", got)
	}
	if code, _ := postAs(c, token, scmPath(id, "delete"), nil); code != http.StatusSeeOther {
		t.Fatalf("delete during the test: %d", code)
	}
	hangUp()
	if got := <-answer; !strings.HasPrefix(got, "404 ") || !strings.Contains(got, "deleted while its connection was tested") {
		t.Errorf("the test of a configuration deleted meanwhile answered %.300s", got)
	}
}
