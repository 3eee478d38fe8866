package web

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/scmadmin/scmadmin/store"
	"github.com/scmadmin/scmadmin/views"
)

// heartbeatEvery is how often at most /healthz writes to prove the write path.
const heartbeatEvery = time.Second

// heartbeat remembers the last proof that the database can be written.
type heartbeat struct {
	mu  sync.Mutex
	at  time.Time
	err error
}

// check returns the last heartbeat's error, writing a new one if the last is older than
// heartbeatEvery.
func (h *heartbeat) check(ctx context.Context, st *store.Store) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if time.Since(h.at) >= heartbeatEvery {
		h.err = st.Heartbeat(ctx)
		h.at = time.Now()
	}
	return h.err
}

// unwritablePage answers a request that failed because the database cannot be written: 503
// naming the cause. It leaves the session alone, so that messages left for the next page are
// not taken by this one.
func (s *server) unwritablePage(c echo.Context, cause string) error {
	p := views.Page{Title: "Service unavailable",
		Alert: "The database cannot be written: " + cause + ". Nothing was changed. Ask the operator to free disk space or fix the database file, then try again."}
	if u, ok := currentUser(c); ok {
		p.User = u.Username
	}
	c.Response().Header().Set("Retry-After", "30")
	return render(c, http.StatusServiceUnavailable, views.ErrorPage(p, p.Title), views.Messages(p, true))
}

// answerUnwritable answers a request that failed because the database cannot be written (503
// naming the cause: a page, or the API's error envelope), and reports whether err was that.
func (s *server) answerUnwritable(c echo.Context, err error) bool {
	cause, ok := store.Unwritable(err)
	if !ok {
		return false
	}
	s.log.Error("database cannot be written", "request_id", c.Response().Header().Get(echo.HeaderXRequestID),
		"route", c.Path(), "cause", cause, "err", err)
	if strings.HasPrefix(c.Request().URL.Path, "/v1/") {
		c.Response().Header().Set("Retry-After", "30")
		s.answerAPIError(c, &apiError{Status: http.StatusServiceUnavailable, Code: http.StatusServiceUnavailable,
			Message: "the database cannot be written: " + cause})
	} else {
		s.unwritablePage(c, cause)
	}
	return true
}
