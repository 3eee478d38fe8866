package store

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkListSCMConfigs runs the list's queries (count and page) over 2,000 configurations:
// the first page, a search, a late page, and by Website URL.
func BenchmarkListSCMConfigs(b *testing.B) {
	s := newTestStore(b)
	ctx := context.Background()
	for i := range 2000 {
		c := SCMConfig{Provider: "bitbucket_server", WebsiteURL: fmt.Sprintf("https://bb%d.example.com", i), ProjectKey: "ALGO",
			UniqueKey: fmt.Sprintf("bitbucket_server https://bb%d.example.com ALGO", i)}
		if _, err := s.CreateSCMConfig(ctx, c, map[string]string{"access_token": "t"}, testActor); err != nil {
			b.Fatal(err)
		}
	}
	for name, q := range map[string]SCMQuery{
		"first":  {Limit: 25},
		"search": {Search: "bb1234", Limit: 25},
		"late":   {Limit: 25, Offset: 1975},
		"byURL":  {Sort: SortWebsiteURL, Desc: true, Limit: 25},
	} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := s.ListSCMConfigs(ctx, q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
