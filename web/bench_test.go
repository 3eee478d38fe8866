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
func benchApp(b *testing.B, n int) (http.Handler, []*http.Cookie) {
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
	return app.srv.Config.Handler, c.http.Jar.Cookies(u)
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

func benchGet(b *testing.B, h http.Handler, cookies []*http.Cookie, path string, want int) {
	b.ReportAllocs()
	size := 0
	for b.Loop() {
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
			h, cookies := benchApp(b, n)
			b.Run("Baseline_healthz", func(b *testing.B) { benchGet(b, h, cookies, "/healthz", http.StatusOK) })
			b.Run("List", func(b *testing.B) { benchGet(b, h, cookies, "/admin/scm", http.StatusOK) })
			b.Run("ListByURL", func(b *testing.B) { benchGet(b, h, cookies, "/admin/scm?sort=website_url&dir=desc", http.StatusOK) })
			b.Run("ListByProvider", func(b *testing.B) { benchGet(b, h, cookies, "/admin/scm?sort=provider", http.StatusOK) })
			b.Run("ListSearch", func(b *testing.B) { benchGet(b, h, cookies, "/admin/scm?q=bb99", http.StatusOK) })
			b.Run("ListLastPage", func(b *testing.B) { benchGet(b, h, cookies, fmt.Sprintf("/admin/scm?page=%d", n/25), http.StatusOK) })
			b.Run("AddForm", func(b *testing.B) { benchGet(b, h, cookies, "/admin/scm/new?provider=bitbucket_server", http.StatusOK) })
			b.Run("Details", func(b *testing.B) { benchGet(b, h, cookies, "/admin/scm/2", http.StatusOK) })
		})
	}
}
