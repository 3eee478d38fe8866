package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"time"

	"github.com/scmadmin/scmadmin/store"
	"github.com/scmadmin/scmadmin/web"
	"github.com/scmadmin/scmadmin/web/action"
	"github.com/scmadmin/scmadmin/web/probe"
)

// defaultMemoryLimit is the soft memory limit of the Go heap unless GOMEMLIMIT says otherwise.
const defaultMemoryLimit = 24 << 20

// shutdownGrace bounds how long a stopping server waits for requests in flight: longer than
// the longest one, a connection test.
const shutdownGrace = probe.TotalTimeout + 5*time.Second

func serve(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cfg, rest, err := parseCommand("serve", args, getenv, nil)
	if errors.Is(err, flag.ErrHelp) {
		return err
	} else if err != nil || len(rest) > 0 {
		return fmt.Errorf("serve: bad arguments %q\n%s", args, usage)
	}
	log := slog.New(slog.NewJSONHandler(stdout, nil))
	if getenv("GOMEMLIMIT") == "" {
		// A soft limit: the GC works harder near it instead of letting the heap double.
		debug.SetMemoryLimit(defaultMemoryLimit)
	}

	wcfg, err := cfg.checkSettings(log, getenv)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	defer ln.Close()
	baseURL := cfg.baseURL(ln.Addr())
	wcfg.BaseURL = baseURL

	st, err := cfg.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := cfg.prepare(ctx, st, log, getenv, stdout); err != nil {
		return err
	}
	app, err := web.New(wcfg, st)
	if err != nil {
		return err
	}
	// The build hook starts before serving, so that no build is recorded without it, and
	// stops (its builds in flight given back) before the database closes.
	hookDone, err := cfg.startBuildHook(ctx, st, wcfg)
	if err != nil {
		return err
	}
	defer func() { <-hookDone }()
	// The background work stops with the server, before the deferred close of the store.
	defer runBackground(ctx, app)()
	log.Info("scmadmin is serving", "addr", ln.Addr().String(), "url", baseURL+"/login", "db", cfg.dbName(),
		"recheck_interval", wcfg.RecheckInterval.String())
	attending := attend(ctx, st, ln.Addr().String(), log)
	defer func() { <-attending }()
	return serveUntilDone(ctx, ln, app, log)
}

// checkSettings checks every setting before anything is written: a bad one must not leave a
// new database, a key file, or the first admin's password in the log of a failed start.
func (c *config) checkSettings(log *slog.Logger, getenv func(string) string) (web.Config, error) {
	wcfg, err := c.webConfig(log)
	if err != nil {
		return wcfg, err
	}
	if c.BuildHookURL != "" {
		if err := c.buildHook(wcfg).Check(); err != nil {
			return wcfg, err
		}
	}
	if c.ConfigFile != "" {
		if _, err := readConfigFile(c.ConfigFile, nil, getenv); err != nil {
			return wcfg, fmt.Errorf("SCMADMIN_CONFIG_FILE (--config-file): %w", err)
		}
	}
	return wcfg, nil
}

// prepare readies st to be served: its secrets open with the key file, the configuration file
// applied (and applied again on SIGHUP), the first admin made.
func (c *config) prepare(ctx context.Context, st *store.Store, log *slog.Logger, getenv func(string) string, stdout io.Writer) error {
	if err := st.CheckKeys(ctx); err != nil {
		return fmt.Errorf("%w: %s is not the key file this database was encrypted with; point --key-file "+
			"(SCMADMIN_KEY_FILE) at the right one", err, c.keyFile())
	}
	// The configuration file first: what only the database can refuse in it (a duplicate, a
	// lifecycle rule) stops the start before the first admin's password is made and shown.
	if c.ConfigFile != "" {
		cf := &configFileApplier{path: c.ConfigFile, getenv: getenv, a: action.New(st, nil, log, nil, nil), log: log}
		if err := cf.apply(ctx, "start"); err != nil {
			return fmt.Errorf("SCMADMIN_CONFIG_FILE (--config-file): %w", err)
		}
		cf.onSIGHUP(ctx)
	}
	return firstAdmin(ctx, st, getenv("SCMADMIN_ADMIN_PASSWORD"), stdout)
}

// runBackground runs app's background work until stop, which waits for it to end.
func runBackground(ctx context.Context, app *web.App) (stop func()) {
	bg, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		app.Background(bg)
	}()
	return func() {
		cancel()
		<-done
	}
}

// startBuildHook runs the build hook until ctx is done, when SCMADMIN_BUILD_HOOK_URL is set;
// the channel closes once it has stopped.
func (c *config) startBuildHook(ctx context.Context, st *store.Store, wcfg web.Config) (<-chan struct{}, error) {
	done := make(chan struct{})
	if c.BuildHookURL == "" {
		close(done)
		return done, nil
	}
	hook, err := web.NewBuildHook(ctx, c.buildHook(wcfg), st)
	if err != nil {
		return nil, err
	}
	go func() {
		defer close(done)
		hook.Run(ctx)
	}()
	return done, nil
}

// attendEvery is how often a server records that it runs and which key it seals with;
// serversGone is how long one that stopped recording counts as running all the same.
const (
	attendEvery = time.Second
	serversGone = 10 * attendEvery
)

// attend records, until ctx is done, that this server runs and which key of the key file it
// has loaded, for `scmadmin keys rotate` to wait for (see store.RecordServer); then it takes
// the server off the list. The returned channel closes when it has.
func attend(ctx context.Context, st *store.Store, addr string, log *slog.Logger) <-chan struct{} {
	host, _ := os.Hostname()
	id, name, started := rand.Text(), fmt.Sprintf("%s pid %d on %s", host, os.Getpid(), addr), time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(attendEvery)
		defer tick.Stop()
		for {
			if err := st.RecordServer(ctx, id, name, started); err != nil && ctx.Err() == nil {
				log.Warn("could not record this server as running", "err", err)
			}
			select {
			case <-tick.C:
			case <-ctx.Done():
				fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				st.ForgetServer(fctx, id)
				return
			}
		}
	}()
	return done
}

// buildHook is the build hook's configuration.
func (c *config) buildHook(wcfg web.Config) web.BuildHookConfig {
	return web.BuildHookConfig{URL: c.BuildHookURL, Secret: c.buildHookSecret, ExtraCAs: wcfg.ExtraCAs, Logger: wcfg.Logger}
}

// serveUntilDone serves h on ln until ctx is done, then lets the requests in flight finish
// for shutdownGrace.
func serveUntilDone(ctx context.Context, ln net.Listener, h http.Handler, log *slog.Logger) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing requests in flight")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("requests still in flight after the grace period: closing them", "grace", shutdownGrace)
		srv.Close() // before the deferred store close, so that no handler outlives the database
		if !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
	}
	return nil
}

// webConfig is what the web application needs of the configuration, but the base URL, known
// once listening.
func (c *config) webConfig(log *slog.Logger) (web.Config, error) {
	cas, err := c.extraCAs()
	if err != nil {
		return web.Config{}, err
	}
	proxies, err := c.trustedProxies()
	if err != nil {
		return web.Config{}, err
	}
	recheck, err := c.recheckInterval()
	if err != nil {
		return web.Config{}, err
	}
	return web.Config{Logger: log, ExtraCAs: cas, TrustedProxies: proxies, BuildHook: c.BuildHookURL != "",
		RecheckInterval: recheck}, nil
}

// firstAdmin makes the cluster admin "admin" when the database has no user yet, with the
// given password or a random one that it prints once.
func firstAdmin(ctx context.Context, st *store.Store, password string, stdout io.Writer) error {
	random := password == ""
	if random {
		password = rand.Text()
	}
	created, err := st.CreateFirstAdmin(ctx, "admin", password)
	if err != nil {
		return fmt.Errorf("SCMADMIN_ADMIN_PASSWORD: %w", err)
	}
	switch {
	case created && random:
		fmt.Fprintf(stdout, "\n  First start: created the cluster admin %q with the password\n\n      %s\n\n"+
			"  It is shown only this once. Sign in and keep it somewhere safe;\n"+
			"  change it with: scmadmin user passwd admin\n\n", "admin", password)
	case created:
		fmt.Fprintln(stdout, `First start: created the cluster admin "admin" with the password from SCMADMIN_ADMIN_PASSWORD.`)
	}
	return nil
}
