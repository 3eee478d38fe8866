package web

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/scmadmin/scmadmin/store"
	"github.com/scmadmin/scmadmin/views"
	"github.com/scmadmin/scmadmin/web/action"
	"github.com/scmadmin/scmadmin/web/probe"
	"github.com/scmadmin/scmadmin/web/provider"
)

// maxDelivery is the largest webhook body accepted (over 1 MiB: 413); maxReceiving
// is how many deliveries are checked and recorded at once.
const (
	maxDelivery  = 1 << 20
	maxReceiving = 16
)

func (s *server) webhookURL(id string) string {
	return s.baseURL + "/hooks/scm/" + id
}

// receiveWebhook takes a host's deliveries (the specification's "Build-on-checkin webhooks"
// and "Algorithm repositories and builds"), in the format the catalog gives its provider. It
// needs no session: the signature authenticates. It never logs a body.
func (s *server) receiveWebhook(c echo.Context) error {
	target, err := s.loadWebhookTarget(c)
	if err != nil || target.format == nil {
		return err // without a format, the 404 is answered
	}
	cfg, format := target.cfg, target.format
	h := c.Request().Header
	d := store.Delivery{ConfigID: cfg.ID, RequestID: truncate(h.Get(format.DeliveryHeader), 100),
		Event: truncate(h.Get(format.EventHeader), 100)}
	body, refused := s.readDelivery(c)
	if refused != nil {
		return s.refuseUnread(c, cfg.ID, refused)
	}
	// Checking and recording: a bounded number at once.
	select {
	case s.receiving <- struct{}{}:
		defer func() { <-s.receiving }()
	case <-c.Request().Context().Done():
		return c.Request().Context().Err()
	}
	if format.PingEvent != "" && d.Event == format.PingEvent {
		return c.String(http.StatusOK, "pong")
	}
	if !target.authentic(h.Get(format.SignatureHeader), body, time.Now()) {
		s.metrics.deliveries.WithLabelValues("unauthorized").Inc()
		if err := s.st.CountWebhookFailure(c.Request().Context(), cfg.ID); err != nil {
			return err
		}
		return c.String(http.StatusUnauthorized, "bad or missing "+format.SignatureHeader)
	}
	status, result, reason, b := judgeDelivery(cfg, format, d.Event, body)
	return s.answerDelivery(c, d, status, result, reason, b)
}

// hookTakesPost answers an admin who opens a webhook URL in a browser, to check it: the URL
// is right, and the host POSTs its deliveries there.
func hookTakesPost(c echo.Context) error {
	c.Response().Header().Set(echo.HeaderAllow, http.MethodPost)
	return c.String(http.StatusMethodNotAllowed, "This is a webhook URL: the source code host POSTs its push deliveries "+
		"here, signed with the configuration's webhook secret. A browser cannot open it; its configuration's page tells "+
		"what it received.")
}

// webhookTarget is what taking a delivery to a configuration needs: the configuration, how its
// host delivers (nil: it takes no deliveries), and the secrets a delivery may be signed with.
// The server keeps it (webhookTargets) while neither the configurations nor the secrets change,
// so that a delivery reads neither, and opens no sealed secret.
type webhookTarget struct {
	cfg    store.SCMConfig
	format *provider.WebhookFormat
	// secrets are the webhook secret and those rotations replaced, each accepted until the end
	// of its grace.
	secrets store.WebhookSecrets
}

// maxCachedWebhookTargets bounds the webhook targets kept: more than the configurations that push.
const maxCachedWebhookTargets = 1024

// authentic reports whether header signs body with the webhook secret, or at now with one it
// replaced within its grace period, as the host's format says.
func (t webhookTarget) authentic(header string, body []byte, now time.Time) bool {
	if t.format.Authentic(header, body, t.secrets.Current) {
		return true
	}
	for _, r := range t.secrets.Replaced {
		if now.Before(r.Until) && t.format.Authentic(header, body, r.Secret) {
			return true
		}
	}
	return false
}

// loadWebhookTarget returns the target the :id names; when there is no such configuration or it
// takes no deliveries, it answers 404 and returns a target without a format.
func (s *server) loadWebhookTarget(c echo.Context) (webhookTarget, error) {
	ref := configID(c)
	t, err := s.webhookTargets.load(c.Request().Context(), s.versions.read, ref, func(ctx context.Context) (webhookTarget, error) {
		return s.readWebhookTarget(ctx, ref)
	})
	var unopened unopenedSecrets
	if errors.As(err, &unopened) {
		s.log.Error("open webhook secret", "config", t.cfg.ID, "err", unopened.err)
		err = nil // checked against no secret, every delivery is refused and counted
	}
	if r, ok := action.AsRefusal(err); ok && errors.Is(r, store.ErrNotFound) {
		return t, c.String(http.StatusNotFound, "no such configuration")
	} else if err != nil {
		return t, err
	}
	if t.format == nil {
		return t, c.String(http.StatusNotFound, "no webhook for this configuration")
	}
	return t, nil
}

// unopenedSecrets is the error of a target whose secrets could not be opened (sealed under a
// key this server's key file lacks, say). The target is not kept: the key may come.
type unopenedSecrets struct{ err error }

func (u unopenedSecrets) Error() string { return "open webhook secret: " + u.err.Error() }

// readWebhookTarget reads the target ref names from the store.
func (s *server) readWebhookTarget(ctx context.Context, ref string) (webhookTarget, error) {
	cfg, p, err := s.actions.Load(ctx, ref)
	if err != nil || p.Webhook == nil {
		return webhookTarget{cfg: cfg}, err
	}
	secrets, err := s.st.WebhookSecrets(ctx, cfg.ID)
	if err != nil {
		return webhookTarget{cfg: cfg, format: p.Webhook}, unopenedSecrets{err}
	}
	return webhookTarget{cfg: cfg, format: p.Webhook, secrets: secrets}, nil
}

// judgeDelivery decides what a signed delivery to cfg does: a build, or why none. Whether
// the repository is one of cfg's registered ones the store decides, as it records the build.
func judgeDelivery(cfg store.SCMConfig, format *provider.WebhookFormat, event string, body []byte) (status int, result, reason string, b *store.Build) {
	if !cfg.Enabled {
		return http.StatusConflict, store.DeliveryRefused, "the configuration is disabled", nil
	}
	if event != format.PushEvent {
		return http.StatusAccepted, store.DeliveryIgnored, "event " + strconv.Quote(event) + " starts no build", nil
	}
	push, err := format.Parse(body)
	if err != nil {
		return http.StatusBadRequest, store.DeliveryRefused, "malformed JSON", nil
	}
	switch {
	case push.Commit == "":
		return http.StatusAccepted, store.DeliveryIgnored, truncate(push.Skip, 300), nil
	case cfg.ProjectKey != "" && !strings.EqualFold(push.Owner, cfg.ProjectKey):
		return http.StatusAccepted, store.DeliveryIgnored, truncate(fmt.Sprintf("repository %s is outside project %s", push.FullName(), cfg.ProjectKey), 300), nil
	case !provider.IsCommitID(push.Commit):
		return http.StatusBadRequest, store.DeliveryRefused, "malformed push: its new head " + strconv.Quote(truncate(push.Commit, 50)) +
			" is not a commit id (40 hexadecimal digits)", nil
	}
	b = &store.Build{ProjectKey: push.Owner, Repository: push.Repository, Commit: strings.ToLower(push.Commit), Actor: push.Actor, PushedAt: push.At}
	return http.StatusAccepted, store.DeliveryAccepted, truncate(fmt.Sprintf("build of %s at %s", b.FullName(), truncate(b.Commit, 12)), 300), b
}

// answerDelivery records d with its outcome (and the build it starts) and answers it.
func (s *server) answerDelivery(c echo.Context, d store.Delivery, status int, result, reason string, b *store.Build) error {
	d.Status, d.Result, d.Reason = status, result, reason
	recorded, err := s.st.RecordDelivery(c.Request().Context(), d, b)
	if err != nil {
		return err
	}
	s.metrics.deliveries.WithLabelValues(recorded.Result).Inc()
	return c.String(status, recorded.Result+": "+recorded.Reason)
}

// loopback says why no host can deliver to webhook URLs under base when base is this
// machine's own loopback name, as it is by default; "" otherwise.
func loopback(base *url.URL) string {
	if ip := net.ParseIP(base.Hostname()); base.Hostname() == "localhost" || (ip != nil && ip.IsLoopback()) {
		return "The webhook URL is on " + base.Host + ", which only this machine can reach: Bitbucket cannot deliver " +
			"to it. Start scmadmin with SCMADMIN_BASE_URL (or --base-url) set to the address Bitbucket reaches it at."
	}
	return ""
}

// webhookWarnings says what is wrong with webhook URLs under base: a loopback host, plain http.
func webhookWarnings(base *url.URL) string {
	var warn []string
	if l := loopback(base); l != "" {
		warn = append(warn, l)
	}
	if base.Scheme == "http" {
		warn = append(warn, "The webhook URL is plain http: every push, and the host's signature of it, crosses the network "+
			"unencrypted, and many hosts refuse such URLs. Set SCMADMIN_BASE_URL to the https:// address scmadmin is served at.")
	}
	return strings.Join(warn, " ")
}

// loadWebhookSCM returns the configuration the :id names, if its host delivers pushes.
func (s *server) loadWebhookSCM(c echo.Context) (store.SCMConfig, *provider.Provider, error) {
	cfg, p, err := s.loadHostedSCM(c)
	if err == nil && !p.PushHooks() {
		err = echo.NewHTTPError(http.StatusBadRequest, "“"+cfg.DisplayName()+"” takes no pushes: its builds start by an API call.")
	}
	return cfg, p, err
}

// loadProjectHookSCM returns the configuration the :id names, if scmadmin installs its
// project's webhook: only then can the webhook be installed or pinged here (the other hosts'
// webhooks sit on each repository, made with the secret).
func (s *server) loadProjectHookSCM(c echo.Context) (store.SCMConfig, *provider.Provider, error) {
	cfg, p, err := s.loadHostedSCM(c)
	if err == nil && !p.ProjectHook() {
		err = echo.NewHTTPError(http.StatusBadRequest, "Only Bitbucket Server (build-on-checkin) configurations have a project webhook "+
			"to install or ping.")
	}
	return cfg, p, err
}

// confirmRotateWebhookSecret asks before a rotation: the new secret must then reach the host
// (every configuration but the built-in one has a webhook secret).
func (s *server) confirmRotateWebhookSecret(c echo.Context) error {
	cfg, p, err := s.loadHostedSCM(c)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.WebhookRotatePage(s.page(c, "Rotate the webhook secret of "+cfg.DisplayName()), cfg, p.ProjectHook()), nil)
}

// newWebhookSecretFlash is the session flash that carries a new webhook secret to the one
// page that shows it.
const newWebhookSecretFlash = "new-webhook-secret"

// rotateWebhookSecret makes a new secret and sends the browser (303) to the page that shows
// it, once: reloading that page neither rotates again nor shows the secret again.
func (s *server) rotateWebhookSecret(c echo.Context) error {
	cfg, _, err := s.loadHostedSCM(c)
	if err != nil {
		return err
	}
	secret := action.NewWebhookSecret()
	if err := s.st.RotateWebhookSecret(c.Request().Context(), cfg.ID, secret, actor(c)); err != nil {
		return err
	}
	// The session keeps only which secret may be shown (its fingerprint): the secret itself
	// stays sealed in the store.
	s.keepFlash(c, newWebhookSecretFlash, cfg.Ref+"\n"+store.Fingerprint(secret))
	if err := s.setStatus(c, "Made a new webhook secret. The old one keeps working for 24 hours."); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, views.WebhookSecretURL(cfg.Ref))
}

// showWebhookSecret shows the secret the rotation just made, this once (and only while it is
// still the current one); afterwards it sends the browser to the configuration's page.
func (s *server) showWebhookSecret(c echo.Context) error {
	cfg, p, err := s.loadHostedSCM(c)
	if err != nil {
		return err
	}
	flash, err := s.popFlash(c, newWebhookSecretFlash)
	if err != nil {
		return err
	}
	secrets, err := s.st.OpenSecrets(c.Request().Context(), cfg.ID)
	if err != nil {
		return err
	}
	secret := secrets[store.WebhookSecret]
	if flash != cfg.Ref+"\n"+store.Fingerprint(secret) {
		if err := s.setStatus(c, "A new webhook secret is shown only once, right after Rotate webhook secret: rotate it again to see another."); err != nil {
			return err
		}
		return c.Redirect(http.StatusSeeOther, views.DetailsURL(cfg.Ref))
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return render(c, http.StatusOK, views.WebhookSecretPage(s.page(c, "New webhook secret for "+cfg.DisplayName()), cfg, s.webhookURL(cfg.Ref), secret,
		p.ProjectHook()), nil)
}

// installWebhook creates (or updates) the project's webhook on Bitbucket; refused (409) while
// the webhook URL is on loopback, which Bitbucket can never reach.
func (s *server) installWebhook(c echo.Context) error {
	if reason := s.webhookLoopback; reason != "" {
		cfg, p, err := s.loadProjectHookSCM(c)
		if err != nil {
			return err
		}
		pg := s.page(c, cfg.DisplayName())
		pg.Alert = "Not installed: " + reason
		return s.renderDetails(c, http.StatusConflict, cfg, p, pg, nil)
	}
	return s.webhookCall(c, func(cfg store.SCMConfig, t probe.Target) (string, error) {
		// A configuration from before webhooks existed gets its secret now, once however many ask.
		secret, err := s.st.EnsureWebhookSecret(c.Request().Context(), cfg.ID, action.NewWebhookSecret(), actor(c))
		if err != nil {
			return "", err
		}
		updated, err := s.checker.InstallWebhook(c.Request().Context(), t, s.webhookURL(cfg.Ref), secret)
		if err != nil {
			return "", err
		}
		if err := s.st.RecordWebhookInstalled(c.Request().Context(), cfg.ID, actor(c)); err != nil {
			return "", err
		}
		verb := "Installed"
		if updated {
			verb = "Updated"
		}
		return fmt.Sprintf("%s the webhook on project %s: every push to master in its repositories now starts a build.", verb, cfg.ProjectKey), nil
	})
}

// pingWebhook asks Bitbucket to deliver a test event.
func (s *server) pingWebhook(c echo.Context) error {
	return s.webhookCall(c, func(cfg store.SCMConfig, t probe.Target) (string, error) {
		return s.checker.PingWebhook(c.Request().Context(), t, s.webhookURL(cfg.Ref))
	})
}

// webhookCall runs call against the configuration's Bitbucket: 303 back to the details page
// with what happened, or the page with the failure in plain words (502).
func (s *server) webhookCall(c echo.Context, call func(store.SCMConfig, probe.Target) (string, error)) error {
	cfg, p, err := s.loadProjectHookSCM(c)
	if err != nil {
		return err
	}
	secrets, err := s.st.OpenSecrets(c.Request().Context(), cfg.ID)
	if err != nil {
		return err
	}
	done, err := call(cfg, action.Target(p, cfg, secrets))
	if msg, ok := probe.HostMessage(err); ok {
		pg := s.page(c, cfg.DisplayName())
		pg.Alert = msg
		return s.renderDetails(c, http.StatusBadGateway, cfg, p, pg, nil)
	} else if err != nil {
		return err
	}
	if err := s.setStatus(c, done); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, views.DetailsURL(cfg.Ref))
}

// recentOnDetails is how many deliveries and builds the details page lists.
const recentOnDetails = 10

// webhookActivity is the details page's deliveries and builds; htmx refreshes it while the
// page is open.
func (s *server) webhookActivity(c echo.Context) error {
	cfg, p, err := s.loadWebhookSCM(c)
	if err != nil {
		return err
	}
	w, err := s.webhookDetails(c, cfg, p)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.WebhookActivity(w), nil)
}

// buildHookDetails is what of configuration id's builds waits for the build hook.
func (s *server) buildHookDetails(ctx context.Context, id int64) (views.BuildHook, error) {
	status, err := s.st.BuildHookStatus(ctx, id)
	return views.BuildHook{On: s.buildHook, Status: status}, err
}

// webhookDetails is what the details page shows of cfg's webhook and its activity.
func (s *server) webhookDetails(c echo.Context, cfg store.SCMConfig, p *provider.Provider) (views.Webhook, error) {
	ctx := c.Request().Context()
	w := views.Webhook{ConfigID: cfg.Ref, URL: s.webhookURL(cfg.Ref), ProjectHook: p.ProjectHook(), Unreachable: s.webhookWarning}
	var err error
	if w.Status, err = s.st.WebhookStatus(ctx, cfg.ID); err != nil {
		return w, err
	}
	if w.BuildHook, err = s.buildHookDetails(ctx, cfg.ID); err != nil {
		return w, err
	}
	if w.Deliveries, err = s.st.Deliveries(ctx, cfg.ID, recentOnDetails); err != nil {
		return w, err
	}
	w.Builds, err = s.st.Builds(ctx, cfg.ID, recentOnDetails)
	return w, err
}
