package views

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/scmadmin/scmadmin/store"
)

// BenchmarkSCMTable renders a full page of the list (25 rows) without any I/O.
func BenchmarkSCMTable(b *testing.B) {
	l := SCMList{Query: ListQuery{Sort: "created", Page: 1, PerPage: 25}, Total: 1000}
	for i := range 25 {
		l.Configs = append(l.Configs, store.SCMConfig{ID: int64(i + 2), Provider: "bitbucket_server",
			WebsiteURL: fmt.Sprintf("https://bb%d.example.com", i), ProjectKey: "ALGO", Enabled: true,
			CreatedAt: time.Now(), LastTest: store.ConnectionTest{At: time.Now(), Passed: true, Summary: "passed"}})
	}
	ctx := WithCSRF(context.Background(), "token-token-token-token-token-token-token")
	b.ReportAllocs()
	for b.Loop() {
		if err := SCMTable(l).Render(ctx, io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
