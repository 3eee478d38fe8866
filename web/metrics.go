package web

import (
	"context"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/scmadmin/scmadmin/store"
	"github.com/scmadmin/scmadmin/web/provider"
)

// metrics are what /metrics exposes. Each server has its own registry, so that tests (and
// several servers in one process) never share counts.
type metrics struct {
	registry    *prometheus.Registry
	requests    *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	deliveries  *prometheus.CounterVec
	connections *prometheus.CounterVec
}

func newMetrics(st *store.Store) *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scmadmin_http_requests_total", Help: "HTTP requests answered, by route and status code.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "scmadmin_http_request_duration_seconds", Help: "Time to answer HTTP requests, by route.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 15},
		}, []string{"route"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scmadmin_webhook_deliveries_total", Help: "Webhook deliveries to a configuration, by result (accepted, duplicate, ignored, refused; unauthorized: a bad signature; unread: a body refused before its signature could be checked).",
		}, []string{"result"}),
		connections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scmadmin_connection_tests_total", Help: "Connection tests run, by provider and outcome (passed, or the id of the step that failed).",
		}, []string{"provider", "outcome"}),
	}
	// Known series start at zero, so that rates and alerts work before the first event.
	for _, result := range []string{store.DeliveryAccepted, store.DeliveryDuplicate, store.DeliveryIgnored, store.DeliveryRefused, "unauthorized", "unread"} {
		m.deliveries.WithLabelValues(result)
	}
	for _, p := range provider.Selectable() {
		m.connections.WithLabelValues(p.ID, "passed")
	}
	m.registry.MustRegister(m.requests, m.latency, m.deliveries, m.connections, newBuildHookCollector(st),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// observe counts a request by its route pattern (never its path, whose ids would make a
// series per configuration).
func (m *metrics) observe(c echo.Context, status int, took time.Duration) {
	route := c.Path()
	if route == "" {
		route = "unmatched"
	}
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(route).Observe(took.Seconds())
}

// buildHookCollector reads what waits for the build hook from the database at each scrape:
// every server sharing a database tells the same, and a restart loses no count.
type buildHookCollector struct {
	st                             *store.Store
	pending, failures, lastFailure *prometheus.Desc
}

func newBuildHookCollector(st *store.Store) buildHookCollector {
	return buildHookCollector{st: st,
		pending: prometheus.NewDesc("scmadmin_build_hook_pending",
			"Builds waiting to be delivered to SCMADMIN_BUILD_HOOK_URL.", nil, nil),
		failures: prometheus.NewDesc("scmadmin_build_hook_failures_total",
			"Attempts to deliver a build to SCMADMIN_BUILD_HOOK_URL that failed (no answer, or not 2xx).", nil, nil),
		lastFailure: prometheus.NewDesc("scmadmin_build_hook_last_failure_timestamp_seconds",
			"When the last attempt to deliver a build to the build hook failed (0: never).", nil, nil),
	}
}

func (c buildHookCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.pending
	ch <- c.failures
	ch <- c.lastFailure
}

func (c buildHookCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	tot, err := c.st.BuildHookTotals(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.pending, err)
		return
	}
	last := 0.0
	if !tot.FailedAt.IsZero() {
		last = float64(tot.FailedAt.UnixNano()) / 1e9
	}
	ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(tot.Pending))
	ch <- prometheus.MustNewConstMetric(c.failures, prometheus.CounterValue, float64(tot.Failures))
	ch <- prometheus.MustNewConstMetric(c.lastFailure, prometheus.GaugeValue, last)
}

func (m *metrics) handler() echo.HandlerFunc {
	return echo.WrapHandler(promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{}))
}
