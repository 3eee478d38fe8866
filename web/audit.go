package web

import (
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/scmadmin/scmadmin/store"
	"github.com/scmadmin/scmadmin/views"
)

const (
	auditPerPage    = 50
	maxAuditPerPage = 200
)

func (s *server) listAudit(c echo.Context) error {
	a := views.AuditList{Page: 1, PerPage: auditPerPage}
	if n, err := strconv.Atoi(c.QueryParam("page")); err == nil && n > 0 {
		a.Page = min(n, maxPage)
	}
	if n, err := strconv.Atoi(c.QueryParam("per_page")); err == nil && n > 0 {
		a.PerPage = min(n, maxAuditPerPage)
	}
	var err error
	a.Events, a.Total, err = s.st.ListAudit(c.Request().Context(), store.AuditQuery{Limit: a.PerPage, Offset: (a.Page - 1) * a.PerPage})
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.AuditPage(s.page(c, "Audit trail"), a), nil)
}
