package views

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/scmadmin/scmadmin/store"
)

// The folded table of health results says how many it holds, in the singular for one.
func TestHealthHistoryCountsItsResults(t *testing.T) {
	result := store.HealthResult{At: time.Date(2026, 12, 1, 18, 20, 0, 0, time.UTC), Outcome: store.HealthPassed}
	for n, want := range map[int]string{1: "The last result", 2: "The last 2 results"} {
		var b strings.Builder
		results := make([]store.HealthResult, n)
		for i := range results {
			results[i] = result
		}
		if err := HealthHistory(results, false).Render(context.Background(), &b); err != nil {
			t.Fatal(err)
		}
		doc, err := goquery.NewDocumentFromReader(strings.NewReader(b.String()))
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(doc.Find("details.health-results summary").Text()); got != want {
			t.Errorf("%d results: the table's summary says %q, want %q", n, got, want)
		}
		if rows := doc.Find("#health-results tbody tr").Length(); rows != n {
			t.Errorf("%d results: %d rows", n, rows)
		}
	}
}
