// Package web is scmadmin's HTTP application: the Source Code Management screen, sign-in, and
// the routes the product specification lists.
package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/scmadmin/scmadmin/store"
	"github.com/scmadmin/scmadmin/web/action"
	"github.com/scmadmin/scmadmin/web/probe"
)

// Config is what the web application needs to know about its deployment.
type Config struct {
	// BaseURL is the public URL, shown in callback and webhook URLs; https:// turns on
	// Secure cookies and HSTS.
	BaseURL string
	Logger  *slog.Logger
	// ExtraCAs are PEM certificates that connection tests trust besides the system roots.
	ExtraCAs []byte
	// TrustedProxies are the reverse proxies whose X-Forwarded-For is believed.
	TrustedProxies []*net.IPNet
	// BuildHook says whether builds are POSTed to SCMADMIN_BUILD_HOOK_URL (see BuildHook),
	// for the details page.
	BuildHook bool
	// RecheckInterval is how often Background tests every enabled configuration again; 0
	// turns the continuous health checks off.
	RecheckInterval time.Duration
}

// server holds the handlers' dependencies; every handler is a method on it.
type server struct {
	st      *store.Store
	log     *slog.Logger
	baseURL string
	secure  bool
	// webhookWarning says why Bitbucket cannot reach the webhook URLs, if the base URL shows it.
	webhookWarning string
	// webhookLoopback says why no host can reach the webhook URLs, when they are on loopback:
	// Install webhook is then refused.
	webhookLoopback string
	buildHook       bool
	sessions        *sessionStore
	versions        *dataVersions
	users           *cache[int64, store.User]
	// lists holds the list's rendered views (see renderedList).
	lists *cache[listKey, renderedList]
	// crossOrigin refuses state changes that browsers say come from another origin.
	crossOrigin    *http.CrossOriginProtection
	checker        *probe.Checker
	actions        *action.Actions
	metrics        *metrics
	signIns        *signInLimiter
	badKeys        *failureWindows // bad API keys per address
	apiKeys        *cache[[32]byte, store.APIKey]
	apiAnswers     *cache[string, []byte] // the encoded answers of the API's GET routes
	webhookTargets *cache[string, webhookTarget]
	hashing        *hashQueue // sign-ins' argon2 hashes
	heartbeat      heartbeat  // /healthz's proof that the database can be written
	// receiving bounds the webhook deliveries checked and recorded at once; bodies, the
	// bodies being read (see readDelivery).
	receiving   chan struct{}
	bodies      bodyReaders
	bodyTimeout time.Duration
	// recheckInterval is Config.RecheckInterval.
	recheckInterval time.Duration
}

// App is the application: its routes, and the work it does in the background.
type App struct {
	*echo.Echo
	s *server
}

// New returns the application, every route registered, over st.
func New(cfg Config, st *store.Store) (*App, error) {
	e, s, err := newServer(cfg, st)
	return &App{Echo: e, s: s}, err
}

// Background does the application's work that no request asks for — the continuous health
// checks — until ctx is done, and returns once the work in flight has stopped.
func (a *App) Background(ctx context.Context) {
	if a.s.recheckInterval > 0 {
		a.s.rechecker(a.s.recheckInterval).Run(ctx)
	}
}

func newServer(cfg Config, st *store.Store) (*echo.Echo, *server, error) {
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, nil, fmt.Errorf("web: base URL %q must be an absolute http:// or https:// URL", cfg.BaseURL)
	}
	if cfg.Logger == nil {
		return nil, nil, errors.New("web: no logger")
	}
	checker, err := probe.New(cfg.ExtraCAs)
	if err != nil {
		return nil, nil, err
	}
	s := &server{
		checker:    checker,
		metrics:    newMetrics(st),
		signIns:    newSignInLimiter(st),
		badKeys:    newFailureWindows(badKeysAllowed, badKeyWindow, st, "API keys from"),
		versions:   &dataVersions{st: st},
		apiKeys:    newCache[[32]byte, store.APIKey](maxCachedAPIKeys, func(v store.Versions) uint64 { return v.APIKeys }),
		apiAnswers: newCache[string, []byte](maxCachedAPIAnswers, func(v store.Versions) uint64 { return v.Configs }),
		users:      newCache[int64, store.User](maxCachedUsers, func(v store.Versions) uint64 { return v.Users }),
		lists:      newCache[listKey, renderedList](maxCachedLists, func(v store.Versions) uint64 { return v.Configs }),
		// Each counter only grows: their sum changes when either does.
		webhookTargets: newCache[string, webhookTarget](maxCachedWebhookTargets, func(v store.Versions) uint64 { return v.Configs + v.Secrets }),

		bodyTimeout: bodyTimeout,
		hashing:     newHashQueue(hashPlaces),

		receiving: make(chan struct{}, maxReceiving),
		st:        st,
		log:       cfg.Logger,
		baseURL:   strings.TrimRight(cfg.BaseURL, "/"),
		secure:    u.Scheme == "https",

		webhookWarning:  webhookWarnings(u),
		webhookLoopback: loopback(u),
		buildHook:       cfg.BuildHook,

		crossOrigin: http.NewCrossOriginProtection(),

		recheckInterval: cfg.RecheckInterval,
	}
	s.metrics.registry.MustRegister(newHealthMetric(st))
	s.actions = action.New(st, checker, cfg.Logger, s.countTest, s.webhookURL)
	s.sessions = newSessionStore(st, s.versions, s.secure)
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.IPExtractor = ipExtractor(cfg.TrustedProxies)
	e.HTTPErrorHandler = s.handleError
	s.routes(e)
	return e, s, nil
}
