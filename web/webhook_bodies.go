package web

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/scmadmin/scmadmin/store"
)

// A delivery's body is read before it takes one of the receiving places, within
// bodyTimeout (1 MiB must arrive at 100 KiB/s or more), and no address sends more than
// maxBodiesPerAddr bodies at once, nor all addresses more than maxBodies: a slow sender holds
// only its own connection, never a place a valid delivery needs.
const (
	bodyTimeout      = 10 * time.Second
	maxBodiesPerAddr = 4
	maxBodies        = 256
)

// bodyReaders counts the delivery bodies being read, by address.
type bodyReaders struct {
	mu     sync.Mutex
	byAddr map[string]int
	total  int
}

// enter takes a reader's place for addr, or reports that it has none.
func (b *bodyReaders) enter(addr string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.total >= maxBodies || b.byAddr[addr] >= maxBodiesPerAddr {
		return false
	}
	if b.byAddr == nil {
		b.byAddr = map[string]int{}
	}
	b.byAddr[addr]++
	b.total++
	return true
}

func (b *bodyReaders) leave(addr string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.total--
	if b.byAddr[addr]--; b.byAddr[addr] == 0 {
		delete(b.byAddr, addr)
	}
}

// unread is why a delivery's body was refused before its signature could be checked.
type unread struct {
	status int
	reason string
}

// readDelivery reads the request's body as the constants above allow.
func (s *server) readDelivery(c echo.Context) ([]byte, *unread) {
	r := c.Request()
	if r.ContentLength > maxDelivery {
		return nil, &unread{http.StatusRequestEntityTooLarge, "body over 1 MiB"}
	}
	addr := c.RealIP()
	if !s.bodies.enter(addr) {
		return nil, &unread{http.StatusTooManyRequests, "too many deliveries being sent from " + addr + " at once"}
	}
	defer s.bodies.leave(addr)
	rc := http.NewResponseController(c.Response())
	// Only a writer that is no connection (a test's recorder) cannot set a deadline.
	if err := rc.SetReadDeadline(time.Now().Add(s.bodyTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return nil, &unread{http.StatusInternalServerError, "the body's deadline could not be set"}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxDelivery+1))
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return nil, &unread{http.StatusRequestTimeout, "the body did not arrive within " + s.bodyTimeout.String()}
	case err != nil:
		return nil, &unread{http.StatusBadRequest, "the body could not be read"}
	case len(body) > maxDelivery:
		return nil, &unread{http.StatusRequestEntityTooLarge, "body over 1 MiB"}
	}
	return body, nil
}

// refuseUnread answers a delivery whose body was refused. Anyone can send one, so it is
// counted (the metric, the failure count on the details page) but never recorded among the
// deliveries, whose kept history only signed deliveries may take.
func (s *server) refuseUnread(c echo.Context, configID int64, u *unread) error {
	s.metrics.deliveries.WithLabelValues("unread").Inc()
	if u.status != http.StatusBadRequest {
		// The rest of the body is not read: the connection cannot serve another request.
		c.Response().Header().Set(echo.HeaderConnection, "close")
	}
	// A body that did not arrive in time ends the request's context: count it all the same.
	if err := s.st.CountWebhookFailure(context.WithoutCancel(c.Request().Context()), configID); err != nil {
		return err
	}
	return c.String(u.status, store.DeliveryRefused+": "+u.reason)
}
