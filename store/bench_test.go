package store

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
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

// BenchmarkDurability measures the writes that matter most — a configuration created, a
// webhook delivery recorded with its build — under synchronous=NORMAL and FULL, 8 writers
// at once. Run it where the database really lives (TMPDIR on that disk): on tmpfs an fsync
// costs nothing.
func BenchmarkDurability(b *testing.B) {
	for _, mode := range []string{"NORMAL", "FULL"} {
		b.Run("create/"+mode, func(b *testing.B) {
			s := durabilityStore(b, mode)
			var n atomic.Int64
			b.SetParallelism(4)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					c := SCMConfig{Provider: "bitbucket_server", WebsiteURL: fmt.Sprintf("https://bb%d.example.com", i), ProjectKey: "ALGO",
						UniqueKey: fmt.Sprintf("bitbucket_server https://bb%d.example.com ALGO", i)}
					if _, err := s.CreateSCMConfig(context.Background(), c, map[string]string{"access_token": "t"}, testActor); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "creates/s")
		})
		b.Run("delivery/"+mode, func(b *testing.B) {
			s := durabilityStore(b, mode)
			cfg, err := s.CreateSCMConfig(context.Background(), bbServerConfig("ALGO"), map[string]string{"access_token": "t"}, testActor)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := s.RegisterRepository(context.Background(), Repository{ConfigID: cfg.ID, Owner: "ALGO", Name: "repo"}, testActor); err != nil {
				b.Fatal(err)
			}
			var n atomic.Int64
			b.SetParallelism(4)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					d := Delivery{ConfigID: cfg.ID, RequestID: fmt.Sprint(i), Event: "repo:refs_changed", Result: DeliveryAccepted, Status: 202, Reason: "build"}
					bd := &Build{ProjectKey: "ALGO", Repository: "repo", Commit: fmt.Sprintf("%040x", i), Actor: "jdoe", PushedAt: time.Now()}
					if _, err := s.RecordDelivery(context.Background(), d, bd); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
		})
	}
}

func durabilityStore(b *testing.B, mode string) *Store {
	s := newTestStore(b)
	if _, err := s.w.Exec("PRAGMA synchronous = " + mode); err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkRecordDelivery measures a delivery recorded with its build, 8 writers at once,
// with the build hook's outbox off and on (one INSERT more in the build's transaction).
func BenchmarkRecordDelivery(b *testing.B) {
	for _, outbox := range []bool{false, true} {
		b.Run(fmt.Sprintf("outbox=%v", outbox), func(b *testing.B) {
			s := newTestStore(b)
			if outbox {
				if _, err := s.StartBuildHook(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
			cfg, err := s.CreateSCMConfig(context.Background(), bbServerConfig("ALGO"), map[string]string{"access_token": "t"}, testActor)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := s.RegisterRepository(context.Background(), Repository{ConfigID: cfg.ID, Owner: "ALGO", Name: "repo"}, testActor); err != nil {
				b.Fatal(err)
			}
			var n atomic.Int64
			b.SetParallelism(4)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					d := Delivery{ConfigID: cfg.ID, RequestID: fmt.Sprint(i), Event: "repo:refs_changed", Result: DeliveryAccepted, Status: 202, Reason: "build"}
					bd := &Build{ProjectKey: "ALGO", Repository: "repo", Commit: fmt.Sprintf("%040x", i), Actor: "jdoe", PushedAt: time.Now()}
					if _, err := s.RecordDelivery(context.Background(), d, bd); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
		})
	}
}

// seedMany inserts n Bitbucket Server configurations in one statement (creating each through
// CreateSCMConfig would take minutes at this size), as CreateSCMConfig would store them; the
// triggers index them.
func seedMany(b *testing.B, s *Store, n int) {
	b.Helper()
	series := `WITH RECURSIVE series(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM series WHERE i < ?) `
	if testEngine == &postgresDialect {
		series = `WITH series(i) AS (SELECT generate_series(1, ?)) `
	}
	_, err := s.exec(context.Background(), series+`INSERT INTO scm_configs (provider, name, website_url, api_url, ssh_url,
		project_key, unique_key, search_text, enabled, is_default, created_at, updated_at)
		SELECT 'bitbucket_server', '', 'https://bb' || i || '.example.com', 'https://bb' || i || '.example.com/rest/api/1.0',
			'ssh://git@bb' || i || '.example.com:7999', 'ALGO', 'bitbucket_server https://bb' || i || '.example.com ALGO',
			'https://bb' || i || '.example.com algo', 1, 0, ?, ? FROM series`, n, s.now(), s.now())
	if err == nil {
		_, err = s.exec(context.Background(), `UPDATE scm_configs SET ref = CAST(id AS TEXT) WHERE ref IS NULL`)
	}
	if err == nil && testEngine == &postgresDialect {
		_, err = s.exec(context.Background(), `ANALYZE scm_configs`) // as autovacuum soon would
	}
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkBroadSearch is a search that matches nearly everything (one letter) over 100,000
// configurations, as the list asks for it: the first page, and its count, capped.
func BenchmarkBroadSearch(b *testing.B) {
	s := newTestStore(b)
	seedMany(b, s, 100_000)
	for name, q := range map[string]SCMQuery{
		"one-letter": {Search: "b", Limit: 25, CountAtMost: 1000},
		"no-match":   {Search: "zzz", Limit: 25, CountAtMost: 1000},
		"rare":       {Search: "bb12345.", Limit: 25, CountAtMost: 1000},
		"broad":      {Search: "example", Limit: 25, CountAtMost: 1000},
		"two-rare":   {Search: "zz", Limit: 25, CountAtMost: 1000},
	} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if _, _, err := s.ListSCMConfigs(context.Background(), q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
