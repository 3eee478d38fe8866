package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"

	"github.com/scmadmin/scmadmin/store"
)

const (
	sessionCookie = "scmadmin_session"
	// sessionIdle and sessionMaxAge end a session after 30 idle minutes or 12 hours in all.
	sessionIdle   = 30 * time.Minute
	sessionMaxAge = 12 * time.Hour
	// touchEvery bounds how often a request writes the session's last-seen time.
	touchEvery = time.Minute
	userIDKey  = "uid"
)

// sessionStore is a gorilla/sessions Store over the database: the cookie carries a random
// token and the database the session itself (under the token's SHA-256), so deleting the
// row ends the session wherever its cookie is.
type sessionStore struct {
	st      *store.Store
	options sessions.Options
	now     func() time.Time
	// loaded saves each request a query and a decode: every page asks for its session.
	loaded   *cache[string, loadedSession]
	versions *dataVersions
}

// loadedSession is a session as stored, its values decoded.
type loadedSession struct {
	row    store.Session
	values map[any]any
}

var _ sessions.Store = (*sessionStore)(nil)

func newSessionStore(st *store.Store, versions *dataVersions, secure bool) *sessionStore {
	return &sessionStore{
		st: st, versions: versions,
		// MaxAge 0: a browser-session cookie; the server enforces idle and absolute limits.
		options: sessions.Options{Path: "/", HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode},
		now:     time.Now,
		loaded:  newCache[string, loadedSession](maxCachedSessions, func(v store.Versions) uint64 { return v.Sessions }),
	}
}

// maxCachedSessions is far more than the cluster admins signed in at once.
const maxCachedSessions = 1024

func tokenHash(token string) ([]byte, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) != 32 {
		return nil, false
	}
	sum := sha256.Sum256(raw)
	return sum[:], true
}

// Get returns the request's session, cached for the rest of the request.
func (s *sessionStore) Get(r *http.Request, name string) (*sessions.Session, error) {
	return sessions.GetRegistry(r).Get(s, name)
}

// New loads the session the request's cookie names, or returns a new, empty one when the
// cookie is missing, unknown, or its session has expired.
func (s *sessionStore) New(r *http.Request, name string) (*sessions.Session, error) {
	sess := s.fresh(name)
	c, err := r.Cookie(name)
	if err != nil {
		return sess, nil
	}
	hash, ok := tokenHash(c.Value)
	if !ok {
		return sess, nil
	}
	ls, err := s.load(r, hash)
	if errors.Is(err, store.ErrNotFound) {
		return sess, nil
	}
	if errors.Is(err, errUnreadableSession) {
		// A session that cannot be read is ended, not an error on every request it makes.
		return sess, s.st.DeleteSession(r.Context(), hash)
	}
	if err != nil {
		return sess, err
	}
	row := ls.row
	now := s.now()
	if now.Sub(row.LastSeenAt) > sessionIdle || now.Sub(row.CreatedAt) > sessionMaxAge {
		return sess, s.st.DeleteSession(r.Context(), hash)
	}
	sess.Values = copyValues(ls.values)
	sess.ID, sess.IsNew = c.Value, false
	// A page's own polling (X-Scmadmin-Poll) is not the admin being active.
	if now.Sub(row.LastSeenAt) > touchEvery && r.Header.Get("X-Scmadmin-Poll") == "" {
		if err := s.st.TouchSession(r.Context(), hash, now); err != nil {
			return sess, err
		}
	}
	return sess, nil
}

var errUnreadableSession = errors.New("web: unreadable session")

// load returns the session stored under hash, from the cache while it is current.
func (s *sessionStore) load(r *http.Request, hash []byte) (loadedSession, error) {
	return s.loaded.load(r.Context(), s.versions.read, string(hash), func(ctx context.Context) (loadedSession, error) {
		row, err := s.st.Session(ctx, hash)
		if err != nil {
			return loadedSession{}, err
		}
		ls := loadedSession{row: row}
		if err := (securecookie.GobEncoder{}).Deserialize(row.Data, &ls.values); err != nil {
			return loadedSession{}, errUnreadableSession
		}
		return ls, nil
	})
}

// copyValues copies a cached session's values for a request, which may change them (its
// flashes are a slice that AddFlash appends to).
func copyValues(m map[any]any) map[any]any {
	c := make(map[any]any, len(m))
	for k, v := range m {
		if l, ok := v.([]any); ok {
			v = slices.Clone(l)
		}
		c[k] = v
	}
	return c
}

func (s *sessionStore) fresh(name string) *sessions.Session {
	sess := sessions.NewSession(s, name)
	opts := s.options
	sess.Options = &opts
	sess.IsNew = true
	return sess
}

// Save writes the session and its cookie; a negative MaxAge deletes both. A session is only
// stored for a signed-in user (its values must hold the user id).
func (s *sessionStore) Save(r *http.Request, w http.ResponseWriter, sess *sessions.Session) error {
	if sess.Options.MaxAge < 0 {
		if hash, ok := tokenHash(sess.ID); ok {
			if err := s.st.DeleteSession(r.Context(), hash); err != nil {
				return err
			}
		}
		http.SetCookie(w, sessions.NewCookie(sess.Name(), "", sess.Options))
		return nil
	}
	uid, ok := sess.Values[userIDKey].(int64)
	if !ok {
		return errors.New("web: save session: no signed-in user")
	}
	data, err := (securecookie.GobEncoder{}).Serialize(sess.Values)
	if err != nil {
		return fmt.Errorf("web: encode session: %w", err)
	}
	if sess.ID != "" {
		hash, _ := tokenHash(sess.ID)
		// A session ended while this request ran (another process ends sessions, and this one
		// may still have it cached) is not stored again: the next page asks to sign in. Its
		// cookie is left alone, as the browser may have a new session's by now.
		_, err := s.st.UpdateSession(r.Context(), hash, uid, data, s.now())
		return err
	}
	raw := make([]byte, 32)
	rand.Read(raw)
	sess.ID = base64.RawURLEncoding.EncodeToString(raw)
	// A new session is a good moment to sweep out the expired ones.
	if err := s.st.DeleteExpiredSessions(r.Context(), s.now(), sessionIdle, sessionMaxAge); err != nil {
		return err
	}
	hash, _ := tokenHash(sess.ID)
	if err := s.st.CreateSession(r.Context(), hash, uid, data, s.now()); err != nil {
		return err
	}
	http.SetCookie(w, sessions.NewCookie(sess.Name(), sess.ID, sess.Options))
	return nil
}
