package web

import (
	"bytes"
	"net/http"
	"strconv"
	"sync"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/scmadmin/scmadmin/views"
)

// isHTMX reports whether htmx made the request to swap part of the page (and not to restore
// a whole page from history).
func isHTMX(c echo.Context) bool {
	h := c.Request().Header
	return h.Get("HX-Request") == "true" && h.Get("HX-History-Restore-Request") != "true"
}

// buffers are reused between renders: a list page is tens of kilobytes, grown anew each
// time otherwise.
var buffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledBuffer keeps an unusually large page's buffer out of the pool.
const maxPooledBuffer = 1 << 20

// render writes page with status, or only fragment when htmx asked for part of the page and
// there is one. It renders into a buffer first so that a failure is a clean 500, never half
// a page.
func render(c echo.Context, status int, page, fragment templ.Component) error {
	comp := page
	if fragment != nil && isHTMX(c) {
		comp = fragment
	}
	buf := buffers.Get().(*bytes.Buffer)
	buf.Reset()
	defer func() {
		if buf.Cap() <= maxPooledBuffer {
			buffers.Put(buf)
		}
	}()
	if err := comp.Render(views.WithCSRF(c.Request().Context(), csrfToken(c)), buf); err != nil {
		return err
	}
	h := c.Response().Header()
	h.Add("Vary", "HX-Request")
	// With its length known the page goes out in one piece, not in chunks each side has to frame.
	h.Set(echo.HeaderContentLength, strconv.Itoa(buf.Len()))
	return c.HTMLBlob(status, buf.Bytes())
}

// page returns what the layout needs for the current request: the CSRF token, the signed-in
// user, and the status message left by the request that redirected here.
func (s *server) page(c echo.Context, title string) views.Page {
	p := views.Page{Title: title}
	if u, ok := currentUser(c); ok {
		p.User = u.Username
	}
	p.Status = s.popStatus(c)
	return p
}

// errorPage renders a page-level refusal or failure with status.
func (s *server) errorPage(c echo.Context, status int, heading, message string) error {
	p := s.page(c, heading)
	p.Alert = message
	return render(c, status, views.ErrorPage(p, heading), views.Messages(p, true))
}

// notFound renders the 404 page for something that does not exist (or no longer does).
func (s *server) notFound(c echo.Context, what string) error {
	return s.errorPage(c, http.StatusNotFound, "Not found", what+" does not exist. It may have been deleted.")
}
