package web

import (
	"context"
	"crypto/rand"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scmadmin/scmadmin/store"
	"github.com/scmadmin/scmadmin/web/action"
	"github.com/scmadmin/scmadmin/web/provider"
	"github.com/scmadmin/scmadmin/web/recheck"
)

// DefaultRecheckInterval is how often every enabled configuration is tested again unless
// SCMADMIN_RECHECK_INTERVAL says otherwise.
const DefaultRecheckInterval = 15 * time.Minute

// healthChecker is who the continuous health checks are in the audit trail.
var healthChecker = store.Actor{Username: "health check"}

// recheckLease is the lease that makes one server of those sharing a database the one that tests.
const recheckLease = "recheck"

// rechecker is the scheduler of the continuous health checks: every enabled configuration of
// an outside host, tested through the same operation as Test connection, as healthChecker.
func (s *server) rechecker(interval time.Duration) *recheck.Scheduler {
	holder := rand.Text() // this server, among those sharing the database
	return &recheck.Scheduler{
		Interval: interval,
		Configs:  s.recheckedConfigs,
		Test: func(ctx context.Context, id string) {
			_, _, err := s.actions.Test(ctx, id, healthChecker)
			if r, ok := action.AsRefusal(err); err != nil && (!ok || !errors.Is(r.Rule, store.ErrNotFound)) {
				s.log.Warn("health check: the test could not be recorded", "scm", id, "err", err)
			}
		},
		Lease: func(ctx context.Context, ttl time.Duration) (bool, error) {
			return s.st.TakeLease(ctx, recheckLease, holder, ttl)
		},
		Release: func(ctx context.Context) error { return s.st.ReleaseLease(ctx, recheckLease, holder) },
		Log:     s.log,
	}
}

// recheckedPage is how many configurations recheckedConfigs reads at a time.
const recheckedPage = 500

// recheckedConfigs lists the ids of the enabled configurations of outside hosts, in the
// order they were created.
func (s *server) recheckedConfigs(ctx context.Context) ([]string, error) {
	var ids []string
	for after := int64(0); ; {
		page, err := s.st.SCMConfigsAfter(ctx, after, recheckedPage)
		if err != nil {
			return nil, err
		}
		for _, cfg := range page {
			if p, ok := provider.Lookup(cfg.Provider); ok && p.Selectable() && cfg.Enabled {
				ids = append(ids, cfg.Ref)
			}
		}
		if len(page) < recheckedPage {
			return ids, nil
		}
		after = page[len(page)-1].ID
	}
}

// healthMetric is scmadmin_scm_healthy: 1 for each enabled configuration whose last test
// passed, 0 for one whose test failed, read from the database at each scrape (so that every
// server of those sharing it tells the same).
type healthMetric struct {
	st   *store.Store
	desc *prometheus.Desc
}

func newHealthMetric(st *store.Store) healthMetric {
	return healthMetric{st: st, desc: prometheus.NewDesc("scmadmin_scm_healthy",
		"Whether the configuration's last connection test passed (1) or failed (0), for each enabled configuration tested.",
		[]string{"id"}, nil)}
}

func (m healthMetric) Describe(ch chan<- *prometheus.Desc) { ch <- m.desc }

// scrapeTimeout bounds the metric's read of the database.
const scrapeTimeout = 5 * time.Second

func (m healthMetric) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	healthy, err := m.st.Healthy(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(m.desc, err)
		return
	}
	for id, ok := range healthy {
		v := 0.0
		if ok {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(m.desc, prometheus.GaugeValue, v, id)
	}
}
