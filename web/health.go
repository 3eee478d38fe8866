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

// unavailable says whether err means that the database cannot serve requests now — it
// cannot be written (naming the cause), or cannot be reached — what the problem is, and what
// to do about it.
func unavailable(err error) (problem, advice string, ok bool) {
	if cause, ok := store.Unwritable(err); ok {
		return "The database cannot be written: " + cause, "Ask the operator to free disk space or fix the database file, then try again.", true
	}
	if store.Unreachable(err) {
		return "The database is unreachable", "scmadmin keeps trying to reach it by itself: try again in a moment.", true
	}
	return "", "", false
}

// unavailablePage answers a request that failed because the database is unavailable: 503
// saying why. It leaves the session alone, so that messages left for the next page are not
// taken by this one.
func (s *server) unavailablePage(c echo.Context, problem, advice string) error {
	p := views.Page{Title: "Service unavailable", Alert: problem + ". Nothing was changed. " + advice}
	if u, ok := currentUser(c); ok {
		p.User = u.Username
	}
	c.Response().Header().Set("Retry-After", "30")
	return render(c, http.StatusServiceUnavailable, views.ErrorPage(p, p.Title), views.Messages(p, true))
}

// answerUnavailable answers a request that failed because the database is unavailable (503
// saying why: a page, or the API's error envelope), and reports whether err was that.
func (s *server) answerUnavailable(c echo.Context, err error) bool {
	problem, advice, ok := unavailable(err)
	if !ok {
		return false
	}
	s.log.Error("database unavailable", "request_id", c.Response().Header().Get(echo.HeaderXRequestID),
		"route", c.Path(), "problem", problem, "err", err)
	if strings.HasPrefix(c.Request().URL.Path, "/v1/") {
		c.Response().Header().Set("Retry-After", "30")
		s.answerAPIError(c, &apiError{Status: http.StatusServiceUnavailable, Code: http.StatusServiceUnavailable,
			Message: strings.ToLower(problem[:1]) + problem[1:]})
	} else {
		s.unavailablePage(c, problem, advice)
	}
	return true
}
