package static

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"
)

func get(t *testing.T, path string, header http.Header) *http.Response {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	Handler().ServeHTTP(rec, req)
	return rec.Result()
}

func TestFingerprintedFilesAreKeptForAYear(t *testing.T) {
	for _, name := range []string{"css/app.css", "js/htmx.min.js", "js/app.js"} {
		want, err := files.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		p := Path(name)
		if !regexp.MustCompile(`^/static/(css|js)/[a-z.]+\.[0-9a-f]{8}\.(css|js)$`).MatchString(p) {
			t.Fatalf("Path(%q) = %q, want the name with a content hash", name, p)
		}
		res := get(t, p, nil)
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusOK || !bytes.Equal(body, want) {
			t.Fatalf("GET %s: %d, %d bytes; want 200 and the file's %d", p, res.StatusCode, len(body), len(want))
		}
		if cc := res.Header.Get("Cache-Control"); cc != "public, max-age=31536000, immutable" {
			t.Errorf("GET %s: Cache-Control %q", p, cc)
		}
		if ct := res.Header.Get("Content-Type"); !regexp.MustCompile(`^text/(css|javascript); charset=utf-8$`).MatchString(ct) {
			t.Errorf("GET %s: Content-Type %q", p, ct)
		}

		// gzip for those who take it, and the same bytes once unpacked.
		res = get(t, p, http.Header{"Accept-Encoding": {"br, gzip"}})
		if res.Header.Get("Content-Encoding") != "gzip" || res.Header.Get("Vary") != "Accept-Encoding" {
			t.Fatalf("GET %s accepting gzip: Content-Encoding %q, Vary %q", p, res.Header.Get("Content-Encoding"), res.Header.Get("Vary"))
		}
		zr, err := gzip.NewReader(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		unpacked, _ := io.ReadAll(zr)
		if !bytes.Equal(unpacked, want) {
			t.Errorf("GET %s gzipped does not unpack to the file", p)
		}
		if cl := res.Header.Get("Content-Length"); cl == "" || cl == "0" {
			t.Errorf("GET %s gzipped: Content-Length %q", p, cl)
		}
		for _, ae := range []string{"gzip;q=0", "gzip; Q=0.0", "identity"} {
			if res := get(t, p, http.Header{"Accept-Encoding": {ae}}); res.Header.Get("Content-Encoding") != "" {
				t.Errorf("GET %s with Accept-Encoding %q was gzipped", p, ae)
			}
		}
		// A range of compressed bytes is of no use: the whole file comes.
		if res := get(t, p, http.Header{"Accept-Encoding": {"gzip"}, "Range": {"bytes=0-9"}}); res.StatusCode != http.StatusOK {
			t.Errorf("GET %s gzipped with a Range: %d, want 200", p, res.StatusCode)
		}

		// A browser that has it asks again only to revalidate: 304, no body.
		etag := get(t, p, nil).Header.Get("ETag")
		if res := get(t, p, http.Header{"If-None-Match": {etag}}); etag == "" || res.StatusCode != http.StatusNotModified {
			t.Errorf("GET %s with If-None-Match %q: %d, want 304", p, etag, res.StatusCode)
		}
	}
}

func TestPlainNamesAreRevalidated(t *testing.T) {
	res := get(t, "/static/css/app.css", nil)
	if res.StatusCode != http.StatusOK || res.Header.Get("Cache-Control") != "no-cache" || res.Header.Get("ETag") == "" {
		t.Errorf("GET /static/css/app.css: %d, Cache-Control %q, ETag %q; want 200, no-cache and an ETag",
			res.StatusCode, res.Header.Get("Cache-Control"), res.Header.Get("ETag"))
	}
	for _, p := range []string{"/static/css/app.00000000.css", "/static/css/", "/static/static.go", "/static/../go.mod"} {
		if res := get(t, p, nil); res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, res.StatusCode)
		}
	}
}
