package store

import (
	"context"
	"errors"
	"sync"
	"testing"
)

func TestLastEnabledAdminIsKept(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	by := Actor{Username: "alice", Addr: "192.0.2.1"}
	mustCreateUser(t, s, "alice", testPassword, true)
	mustCreateUser(t, s, "bob", testPassword, false)

	if err := s.SetAdmin(ctx, "alice", false, by); !errors.Is(err, ErrLastAdmin) {
		t.Errorf("taking admin from the last admin = %v, want ErrLastAdmin", err)
	}
	if err := s.SetDisabled(ctx, "ALICE", true, by); !errors.Is(err, ErrLastAdmin) {
		t.Errorf("disabling the last admin = %v, want ErrLastAdmin", err)
	}
	if err := s.SetAdmin(ctx, "nobody", true, by); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown account = %v, want ErrNotFound", err)
	}
	// With bob an admin too, either may go, but not both.
	if err := s.SetAdmin(ctx, "bob", true, by); err != nil {
		t.Fatal(err)
	}
	if err := s.SetDisabled(ctx, "bob", true, by); err != nil {
		t.Fatal(err)
	}
	if err := s.SetAdmin(ctx, "alice", false, by); !errors.Is(err, ErrLastAdmin) {
		t.Errorf("a disabled admin counts as an admin: %v", err)
	}
	users, err := s.Users(ctx)
	if err != nil || len(users) != 2 || !users[0].IsAdmin || users[0].Disabled || !users[1].Disabled {
		t.Errorf("Users = %+v, %v", users, err)
	}
	evs, _, err := s.ListAudit(ctx, AuditQuery{Limit: 10})
	if err != nil || len(evs) != 4 || evs[0].Action != ActionDisableUser || evs[0].Target != "bob" || evs[1].Action != ActionGrantAdmin {
		t.Errorf("audit = %+v, %v; want the two adds, the grant and the disable (refusals change nothing)", evs, err)
	}
}

// Two admins taking each other's rights at once: one must stay.
func TestLastAdminRuleHoldsUnderConcurrency(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	for range 20 {
		mustCreateUser(t, s, "a", testPassword, true)
		mustCreateUser(t, s, "b", testPassword, true)
		var wg sync.WaitGroup
		for _, name := range []string{"a", "b"} {
			wg.Go(func() { s.SetDisabled(ctx, name, true, Actor{}) })
		}
		wg.Wait()
		users, _ := s.Users(ctx)
		if enabled := len(users) - countDisabled(users); enabled != 1 {
			t.Fatalf("%d enabled admins left, want 1", enabled)
		}
		if _, err := s.w.ExecContext(ctx, `DELETE FROM users`); err != nil {
			t.Fatal(err)
		}
	}
}

func countDisabled(users []User) int {
	n := 0
	for _, u := range users {
		if u.Disabled {
			n++
		}
	}
	return n
}

func TestDisabledAccountCannotSignInAndLosesItsSessions(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	mustCreateUser(t, s, "alice", testPassword, true)
	bob := mustCreateUser(t, s, "bob", testPassword, false)
	if err := s.CreateSession(ctx, []byte("bob-session-token-hash-0123456789"), bob.ID, []byte("{}"), s.now()); err != nil {
		t.Fatal(err)
	}
	if err := s.SetDisabled(ctx, "bob", true, Actor{Username: "alice"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Session(ctx, []byte("bob-session-token-hash-0123456789")); !errors.Is(err, ErrNotFound) {
		t.Errorf("bob's session after disabling: %v, want ErrNotFound", err)
	}
	if _, err := s.Authenticate(ctx, "bob", testPassword); !errors.Is(err, ErrDisabled) {
		t.Errorf("disabled bob signs in: %v, want ErrDisabled", err)
	}
	if _, err := s.Authenticate(ctx, "bob", "a wrong password here"); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("a wrong password for a disabled account = %v, want ErrBadCredentials (nothing said of the account)", err)
	}
	if err := s.SetDisabled(ctx, "bob", false, Actor{Username: "alice"}); err != nil {
		t.Fatal(err)
	}
	u, err := s.Authenticate(ctx, "bob", testPassword)
	if err != nil || u.LastSignInAt.IsZero() {
		t.Fatalf("enabled bob: %+v %v", u, err)
	}
	if again, _ := s.UserByID(ctx, bob.ID); !again.LastSignInAt.Equal(u.LastSignInAt) {
		t.Errorf("last sign-in = %v, want %v", again.LastSignInAt, u.LastSignInAt)
	}
}

func TestOwnPasswordCannotBeSetToItself(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	alice := mustCreateUser(t, s, "alice", testPassword, true)
	if err := s.SetPassword(ctx, "alice", testPassword, Actor{Username: "Alice"}); !errors.Is(err, ErrSamePassword) {
		t.Errorf("own password set to itself = %v, want ErrSamePassword", err)
	}
	if err := s.ChangePassword(ctx, alice.ID, testPassword, testPassword, "192.0.2.1"); !errors.Is(err, ErrSamePassword) {
		t.Errorf("ChangePassword to the same = %v, want ErrSamePassword", err)
	}
	// Another admin may set it (to whatever it is): that is a reset, not a change of one's own.
	if err := s.SetPassword(ctx, "alice", testPassword, Actor{Username: "bob"}); err != nil {
		t.Errorf("reset by another admin: %v", err)
	}
	evs, _, _ := s.ListAudit(ctx, AuditQuery{Limit: 10})
	if len(evs) != 2 || evs[0].Action != ActionSetPassword || evs[0].Actor.Username != "bob" || evs[0].Target != "alice" {
		t.Errorf("audit = %+v; want the add and bob's reset", evs)
	}
}
