package web

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/scmadmin/scmadmin/static"
	"github.com/scmadmin/scmadmin/store"
)

// routes registers every route of the application, the pages, the webhook receiver, health and metrics.
func (s *server) routes(e *echo.Echo) {
	e.Use(requestID, s.logRequests, middleware.Recover(), s.secureHeaders, middleware.BodyLimitWithConfig(middleware.BodyLimitConfig{
		Limit: "1M",
		// The webhook receiver answers an oversized delivery itself, and records it.
		Skipper: func(c echo.Context) bool { return strings.HasPrefix(c.Request().URL.Path, "/hooks/") },
	}))

	e.GET("/healthz", s.healthz)
	e.HEAD("/healthz", s.healthz)
	e.GET("/metrics", s.metrics.handler())
	e.GET("/static/*", echo.WrapHandler(static.Handler()))
	e.HEAD("/static/*", echo.WrapHandler(static.Handler()))
	// Bitbucket's deliveries: no session, no CSRF token; the signature authenticates.
	e.POST("/hooks/scm/:id", s.receiveWebhook)
	e.GET("/hooks/scm/:id", hookTakesPost)

	s.apiRoutes(e)

	// Everything a browser submits forms to checks the CSRF token.
	g := e.Group("", s.csrf)
	g.GET("/", func(c echo.Context) error { return c.Redirect(http.StatusSeeOther, "/admin/scm") })
	g.GET("/login", s.showLogin)
	g.POST("/login", s.login)
	g.POST("/logout", s.logout)

	// Sign-in is checked first, so that anyone not signed in is sent to it, whatever they post.
	account := e.Group("/account", s.requireUser, s.csrf)
	account.GET("", s.showAccount)
	account.GET("/password", s.showPasswordForm)
	account.POST("/password", s.changePassword)

	a := e.Group("/admin", s.requireAdmin, s.csrf)
	a.GET("/scm", s.listSCM)
	a.GET("/scm/new", s.newSCM)
	a.POST("/scm", s.createSCM)
	a.POST("/scm/test", s.testForm)
	a.GET("/scm/:id", s.showSCM)
	a.GET("/scm/:id/edit", s.editSCM)
	a.POST("/scm/:id", s.updateSCM)
	a.POST("/scm/:id/test", s.testSCM)
	a.GET("/scm/:id/delete", s.confirmDeleteSCM)
	a.GET("/scm/:id/webhook/rotate", s.confirmRotateWebhookSecret)
	a.POST("/scm/:id/webhook/rotate", s.rotateWebhookSecret)
	a.GET("/scm/:id/webhook/secret", s.showWebhookSecret)
	a.POST("/scm/:id/webhook/install", s.installWebhook)
	a.POST("/scm/:id/webhook/ping", s.pingWebhook)
	a.GET("/scm/:id/webhook/activity", s.webhookActivity)
	for name, la := range lifecycleActions {
		a.POST("/scm/:id/"+name, s.lifecycle(la))
	}
	a.GET("/audit", s.listAudit)
	a.GET("/api-keys", s.listAPIKeys)
	a.POST("/api-keys", s.createAPIKey)
	a.POST("/api-keys/:name/revoke", s.revokeAPIKey)
	a.GET("/audit.csv", s.exportAudit)
	s.userRoutes(a)
}

// userRoutes registers the users page and the changes it makes to accounts, under /admin.
func (s *server) userRoutes(a *echo.Group) {
	a.GET("/users", s.listUsers)
	a.POST("/users", s.addUser)
	a.POST("/users/:username/admin", s.changeUser(s.setUserAdmin))
	a.POST("/users/:username/disable", s.changeUser(s.setUserDisabled(true)))
	a.POST("/users/:username/enable", s.changeUser(s.setUserDisabled(false)))
	a.POST("/users/:username/password", s.setUserPassword)
}

// apiRoutes registers the JSON API, under /v1: an API key authenticates, no session, no CSRF
// token; the OAuth round trip runs in a signed-in browser, and its status and revoke take
// either.
func (s *server) apiRoutes(e *echo.Echo) {
	e.GET("/v1/openapi.json", s.openAPI)
	e.GET("/v1/scms/:id/oauth/start", s.startOAuth, s.requireUser)
	e.GET("/v1/scms/oauth/finish", s.finishOAuth, s.requireUser)
	e.GET("/v1/scms/:id/oauth/finish", s.finishOAuth, s.requireUser)
	e.GET("/v1/scms/:id/oauth/status", s.oauthStatus, s.keyOrSession(store.ScopeRead))
	e.POST("/v1/scms/:id/oauth/revoke", s.revokeOAuth, s.keyOrSession(store.ScopeAdmin))
	v1 := e.Group("/v1", s.requireAPIKey(store.ScopeRead))
	v1.GET("/scms", s.listSCMs)
	v1.GET("/scms/:id", s.showSCMJSON)
	v1.GET("/scms/:id/repositories", s.listRepositoriesJSON)
	v1.GET("/builds", s.listBuilds)
	e.POST("/v1/scms/:id/repositories", s.createRepositoryJSON, s.requireAPIKey(store.ScopeAdmin))
	e.DELETE("/v1/scms/:id/repositories/:name", s.forgetRepositoryJSON, s.requireAPIKey(store.ScopeAdmin))
	e.POST("/v1/scms/:id/builds", s.startBuildJSON, s.requireAPIKey(store.ScopeAdmin))
	v1admin := e.Group("/v1/admin", s.requireAPIKey(store.ScopeAdmin))
	v1admin.POST("/scms", s.createSCMJSON)
	v1admin.PATCH("/scms/:id", s.updateSCMJSON)
	v1admin.DELETE("/scms/:id", s.deleteSCMJSON)
	v1admin.POST("/scms/:id/default", s.makeDefaultJSON)
	v1admin.POST("/scms/:id/test", s.testSCMJSON)
}
