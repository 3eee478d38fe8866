package web

import (
	"net/http"
	"strings"
	"testing"
)

func TestMetrics(t *testing.T) {
	app := newTestApp(t)
	c := app.adminClient()
	c.get("/admin/scm").wantStatus(http.StatusOK)
	c.get("/admin/scm/999").wantStatus(http.StatusNotFound)
	app.client().post("/hooks/scm/1", nil) // the built-in has no webhook: 404

	// No session needed.
	r := app.client().get("/metrics").wantStatus(http.StatusOK)
	for _, want := range []string{
		`scmadmin_http_requests_total{code="200",route="/admin/scm"} 1`,
		`scmadmin_http_requests_total{code="404",route="/admin/scm/:id"} 1`,
		`scmadmin_http_request_duration_seconds_bucket{route="/admin/scm",le="+Inf"} 1`,
		`# TYPE scmadmin_webhook_deliveries_total counter`,
		`# TYPE scmadmin_connection_tests_total counter`,
		`go_goroutines`,
	} {
		if !strings.Contains(r.body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(r.body, "/admin/scm/999") {
		t.Error("a path with an id became a label")
	}
}
