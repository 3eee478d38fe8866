package store

import (
	"context"
	"fmt"
	"testing"
)

// A search or filter's count stops past CountAtMost (the list then says "1,000+"); its page is
// the same as without the cap, and a search shorter than a trigram finds what a longer one does.
func TestSearchCountAtMost(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	for i := range 5 {
		mustCreateSCM(t, s, bbServerConfig(fmt.Sprintf("CAP%d", i)), map[string]string{"access_token": "t"})
	}
	for _, search := range []string{"c", "ca", "cap"} {
		page, total, err := s.ListSCMConfigs(ctx, SCMQuery{Search: search, Limit: 2, CountAtMost: 3})
		if err != nil {
			t.Fatal(err)
		}
		if total != 4 || len(page) != 2 || page[0].ProjectKey != "CAP0" || page[1].ProjectKey != "CAP1" {
			t.Errorf("search %q capped at 3: total %d, page %d rows (%v), want 4 (more than 3) and CAP0, CAP1", search, total, len(page), page)
		}
		if _, total, err := s.ListSCMConfigs(ctx, SCMQuery{Search: search, Limit: 2, CountAtMost: 10}); err != nil || total != 5 {
			t.Errorf("search %q capped at 10: total %d (%v), want the 5 exactly", search, total, err)
		}
	}
	if _, total, err := s.ListSCMConfigs(ctx, SCMQuery{Search: "zq", Limit: 2, CountAtMost: 3}); err != nil || total != 0 {
		t.Errorf("a short search that matches nothing: total %d (%v)", total, err)
	}
}

// A broad search (found in many of the first rows) reads the table in order instead of asking
// the trigram index for every match: it finds the same page and counts the same.
func TestBroadSearchFindsWhatTheIndexWould(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	for i := range broadMatches + 10 {
		mustCreateSCM(t, s, bbServerConfig(fmt.Sprintf("BRD%d", i)), map[string]string{"access_token": "t"})
	}
	if broad, err := s.broadSearch(ctx, "brd"); err != nil || broad != (s.d.broadProbe != "") {
		t.Fatalf("brd is broad = %v (%v); want it so where the engine probes", broad, err)
	}
	if broad, err := s.broadSearch(ctx, "brd1"); err != nil || broad {
		t.Fatalf("brd1 is broad = %v (%v)", broad, err)
	}
	for _, tc := range []struct {
		search            string
		countAtMost, want int
	}{
		{"brd", 0, broadMatches + 10}, {"brd", 10, 11}, {"BRD", 1000, broadMatches + 10}, {"brd1", 0, 11}, {"brd1", 5, 6},
	} {
		page, total, err := s.ListSCMConfigs(ctx, SCMQuery{Search: tc.search, Limit: 2, CountAtMost: tc.countAtMost})
		if err != nil {
			t.Fatal(err)
		}
		first := "BRD0"
		if tc.search == "brd1" {
			first = "BRD1"
		}
		if total != tc.want || len(page) != 2 || page[0].ProjectKey != first {
			t.Errorf("search %q capped at %d: total %d, page %v; want %d, from %s", tc.search, tc.countAtMost, total, page, tc.want, first)
		}
	}
}

// Text PostgreSQL cannot hold (a NUL, bytes that are not UTF-8) finds nothing, rather than
// failing, on both engines.
func TestLookupsOfTextPostgresRefuses(t *testing.T) {
	s := newTestStore(t)
	ctx := context.Background()
	for _, odd := range []string{"admin\x00", "\xff\xfe", "a\x00\xffb"} {
		if l, err := s.LookupLogin(ctx, odd); err != nil || l.Exists {
			t.Errorf("LookupLogin(%q): %+v %v, want no account and no error", odd, l, err)
		}
		if page, _, err := s.ListSCMConfigs(ctx, SCMQuery{Search: odd, Limit: 10, CountAtMost: 1000}); err != nil || len(page) != 0 {
			t.Errorf("search %q: %d found, %v", odd, len(page), err)
		}
	}
}
