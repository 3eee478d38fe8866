package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"testing"
	"time"
)

func tokenHash(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// sessionUser creates a user to own sessions.
func sessionUser(t *testing.T, s *Store, name string) User {
	t.Helper()
	return mustCreateUser(t, s, name, "a long enough password", false)
}

func mustSession(t *testing.T, s *Store, hash []byte) Session {
	t.Helper()
	se, err := s.Session(context.Background(), hash)
	if err != nil {
		t.Fatalf("Session: %v", err)
	}
	return se
}

func TestCreateSessionRoundTrip(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	u := sessionUser(t, s, "alice")
	now := time.Date(2030, 5, 6, 7, 8, 9, 123456000, time.UTC) // PostgreSQL keeps microseconds
	data := []byte("\x00gob-encoded\xffsession data")
	if err := s.CreateSession(ctx, tokenHash("tok-1"), u.ID, data, now); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	se := mustSession(t, s, tokenHash("tok-1"))
	if se.UserID != u.ID {
		t.Errorf("UserID = %d, want %d", se.UserID, u.ID)
	}
	if !bytes.Equal(se.Data, data) {
		t.Errorf("Data = %q, want %q", se.Data, data)
	}
	if !se.CreatedAt.Equal(now) || !se.LastSeenAt.Equal(now) {
		t.Errorf("CreatedAt, LastSeenAt = %v, %v; want both %v", se.CreatedAt, se.LastSeenAt, now)
	}
}

func TestCreateSessionStoresUTC(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	u := sessionUser(t, s, "alice")
	zone := time.FixedZone("UTC+9", 9*3600)
	now := time.Date(2030, 1, 1, 9, 0, 0, 0, zone) // midnight UTC
	if err := s.CreateSession(ctx, tokenHash("tok"), u.ID, []byte("d"), now); err != nil {
		t.Fatal(err)
	}
	se := mustSession(t, s, tokenHash("tok"))
	if !se.CreatedAt.Equal(now) {
		t.Errorf("CreatedAt = %v, want the instant %v", se.CreatedAt, now)
	}
	// A session saved in another zone must still compare correctly against UTC cut-offs.
	if err := s.DeleteExpiredSessions(ctx, now.Add(30*time.Minute), time.Hour, 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Session(ctx, tokenHash("tok")); err != nil {
		t.Errorf("a 30-minute-old session saved in UTC+9 was expired with a 1 h idle limit: %v", err)
	}
}

func TestSessionUnknown(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	if _, err := s.Session(ctx, tokenHash("never-saved")); !errors.Is(err, ErrNotFound) {
		t.Errorf("Session(unknown) = %v, want ErrNotFound", err)
	}
	if _, err := s.Session(ctx, nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("Session(nil) = %v, want ErrNotFound", err)
	}
}

func TestCreateSessionForUnknownUserFails(t *testing.T) {
	s := newTestStore(t)
	if err := s.CreateSession(context.Background(), tokenHash("t"), 999, []byte("d"), time.Now()); err == nil {
		t.Error("CreateSession for a user that does not exist succeeded")
	}
}

func TestUpdateSession(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	u := sessionUser(t, s, "alice")
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	t1 := t0.Add(10 * time.Minute)
	if err := s.CreateSession(ctx, tokenHash("tok"), u.ID, []byte("first"), t0); err != nil {
		t.Fatal(err)
	}
	if saved, err := s.UpdateSession(ctx, tokenHash("tok"), u.ID, []byte("second"), t1); !saved || err != nil {
		t.Fatalf("UpdateSession = %v, %v; want true, nil", saved, err)
	}
	se := mustSession(t, s, tokenHash("tok"))
	if string(se.Data) != "second" {
		t.Errorf("Data after the update = %q, want %q", se.Data, "second")
	}
	if !se.LastSeenAt.Equal(t1) {
		t.Errorf("LastSeenAt = %v, want %v", se.LastSeenAt, t1)
	}
	if !se.CreatedAt.Equal(t0) {
		t.Errorf("CreatedAt = %v, want the creation's %v (an update must not extend the absolute lifetime)", se.CreatedAt, t0)
	}

	// An ended session stays ended, whoever still holds it.
	if err := s.DeleteSession(ctx, tokenHash("tok")); err != nil {
		t.Fatal(err)
	}
	if saved, err := s.UpdateSession(ctx, tokenHash("tok"), u.ID, []byte("third"), t1); saved || err != nil {
		t.Errorf("UpdateSession of an ended session = %v, %v; want false, nil", saved, err)
	}
	if _, err := s.Session(ctx, tokenHash("tok")); !errors.Is(err, ErrNotFound) {
		t.Errorf("the ended session is back: %v", err)
	}
	if err := s.CreateSession(ctx, tokenHash("other"), u.ID, []byte("x"), t0); err != nil {
		t.Fatal(err)
	}
	if saved, _ := s.UpdateSession(ctx, tokenHash("other"), u.ID+1, []byte("x"), t1); saved {
		t.Error("UpdateSession changed another user's session")
	}
}

func TestSessionsAreIndependent(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	u := sessionUser(t, s, "alice")
	now := time.Now()
	if err := s.CreateSession(ctx, tokenHash("a"), u.ID, []byte("A"), now); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateSession(ctx, tokenHash("b"), u.ID, []byte("B"), now); err != nil {
		t.Fatal(err)
	}
	if se := mustSession(t, s, tokenHash("a")); string(se.Data) != "A" {
		t.Errorf("session a data = %q", se.Data)
	}
	if se := mustSession(t, s, tokenHash("b")); string(se.Data) != "B" {
		t.Errorf("session b data = %q", se.Data)
	}
}

func TestTouchSession(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	u := sessionUser(t, s, "alice")
	t0 := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	if err := s.CreateSession(ctx, tokenHash("tok"), u.ID, []byte("d"), t0); err != nil {
		t.Fatal(err)
	}
	t1 := t0.Add(5*time.Minute + 500*time.Millisecond)
	if err := s.TouchSession(ctx, tokenHash("tok"), t1); err != nil {
		t.Fatalf("TouchSession: %v", err)
	}
	se := mustSession(t, s, tokenHash("tok"))
	if !se.LastSeenAt.Equal(t1) {
		t.Errorf("LastSeenAt after touch = %v, want %v", se.LastSeenAt, t1)
	}
	if !se.LastSeenAt.After(t0) {
		t.Errorf("LastSeenAt %v did not move forward from %v", se.LastSeenAt, t0)
	}
	if !se.CreatedAt.Equal(t0) {
		t.Errorf("CreatedAt changed by touch: %v, want %v", se.CreatedAt, t0)
	}
	if string(se.Data) != "d" {
		t.Errorf("Data changed by touch: %q", se.Data)
	}
	// Touching a session that does not exist creates nothing.
	if err := s.TouchSession(ctx, tokenHash("ghost"), t1); err != nil {
		t.Errorf("TouchSession(unknown) = %v", err)
	}
	if _, err := s.Session(ctx, tokenHash("ghost")); !errors.Is(err, ErrNotFound) {
		t.Errorf("TouchSession created a session: %v", err)
	}
}

func TestDeleteSession(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	u := sessionUser(t, s, "alice")
	now := time.Now()
	for _, tok := range []string{"keep", "drop"} {
		if err := s.CreateSession(ctx, tokenHash(tok), u.ID, []byte(tok), now); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteSession(ctx, tokenHash("drop")); err != nil {
		t.Fatalf("DeleteSession: %v", err)
	}
	if _, err := s.Session(ctx, tokenHash("drop")); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleted session still found: %v", err)
	}
	if _, err := s.Session(ctx, tokenHash("keep")); err != nil {
		t.Errorf("DeleteSession removed another session: %v", err)
	}
	if err := s.DeleteSession(ctx, tokenHash("drop")); err != nil {
		t.Errorf("deleting an already deleted session = %v, want nil", err)
	}
}

func TestDeleteExpiredSessions(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	u := sessionUser(t, s, "alice")
	now := time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)
	idle, maxAge := 30*time.Minute, 12*time.Hour

	save := func(tok string, created, lastSeen time.Time) {
		t.Helper()
		if err := s.CreateSession(ctx, tokenHash(tok), u.ID, []byte(tok), created); err != nil {
			t.Fatal(err)
		}
		if err := s.TouchSession(ctx, tokenHash(tok), lastSeen); err != nil {
			t.Fatal(err)
		}
	}
	save("fresh", now.Add(-time.Minute), now.Add(-time.Minute))
	save("just-in-idle", now.Add(-time.Hour), now.Add(-idle+time.Second))
	save("idle", now.Add(-time.Hour), now.Add(-idle-time.Second))
	save("old-but-active", now.Add(-maxAge-time.Second), now.Add(-time.Second))
	save("almost-old", now.Add(-maxAge+time.Second), now.Add(-time.Second))
	save("idle-and-old", now.Add(-48*time.Hour), now.Add(-24*time.Hour))
	// Sub-second precision matters: idle by half a second.
	save("idle-by-half-second", now.Add(-time.Hour), now.Add(-idle-500*time.Millisecond))

	// A row made old directly in the database.
	save("made-old-by-update", now, now)
	if _, err := s.w.Exec(`UPDATE sessions SET created_at = ?, last_seen_at = ? WHERE token_hash = ?`,
		now.Add(-100*time.Hour).UTC(), now.Add(-99*time.Hour).UTC(), tokenHash("made-old-by-update")); err != nil {
		t.Fatal(err)
	}

	if err := s.DeleteExpiredSessions(ctx, now, idle, maxAge); err != nil {
		t.Fatalf("DeleteExpiredSessions: %v", err)
	}
	for tok, wantKept := range map[string]bool{
		"fresh":               true,
		"just-in-idle":        true,
		"almost-old":          true,
		"idle":                false,
		"old-but-active":      false,
		"idle-and-old":        false,
		"idle-by-half-second": false,
		"made-old-by-update":  false,
	} {
		_, err := s.Session(ctx, tokenHash(tok))
		switch {
		case wantKept && err != nil:
			t.Errorf("session %q was deleted (%v), want kept", tok, err)
		case !wantKept && !errors.Is(err, ErrNotFound):
			t.Errorf("session %q survived DeleteExpiredSessions (err %v), want deleted", tok, err)
		}
	}
}

func TestDeleteExpiredSessionsWithRealClock(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	u := sessionUser(t, s, "alice")
	now := time.Now() // carries a monotonic reading and the local zone
	if err := s.CreateSession(ctx, tokenHash("fresh"), u.ID, []byte("x"), now); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateSession(ctx, tokenHash("old"), u.ID, []byte("x"), now); err != nil {
		t.Fatal(err)
	}
	if _, err := s.w.Exec(`UPDATE sessions SET last_seen_at = ? WHERE token_hash = ?`,
		now.Add(-2*time.Hour).UTC(), tokenHash("old")); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteExpiredSessions(ctx, time.Now(), time.Hour, 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Session(ctx, tokenHash("fresh")); err != nil {
		t.Errorf("fresh session deleted: %v", err)
	}
	if _, err := s.Session(ctx, tokenHash("old")); !errors.Is(err, ErrNotFound) {
		t.Errorf("idle session kept: %v", err)
	}
}

func TestDeletingUserCascadesToSessions(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	alice := sessionUser(t, s, "alice")
	bob := sessionUser(t, s, "bob")
	now := time.Now()
	for _, c := range []struct {
		tok string
		id  int64
	}{{"alice-1", alice.ID}, {"alice-2", alice.ID}, {"bob-1", bob.ID}} {
		if err := s.CreateSession(ctx, tokenHash(c.tok), c.id, []byte(c.tok), now); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.w.Exec(`DELETE FROM users WHERE id = ?`, alice.ID); err != nil {
		t.Fatalf("delete user: %v", err)
	}
	for _, tok := range []string{"alice-1", "alice-2"} {
		if _, err := s.Session(ctx, tokenHash(tok)); !errors.Is(err, ErrNotFound) {
			t.Errorf("session %s of a deleted user survived: %v", tok, err)
		}
	}
	if _, err := s.Session(ctx, tokenHash("bob-1")); err != nil {
		t.Errorf("another user's session was deleted: %v", err)
	}
}
