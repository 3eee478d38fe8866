package views

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/scmadmin/scmadmin/store"
)

// A search whose count stopped says "1,000+" and still offers the next page; one counted
// whole says its total.
func TestPagerSaysMoreThanItCounted(t *testing.T) {
	for _, tc := range []struct {
		total, countedTo int
		count, pages     string
	}{
		{1001, 1000, "1–25 of 1,000+", "Page 1 of 40+"},
		{1000, 1000, "1–25 of 1,000", "Page 1 of 40"},
		{12345, 0, "1–25 of 12,345", "Page 1 of 494"},
	} {
		l := SCMList{Query: ListQuery{Q: "b", Sort: "created", Page: 1, PerPage: 25}, Total: tc.total, CountedTo: tc.countedTo}
		for i := range 25 {
			l.Configs = append(l.Configs, store.SCMConfig{ID: int64(i + 2), Ref: fmt.Sprint(i + 2), Provider: "bitbucket_server",
				WebsiteURL: fmt.Sprintf("https://bb%d.example.com", i), ProjectKey: "ALGO", Enabled: true})
		}
		var b strings.Builder
		if err := SCMTable(l).Render(WithCSRF(context.Background(), "token"), &b); err != nil {
			t.Fatal(err)
		}
		doc, err := goquery.NewDocumentFromReader(strings.NewReader(b.String()))
		if err != nil {
			t.Fatal(err)
		}
		pager := doc.Find("nav.pager")
		if got := strings.Join(strings.Fields(pager.Find(".count").Text()), " "); got != tc.count {
			t.Errorf("total %d counted to %d: the pager says %q, want %q", tc.total, tc.countedTo, got, tc.count)
		}
		if !strings.Contains(strings.Join(strings.Fields(pager.Text()), " "), tc.pages) {
			t.Errorf("total %d counted to %d: the pager %q does not say %q", tc.total, tc.countedTo, pager.Text(), tc.pages)
		}
		if pager.Find("a[rel=next]").Length() == 0 && pager.Find("a").Length() == 0 {
			t.Errorf("total %d: no link to the next page", tc.total)
		}
	}
}
