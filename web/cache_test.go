package web

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scmadmin/scmadmin/store"
	"github.com/scmadmin/scmadmin/store/keyring"
)

func TestCacheServesOnlyWhileCurrent(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	version := uint64(7)
	c := newCache[string, int](2, func() uint64 { return version })
	c.now = func() time.Time { return now }
	reads := 0
	read := func(context.Context) (int, error) { reads++; return reads, nil }
	ctx := context.Background()

	if v, _ := c.load(ctx, "a", read); v != 1 {
		t.Fatalf("first load = %d, want 1 (read)", v)
	}
	if v, _ := c.load(ctx, "a", read); v != 1 || reads != 1 {
		t.Fatalf("load at the same version = %d after %d reads; want 1 from the cache", v, reads)
	}
	version++
	if v, _ := c.load(ctx, "a", read); v != 2 {
		t.Errorf("load after the store changed = %d, want 2 (read again)", v)
	}
	now = now.Add(cacheTTL)
	if v, _ := c.load(ctx, "a", read); v != 3 {
		t.Errorf("load after cacheTTL = %d, want 3 (read again)", v)
	}
	if _, err := c.load(ctx, "b", func(context.Context) (int, error) { return 0, errors.New("down") }); err == nil {
		t.Error("a failed read was not reported")
	}
	if v, _ := c.load(ctx, "b", read); v != 4 {
		t.Errorf("load after a failed read = %d, want 4: failures must not be kept", v)
	}
}

// A value is as old as the start of the read that got it: a slow read must not stretch the
// second within which the server sees the scmadmin command's writes.
func TestCacheAgeCountsFromTheRead(t *testing.T) {
	start := time.Unix(1_000_000, 0)
	now := start
	c := newCache[string, int](2, func() uint64 { return 1 })
	c.now = func() time.Time { return now }
	c.load(context.Background(), "a", func(context.Context) (int, error) {
		now = now.Add(cacheTTL * 3 / 5) // a slow query
		return 1, nil
	})
	now = start.Add(cacheTTL)
	if v, _ := c.load(context.Background(), "a", func(context.Context) (int, error) { return 2, nil }); v != 2 {
		t.Errorf("a value read from cacheTTL ago was served (%d), want a new read", v)
	}
}

// A read that hangs must neither hold up the requests that come after it for ever nor give
// them a value older than cacheTTL.
func TestCacheOutlivesAHangingRead(t *testing.T) {
	var mu sync.Mutex
	now := time.Unix(1_000_000, 0)
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	c := newCache[string, int](2, func() uint64 { return 1 })
	c.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	hang := make(chan struct{})
	defer close(hang)
	go c.load(context.Background(), "a", func(context.Context) (int, error) { <-hang; return 1, nil })
	for {
		c.mu.Lock()
		_, started := c.reading["a"]
		c.mu.Unlock()
		if started {
			break
		}
		time.Sleep(time.Millisecond)
	}

	// A request that gives up is let go.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	gaveUp := make(chan error, 1)
	go func() {
		_, err := c.load(ctx, "a", func(context.Context) (int, error) { return 2, nil })
		gaveUp <- err
	}()
	select {
	case err := <-gaveUp:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("a request waiting on a hanging read returned %v, want its own deadline", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a request whose context ended stays blocked on another request's read")
	}
	// Past cacheTTL the hanging read is too old to wait for: the request reads for itself.
	advance(cacheTTL)
	ctx, cancel = context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if v, err := c.load(ctx, "a", func(context.Context) (int, error) { return 3, nil }); v != 3 || err != nil {
		t.Errorf("load beside a read older than cacheTTL = %d, %v; want its own read, 3", v, err)
	}
}

// An entry in use is read again before it expires, in the background: no request waits for it.
func TestCacheRefreshesAhead(t *testing.T) {
	var mu sync.Mutex
	now := time.Unix(1_000_000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	c := newCache[string, int](2, func() uint64 { return 1 })
	c.now = clock
	ctx, cancel := context.WithCancel(context.Background())
	c.load(ctx, "a", func(context.Context) (int, error) { return 1, nil })

	mu.Lock()
	now = now.Add(cacheFresh)
	mu.Unlock()
	release, refreshed := make(chan struct{}), make(chan error, 1)
	v, _ := c.load(ctx, "a", func(ctx context.Context) (int, error) {
		<-release
		refreshed <- ctx.Err()
		return 2, nil
	})
	if v != 1 {
		t.Fatalf("load of an entry past cacheFresh = %d, want the cached 1 at once", v)
	}
	cancel() // the request that started the refresh is gone
	close(release)
	if err := <-refreshed; err != nil {
		t.Errorf("the refresh ran under the ended request's context: %v", err)
	}
	for {
		v, _ := c.load(context.Background(), "a", func(context.Context) (int, error) { return -1, nil })
		if v == 2 {
			break
		}
		if v != 1 {
			t.Fatalf("load = %d while the refresh finishes, want 1 then 2", v)
		}
		time.Sleep(time.Millisecond)
	}
}

// A read that panics must not leave the requests waiting for it, or any later one, stuck.
func TestCacheSurvivesAPanickingRead(t *testing.T) {
	c := newCache[string, int](2, func() uint64 { return 1 })
	func() {
		defer func() { recover() }()
		c.load(context.Background(), "a", func(context.Context) (int, error) { panic("bug") })
	}()
	done := make(chan int)
	go func() {
		v, _ := c.load(context.Background(), "a", func(context.Context) (int, error) { return 7, nil })
		done <- v
	}()
	select {
	case v := <-done:
		if v != 7 {
			t.Errorf("load after a panicking read = %d, want 7", v)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("load after a panicking read never returned")
	}
}

func TestCacheStaysBounded(t *testing.T) {
	version := uint64(1)
	c := newCache[int, int](2, func() uint64 { return version })
	value := func(v int) func(context.Context) (int, error) {
		return func(context.Context) (int, error) { return v, nil }
	}
	ctx := context.Background()
	c.load(ctx, 1, value(1))
	version = 2
	c.load(ctx, 2, value(2))
	c.load(ctx, 3, value(3)) // full: the entry of version 1 is out of date and makes room
	if v, _ := c.load(ctx, 2, value(-1)); v != 2 {
		t.Error("a current entry was dropped while an out-of-date one could go")
	}
	c.load(ctx, 4, value(4)) // full of current entries: all go
	if len(c.entries) != 1 {
		t.Errorf("cache holds %d entries, want at most its max of 2 and here only the newest", len(c.entries))
	}
}

// When an entry expires under load, the requests that miss it together must share one read.
func TestCacheMissesShareOneRead(t *testing.T) {
	c := newCache[string, int](2, func() uint64 { return 1 })
	var reads atomic.Int32
	release := make(chan struct{})
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := c.load(context.Background(), "page", func(context.Context) (int, error) {
				reads.Add(1)
				<-release
				return 42, nil
			})
			if v != 42 || err != nil {
				t.Errorf("load = %d, %v", v, err)
			}
		}()
	}
	for reads.Load() < 1 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // let the other 31 find the read in progress
	close(release)
	wg.Wait()
	if n := reads.Load(); n != 1 {
		t.Errorf("32 concurrent misses made %d reads, want 1", n)
	}
}

// The list is rendered once for every admin: each must still get forms with their own CSRF
// token, which the server accepts.
func TestListFormsCarryEachSessionsToken(t *testing.T) {
	app := newTestApp(t)
	cfg := seedConfig(t, app, store.SCMConfig{Provider: "bitbucket_server", WebsiteURL: "https://bb.example.com",
		APIURL: "https://bb.example.com/rest/api/1.0", SSHURL: "ssh://git@bb.example.com:7999", ProjectKey: "ALGO"}, nil)
	first, second := app.adminClient(), app.adminClient()

	tokens := map[string]bool{}
	for _, c := range []*client{first, second} {
		page := c.get("/admin/scm").wantStatus(http.StatusOK)
		own, _ := page.doc.Find(`meta[name="csrf-token"]`).Attr("content")
		_, fields, ok := rowAction(page, cfg.ID, "disable")
		if !ok {
			t.Fatal("the row offers no Disable")
		}
		if fields.Get("_csrf") != own {
			t.Fatalf("the row's form carries token %q, not the session's own %q", fields.Get("_csrf"), own)
		}
		tokens[own] = true
	}
	if len(tokens) != 2 {
		t.Fatal("two sessions were given the same CSRF token")
	}

	// The second admin disables from the row, as a browser without JavaScript does.
	_, fields, _ := rowAction(second.get("/admin/scm"), cfg.ID, "disable")
	second.post(scmPath(cfg.ID, "disable"), fields).wantStatus(http.StatusSeeOther)
	if rowBadges(first.get("/admin/scm"), cfg.ID) != "Disabled" {
		t.Error("the first admin's list does not show the configuration the second disabled")
	}
}

// The list page is rendered ahead once per admin: each sees their own name on it.
func TestListShowsWhoIsSignedIn(t *testing.T) {
	app := newTestApp(t)
	if _, err := app.st.CreateUser(context.Background(), "bob", adminPassword, true); err != nil {
		t.Fatal(err)
	}
	admin, bob := app.adminClient(), app.client()
	bob.login("bob", adminPassword).wantStatus(http.StatusSeeOther)
	for i := range 2 { // the second time from the cache
		if got := admin.get("/admin/scm").text(".who"); got != adminName {
			t.Errorf("round %d: the admin's list says %q is signed in", i, got)
		}
		if got := bob.get("/admin/scm").text(".who"); got != "bob" {
			t.Errorf("round %d: bob's list says %q is signed in", i, got)
		}
	}
}

// Every change the server makes shows on the next list, however the list was cached.
func TestListShowsEveryChangeAtOnce(t *testing.T) {
	app := newTestApp(t)
	c := app.adminClient()
	cfg := seedConfig(t, app, store.SCMConfig{Provider: "bitbucket_server", WebsiteURL: "https://bb.example.com",
		APIURL: "https://bb.example.com/rest/api/1.0", SSHURL: "ssh://git@bb.example.com:7999", ProjectKey: "ALGO"}, nil)
	if !c.get("/admin/scm").has(rowSel(cfg.ID)) {
		t.Fatal("a configuration stored before the page was asked for is not listed")
	}
	c.getHTMX("/admin/scm?q=bb.example") // cache the search's table too

	err := app.st.RecordConnectionTest(context.Background(), cfg.ID, store.ConnectionTest{At: time.Now(), Passed: false, Summary: "TLS: certificate expired"})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.get("/admin/scm").text(rowSel(cfg.ID) + " .health"); got != "Failed: TLS: certificate expired" {
		t.Errorf("after a connection test the list shows health %q", got)
	}
	id := addConfig(t, c, bbForm("bb2.example.com", "TWO"))
	if !c.getHTMX("/admin/scm?q=bb2.example").has(rowSel(id)) {
		t.Error("a search does not find the configuration just created")
	}
}

// The scmadmin command writes from another process, which the store's Version does not see:
// the server must see it within cacheTTL, so that `scmadmin user passwd` signs a user out,
// even when the session is saved in between from the cache.
func TestChangesByAnotherProcessAreSeen(t *testing.T) {
	app := newTestApp(t)
	cfg := seedConfig(t, app, store.SCMConfig{Provider: "bitbucket_server", WebsiteURL: "https://bb.example.com",
		APIURL: "https://bb.example.com/rest/api/1.0", SSHURL: "ssh://git@bb.example.com:7999", ProjectKey: "ALGO"}, nil)
	c := app.adminClient()
	_, fields, _ := rowAction(c.get("/admin/scm").wantStatus(http.StatusOK), cfg.ID, "disable")

	keys, _, err := keyring.LoadOrCreate(filepath.Join(filepath.Dir(app.dbPath), "scmadmin.key"))
	if err != nil {
		t.Fatal(err)
	}
	other, err := store.Open(context.Background(), app.dbPath, keys)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := other.SetPassword(context.Background(), adminName, "another long passphrase"); err != nil {
		t.Fatal(err)
	}
	// Within the second the cached session may still act; saving its status message must not
	// store the ended session again.
	c.post(scmPath(cfg.ID, "disable"), fields)

	time.Sleep(cacheTTL)
	c.get("/admin/scm").wantRedirect("/login")
}
