package web

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/scmadmin/scmadmin/store"
)

// benchApp is a test app with n more configurations and a signed-in admin's cookies, whose
// pages the benchmarks render through the whole middleware stack, in process.
func benchApp(b *testing.B, n int) (*testApp, []*http.Cookie) {
	b.Helper()
	app := newTestApp(b)
	ctx := context.Background()
	for i := range n {
		cfg := store.SCMConfig{Provider: "bitbucket_server", WebsiteURL: fmt.Sprintf("https://bb%d.example.com", i),
			APIURL: "https://bb.example.com/rest/api/1.0", SSHURL: "ssh://git@bb.example.com:7999", ProjectKey: "ALGO",
			UniqueKey: fmt.Sprintf("bitbucket_server https://bb%d.example.com ALGO", i)}
		if _, err := app.st.CreateSCMConfig(ctx, cfg, map[string]string{"access_token": "token"}, store.Actor{Username: "bench"}); err != nil {
			b.Fatal(err)
		}
	}
	c := app.adminClient()
	app.s.log = slog.New(slog.DiscardHandler) // a benchmark's million log lines would only grow a buffer
	u, _ := url.Parse(app.srv.URL)
	return app, c.http.Jar.Cookies(u)
}

// discardWriter is a ResponseWriter that keeps only the status and the size, as a network
// connection costs the server no copy of the page.
type discardWriter struct {
	header http.Header
	code   int
	size   int
}

func (w *discardWriter) Header() http.Header { return w.header }

func (w *discardWriter) WriteHeader(code int) { w.code = code }

func (w *discardWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	w.size += len(p)
	return len(p), nil
}

// benchGet measures GET path; before, if not nil, runs before each request.
func benchGet(b *testing.B, h http.Handler, cookies []*http.Cookie, path string, want int, before func()) {
	b.ReportAllocs()
	size := 0
	for b.Loop() {
		if before != nil {
			before()
		}
		req := httptest.NewRequest(http.MethodGet, path, nil)
		for _, ck := range cookies {
			req.AddCookie(ck)
		}
		w := &discardWriter{header: http.Header{}}
		h.ServeHTTP(w, req)
		if w.code != want {
			b.Fatalf("GET %s: %d", path, w.code)
		}
		size = w.size
	}
	b.ReportMetric(float64(size), "B/response")
}

// BenchmarkPages measures the list, the Add form and the details page at 100 and at 100,000
// configurations against /healthz, the trivial baseline behind the same middleware, in the
// same run: compare each ns/op to its Baseline, and the two sizes with each other.
func BenchmarkPages(b *testing.B) {
	for _, n := range []int{100, 100_000} {
		b.Run(fmt.Sprintf("configs=%d", n), func(b *testing.B) {
			app, cookies := benchApp(b, n)
			h := app.srv.Config.Handler
			get := func(path string) func(*testing.B) {
				return func(b *testing.B) { benchGet(b, h, cookies, path, http.StatusOK, nil) }
			}
			b.Run("Baseline_healthz", get("/healthz"))
			b.Run("List", get("/admin/scm"))
			// As after every write: the table is queried and rendered again.
			b.Run("ListUncached", func(b *testing.B) {
				benchGet(b, h, cookies, "/admin/scm", http.StatusOK, func() {
					app.s.lists.mu.Lock()
					clear(app.s.lists.entries)
					app.s.lists.mu.Unlock()
				})
			})
			b.Run("ListByURL", get("/admin/scm?sort=website_url&dir=desc"))
			b.Run("ListByProvider", get("/admin/scm?sort=provider"))
			b.Run("ListSearch", get("/admin/scm?q=bb99"))
			b.Run("ListLastPage", get(fmt.Sprintf("/admin/scm?page=%d", n/25)))
			b.Run("AddForm", get("/admin/scm/new?provider=bitbucket_server"))
			b.Run("Details", get("/admin/scm/2"))
		})
	}
}
