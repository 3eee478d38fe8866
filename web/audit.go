package web

import (
	"encoding/csv"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/scmadmin/scmadmin/store"
	"github.com/scmadmin/scmadmin/views"
)

const (
	auditPerPage    = 50
	maxAuditPerPage = 200
	// auditExportBatch is how many events an export reads at a time.
	auditExportBatch = 1000
)

// auditFilter reads the audit trail's filters from the query: who, action, and config (a
// configuration's id as pages name it, or else part of the name of what an event concerns).
func (s *server) auditFilter(c echo.Context) (views.AuditFilter, store.AuditQuery, error) {
	f := views.AuditFilter{Who: strings.TrimSpace(c.QueryParam("who")), Action: c.QueryParam("action"),
		Config: strings.TrimSpace(c.QueryParam("config"))}
	q := store.AuditQuery{Actor: f.Who, Action: f.Action}
	if f.Config == "" {
		return f, q, nil
	}
	isID, err := s.st.AuditNamesConfig(c.Request().Context(), f.Config)
	if isID {
		q.ConfigRef = f.Config
	} else {
		q.Target = f.Config
	}
	return f, q, err
}

func (s *server) listAudit(c echo.Context) error {
	a := views.AuditList{Page: 1, PerPage: auditPerPage}
	if n, err := strconv.Atoi(c.QueryParam("page")); err == nil && n > 0 {
		a.Page = min(n, maxPage)
	}
	if n, err := strconv.Atoi(c.QueryParam("per_page")); err == nil && n > 0 {
		a.PerPage = min(n, maxAuditPerPage)
	}
	f, q, err := s.auditFilter(c)
	if err != nil {
		return err
	}
	a.Filter = f
	q.Limit, q.Offset = a.PerPage, (a.Page-1)*a.PerPage
	a.Events, a.Total, err = s.st.ListAudit(c.Request().Context(), q)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.AuditPage(s.page(c, "Audit trail"), a), nil)
}

// exportAudit writes every event the filters select as CSV, newest first: what the audit
// trail shows, all its pages.
func (s *server) exportAudit(c echo.Context) error {
	_, q, err := s.auditFilter(c)
	if err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	h.Set(echo.HeaderContentDisposition, `attachment; filename="scmadmin-audit.csv"`)
	c.Response().WriteHeader(http.StatusOK)
	w := csv.NewWriter(c.Response())
	w.Write([]string{"id", "time", "who", "from", "action", "configuration_id", "concerns", "changes"})
	for q.Limit = auditExportBatch; ; {
		evs, _, err := s.st.ListAudit(c.Request().Context(), q)
		if err != nil {
			return err // the response has begun: the log has the error, the file ends short
		}
		for _, ev := range evs {
			w.Write(auditRecord(ev))
		}
		if len(evs) < q.Limit {
			break
		}
		q.BeforeID = evs[len(evs)-1].ID
	}
	w.Flush()
	return w.Error()
}

// auditRecord is ev as a CSV record.
func auditRecord(ev store.AuditEvent) []string {
	var changes []string
	for _, ch := range ev.Changes {
		changes = append(changes, ch.Field+": "+ch.From+" → "+ch.To)
	}
	return []string{strconv.FormatInt(ev.ID, 10), ev.At.UTC().Format("2006-01-02T15:04:05Z"), spreadsheetSafe(ev.Actor.Username),
		ev.Actor.Addr, ev.Action, ev.ConfigRef, spreadsheetSafe(ev.Target), spreadsheetSafe(strings.Join(changes, "; "))}
}

// spreadsheetSafe keeps a spreadsheet from reading a cell as a formula: a failed sign-in
// records whatever name was typed.
func spreadsheetSafe(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}
