package store

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/scmadmin/scmadmin/store/keyring"
)

// Two stores on one database (two servers) counting failures of one key at the same time
// count every one; a window starts again when it has run out, or after a quiet time.
func TestCountFailuresTogether(t *testing.T) {
	dir := t.TempDir()
	dsn, keys := testDSN(t, dir), newTestKeyring(t, dir)
	a, b := openTestStore(t, dsn, keys), openTestStore(t, dsn, keys)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	w := FailureWindow{Key: "sign-in address 192.0.2.1", Window: time.Minute}
	var wg sync.WaitGroup
	for _, s := range []*Store{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				if _, err := s.CountFailures(ctx, now, w); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	got, err := b.ReadFailures(ctx, w.Key, "never failed")
	if err != nil {
		t.Fatal(err)
	}
	if got[0].N != 40 || !got[0].StartedAt.Equal(now) || got[1].N != 0 {
		t.Errorf("after 20 failures on each store: %+v, want 40 since %s, and none for a key that never failed", got, now)
	}
	counts, err := a.CountFailures(ctx, now.Add(2*time.Minute), w)
	if err != nil || counts[0].N != 1 || !counts[0].StartedAt.Equal(now.Add(2*time.Minute)) {
		t.Errorf("a failure after the window: %+v %v, want a new window of 1", counts, err)
	}
	quiet := FailureWindow{Key: "sign-in account bob", Quiet: time.Minute}
	for i := range 3 { // 30 s apart: never quiet for a minute
		if counts, err = a.CountFailures(ctx, now.Add(time.Duration(i)*30*time.Second), quiet); err != nil || counts[0].N != i+1 {
			t.Errorf("failure %d of an account: %+v %v", i+1, counts, err)
		}
	}
	if counts, err = a.CountFailures(ctx, now.Add(3*time.Minute), quiet); err != nil || counts[0].N != 1 {
		t.Errorf("a failure after a quiet minute and a half: %+v %v, want 1", counts, err)
	}
	if err := a.ClearFailures(ctx, quiet.Key); err != nil {
		t.Fatal(err)
	}
	if got, _ := a.ReadFailures(ctx, quiet.Key); got[0].N != 0 {
		t.Errorf("after ClearFailures: %+v", got)
	}
}

// A server records the key it seals with; ServersBehind lists those on an older key, and not
// those that stopped.
func TestServersBehind(t *testing.T) {
	dir := t.TempDir()
	s, dsn := newTestStoreDSN(t)
	ctx := context.Background()
	// A second server whose key file has a newer key than the first's.
	newer := filepath.Join(dir, "newer.key")
	if _, _, err := keyring.LoadOrCreate(newer); err != nil {
		t.Fatal(err)
	}
	if _, err := keyring.AddKey(newer); err != nil {
		t.Fatal(err)
	}
	keys, err := keyring.Load(newer)
	if err != nil {
		t.Fatal(err)
	}
	other := openTestStore(t, dsn, keys)
	if err := s.RecordServer(ctx, "one", "host-a pid 1 on :8080", time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := other.RecordServer(ctx, "two", "host-b pid 2 on :8080", time.Now()); err != nil {
		t.Fatal(err)
	}
	behind, err := s.ServersBehind(ctx, 2, time.Minute)
	if err != nil || len(behind) != 1 || behind[0].Name != "host-a pid 1 on :8080" || behind[0].KeyID != 1 {
		t.Errorf("servers behind key 2: %+v %v, want host-a on key 1", behind, err)
	}
	if err := s.ForgetServer(ctx, "one"); err != nil {
		t.Fatal(err)
	}
	if behind, err := s.ServersBehind(ctx, 2, time.Minute); err != nil || len(behind) != 0 {
		t.Errorf("servers behind key 2 once host-a stopped: %+v %v", behind, err)
	}
}
