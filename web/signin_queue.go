package web

import (
	"context"
	"errors"
	"runtime"
	"sync"

	"github.com/scmadmin/scmadmin/store"
)

// Sign-ins hash passwords (argon2id: tens of milliseconds of a core each), so a flood of
// them could keep real accounts out for minutes. Hashing takes one of hashPlaces; a sign-in
// waits for one in a bounded queue, real accounts ahead of made-up names, and leaves it
// when its request ends. A full queue is refused at once (503).
const (
	maxWaitingKnown   = 64
	maxWaitingUnknown = 16
)

var hashPlaces = runtime.NumCPU()

// errSignInsBusy refuses a sign-in when too many are already waiting for a place.
var errSignInsBusy = errors.New("web: too many sign-ins at once")

// hashQueue hands out the hashing places: first to the sign-ins of existing accounts, in
// order of arrival, then to those of unknown names.
type hashQueue struct {
	mu   sync.Mutex
	free int
	// waiting[0] are sign-ins of existing accounts, waiting[1] of unknown names.
	waiting [2][]chan struct{}
}

func newHashQueue(places int) *hashQueue { return &hashQueue{free: places} }

// acquire waits for a place for a sign-in (known: of an existing account) and returns the
// function that gives it back. It fails at once with errSignInsBusy when the sign-in's
// queue is full, and with ctx's error when the request ends first.
func (q *hashQueue) acquire(ctx context.Context, known bool) (release func(), err error) {
	class, limit := 0, maxWaitingKnown
	if !known {
		class, limit = 1, maxWaitingUnknown
	}
	q.mu.Lock()
	if q.free > 0 && len(q.waiting[0]) == 0 && (known || len(q.waiting[1]) == 0) {
		q.free--
		q.mu.Unlock()
		return q.release, nil
	}
	if len(q.waiting[class]) >= limit {
		q.mu.Unlock()
		return nil, errSignInsBusy
	}
	ready := make(chan struct{})
	q.waiting[class] = append(q.waiting[class], ready)
	q.mu.Unlock()
	select {
	case <-ready:
		return q.release, nil
	case <-ctx.Done():
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, w := range q.waiting[class] {
		if w == ready {
			q.waiting[class] = append(q.waiting[class][:i], q.waiting[class][i+1:]...)
			return nil, ctx.Err()
		}
	}
	// Handed a place as the request ended: pass it on.
	q.releaseLocked()
	return nil, ctx.Err()
}

func (q *hashQueue) release() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.releaseLocked()
}

// releaseLocked gives a place to the first waiter, an existing account's first.
func (q *hashQueue) releaseLocked() {
	for class := range q.waiting {
		if len(q.waiting[class]) > 0 {
			close(q.waiting[class][0])
			q.waiting[class] = q.waiting[class][1:]
			return
		}
	}
	q.free++
}

// checkSignIn checks the password of a sign-in that the limiter let begin, and tells the
// limiter how it went. It returns the login looked up (whether the name is an account's)
// and the account, or store.ErrBadCredentials, errSignInsBusy, or the request's end.
func (s *server) checkSignIn(ctx context.Context, username, addr, password string) (store.Login, store.User, error) {
	login, err := s.st.LookupLogin(ctx, username)
	if err != nil {
		s.signIns.dropped(username, addr)
		return login, store.User{}, err
	}
	release, err := s.hashing.acquire(ctx, login.Exists)
	if err != nil {
		s.signIns.dropped(username, addr)
		return login, store.User{}, err
	}
	u, err := s.st.SignIn(ctx, login, password)
	release()
	s.endAttempt(username, addr, err)
	return login, u, err
}

// endAttempt tells the limiter how an attempt it let begin went: err is what checking the
// password returned.
func (s *server) endAttempt(username, addr string, err error) {
	switch {
	case err == nil:
		s.signIns.succeeded(username, addr)
	case errors.Is(err, store.ErrBadCredentials):
		s.signIns.failed(username, addr)
	default:
		s.signIns.dropped(username, addr)
	}
}
