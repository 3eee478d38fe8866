// Package static embeds the stylesheet, htmx (a pinned copy, 2.0.8) and the small script that
// hands htmx the CSRF token, and serves them under names that carry a hash of their content:
// a browser keeps each for a year and fetches a new version as soon as its name changes.
package static

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
)

//go:embed css js
var files embed.FS

// asset is one embedded file, ready to serve.
type asset struct {
	body        []byte
	contentType string
	etag        string // of body; the gzipped body's adds "-gzip"
	// gzipped is body compressed, the first time a client asks for it: compressing every
	// file at start-up took 9 ms and 3 MB.
	gzipped func() []byte
}

// contentTypes are those of the kinds of file embedded (mime.TypeByExtension would read the
// system's tables at start-up for them).
var contentTypes = map[string]string{".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}

var (
	// byPath holds every asset twice: under its plain name (css/app.css) and under its
	// fingerprinted one (css/app.0123abcd.css).
	byPath = map[string]*asset{}
	// links maps a plain name to its fingerprinted address (/static/css/app.0123abcd.css).
	links = map[string]string{}
)

func init() {
	err := fs.WalkDir(files, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := files.ReadFile(name)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		hash := hex.EncodeToString(sum[:4])
		ext := path.Ext(name)
		if contentTypes[ext] == "" {
			return fmt.Errorf("%s: add its content type to contentTypes", name)
		}
		a := &asset{body: body, contentType: contentTypes[ext], etag: `"` + hash + `"`,
			gzipped: sync.OnceValue(func() []byte {
				var gz bytes.Buffer
				zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
				zw.Write(body)
				zw.Close()
				return gz.Bytes()
			})}
		fingerprinted := strings.TrimSuffix(name, ext) + "." + hash + ext
		byPath[name], byPath[fingerprinted] = a, a
		links[name] = "/static/" + fingerprinted
		return nil
	})
	if err != nil {
		panic("static: " + err.Error()) // the files are embedded: this cannot fail at run time
	}
}

// Path returns the address to link the embedded file name (such as "css/app.css") by.
func Path(name string) string {
	link, ok := links[name]
	if !ok {
		panic("static: no embedded file " + name) // a typo in a template, caught by any test that renders it
	}
	return link
}

// Handler serves the files below /static/: under their fingerprinted names to be kept for a
// year, under their plain names to be revalidated each time (by ETag), gzipped for clients
// that accept it.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, "/static/")
		a, ok := byPath[name]
		if !ok {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", a.contentType)
		h.Set("Vary", "Accept-Encoding")
		if _, plain := links[name]; plain {
			h.Set("Cache-Control", "no-cache")
		} else {
			h.Set("Cache-Control", "public, max-age=31536000, immutable")
		}
		body, etag := a.body, a.etag
		if acceptsGzip(r) {
			body, etag = a.gzipped(), strings.TrimSuffix(a.etag, `"`)+`-gzip"`
			// Whole, with its length: ServeContent leaves Content-Length out of encoded bodies,
			// and a range of compressed bytes is of no use to a browser.
			r.Header.Del("Range")
			h.Set("Content-Encoding", "gzip")
			h.Set("Content-Length", strconv.Itoa(len(body)))
		}
		h.Set("ETag", etag)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
	})
}

// acceptsGzip reports whether the request's Accept-Encoding takes gzip (with a q above 0).
func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		coding, params, _ := strings.Cut(part, ";")
		if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			continue
		}
		name, value, _ := strings.Cut(params, "=")
		if !strings.EqualFold(strings.TrimSpace(name), "q") {
			return true
		}
		q, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		return err == nil && q > 0
	}
	return false
}
