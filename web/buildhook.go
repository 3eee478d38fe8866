package web

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/scmadmin/scmadmin/store"
)

// The build hook (SCMADMIN_BUILD_HOOK_URL): every build is POSTed to the platform as the
// builds feed shows it, signed, at least once, in order per configuration, retried for as
// long as the platform fails, across restarts. The store's outbox holds what waits (written
// in the build's own transaction); this worker delivers it.

// Limits of the build hook.
const (
	// hookTimeout bounds one POST, answer included; hookLease is how long a claimed build is
	// this server's: longer than a POST, so that no other server takes it meanwhile.
	hookTimeout = 10 * time.Second
	hookLease   = 3 * hookTimeout
	// hookParallel is how many builds (of as many configurations) are in flight at once.
	hookParallel = 8
	// hookRun is how many of a configuration's waiting builds are claimed at once after its
	// first: posted one after the other, in order, and recorded delivered in one transaction.
	hookRun = 16
	// hookPoll is how often the outbox is looked at without being woken: for builds other
	// servers on the same PostgreSQL recorded, and leases that ran out.
	hookPoll = 2 * time.Second
	// hookGather is how long a woken worker lets builds gather before it claims them.
	hookGather = 20 * time.Millisecond
	// A failed build is tried again after a random time up to hookBackoff·2^attempts
	// (full jitter), at most hookMaxBackoff.
	hookBackoff    = 250 * time.Millisecond
	hookMaxBackoff = 10 * time.Minute
	// hookMaxAnswer is as much of the target's answer as is read (a failure quotes it).
	hookMaxAnswer = 4 << 10
)

// SignatureHeader carries the build hook's signature: sha256=HEX, the HMAC-SHA256 of the
// body keyed with SCMADMIN_BUILD_HOOK_SECRET.
const SignatureHeader = "X-Scmadmin-Signature"

// BuildHookConfig is where builds go and how they are signed.
type BuildHookConfig struct {
	URL    string // absolute http:// or https://
	Secret string
	// ExtraCAs are PEM certificates trusted besides the system roots (SCMADMIN_CA_FILE).
	ExtraCAs []byte
	Logger   *slog.Logger
}

// BuildHook delivers the outbox to the build hook's target.
type BuildHook struct {
	st     *store.Store
	target string
	secret []byte
	client *http.Client
	log    *slog.Logger
	owner  string // this server's name on its leases
	wake   <-chan struct{}
}

// Check refuses settings the build hook cannot work with: the server checks them before it
// writes anything.
func (cfg BuildHookConfig) Check() error {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Fragment != "" {
		return errors.New("SCMADMIN_BUILD_HOOK_URL (--build-hook-url) must be an absolute http:// or https:// URL")
	}
	if cfg.Secret == "" {
		return errors.New("SCMADMIN_BUILD_HOOK_SECRET must be set with SCMADMIN_BUILD_HOOK_URL (--build-hook-url): builds are signed with it")
	}
	return nil
}

// NewBuildHook checks cfg and turns the store's outbox on: from its return, every build
// recorded waits for the hook. Call it before serving; then Run.
func NewBuildHook(ctx context.Context, cfg BuildHookConfig, st *store.Store) (*BuildHook, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	roots, err := x509.SystemCertPool()
	if err != nil || roots == nil {
		roots = x509.NewCertPool()
	}
	if len(cfg.ExtraCAs) > 0 && !roots.AppendCertsFromPEM(cfg.ExtraCAs) {
		return nil, errors.New("SCMADMIN_CA_FILE holds no PEM certificate")
	}
	wake, err := st.StartBuildHook(ctx)
	if err != nil {
		return nil, err
	}
	return &BuildHook{
		st: st, target: cfg.URL, secret: []byte(cfg.Secret), log: cfg.Logger, owner: rand.Text(), wake: wake,
		// Its own bounded client: the platform is not a source code host, and must not wait
		// for the places connection tests share.
		client: &http.Client{
			Timeout:       hookTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			Transport: &http.Transport{
				TLSClientConfig:     &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
				MaxIdleConnsPerHost: hookParallel,
				IdleConnTimeout:     time.Minute,
			},
		},
	}, nil
}

// Run delivers until ctx is done, then waits for the builds in flight: those the target had
// not answered are given back, to be delivered again (at least once).
func (h *BuildHook) Run(ctx context.Context) {
	h.log.Info("build hook on", "url", redactURL(h.target))
	slots := make(chan struct{}, hookParallel)
	finished := make(chan struct{}, 1)
	var wg sync.WaitGroup
	defer wg.Wait()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		wait := hookPoll
		if free := hookParallel - len(slots); free > 0 {
			now := time.Now()
			claimed, due, err := h.st.ClaimBuildHooks(ctx, h.owner, now, now.Add(hookLease), free)
			switch {
			case ctx.Err() != nil:
				return
			case err != nil:
				h.log.Error("build hook: reading the outbox", "err", err)
			case len(claimed) == free:
				wait = 0 // more may be due
			case !due.IsZero():
				wait = min(wait, max(0, due.Sub(now)))
			}
			for _, d := range claimed {
				slots <- struct{}{}
				wg.Add(1)
				go func() {
					defer wg.Done()
					h.deliver(ctx, d)
					<-slots
					select {
					case finished <- struct{}{}:
					default:
					}
				}()
			}
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-h.wake:
			// Builds come in bursts: gathered for a moment, one claim starts a configuration's
			// chain (see deliver) instead of a claim each.
			gather(ctx)
		case <-finished:
		case <-timer.C:
		}
	}
}

// gather waits hookGather for builds to gather before a claim; false when ctx ended the wait.
func gather(ctx context.Context) bool {
	t := time.NewTimer(hookGather)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// deliver POSTs a claimed build and records what became of it, then its configuration's
// next ones, claimed in runs as each run is recorded delivered, while the target takes them.
func (h *BuildHook) deliver(ctx context.Context, d store.HookDelivery) {
	for run, tail := []store.HookDelivery{d}, false; len(run) > 0; tail = true {
		run = h.deliverRun(ctx, run, tail)
	}
}

// deliverRun POSTs a run of one configuration's claimed builds, in order, until the target
// does not take one or the run's lease is too short for another POST, and records what became
// of them in one transaction; it returns the configuration's next run when that was claimed
// with the record. A crash before the record sends the run's builds again: at least once.
// tail tells a run claimed with the previous one's record, which held all that waited when it
// is shorter than hookRun.
func (h *BuildHook) deliverRun(ctx context.Context, run []store.HookDelivery, tail bool) (next []store.HookDelivery) {
	sent, status, failure := 0, 0, ""
	for ; sent < len(run) && time.Until(run[sent].LeaseUntil) > hookTimeout; sent++ {
		if status, failure = h.postBuild(ctx, run[sent].Build); failure != "" {
			break
		}
	}
	o, claim := store.HookOutcome{Delivered: seqs(run[:sent])}, 0
	switch {
	case ctx.Err() != nil: // stopping: what the target did not answer is given back, not failed
		o.Released = seqs(run[sent:])
	case failure != "":
		d := run[sent]
		retry := hookRetryDelay(d.Attempts)
		h.log.Warn("build hook: the target did not take a build", "build", d.ID, "scm", d.ConfigRef,
			"attempts", d.Attempts+1, "status", status, "answer", failure, "retry_in", retry.Round(time.Millisecond).String())
		o.Failed, o.Status, o.Reason, o.RetryAt = d.Seq, status, failure, time.Now().Add(retry)
		o.Released = seqs(run[sent+1:])
	case sent == 0: // the lease ran short before the first
		o.Released = seqs(run)
	default: // all taken, or the lease runs short: the rest is claimed again with the next run
		claim = hookRun
		// Caught up with a steady stream (all of a short run taken): its next builds are let
		// gather, as after a wake, to be recorded and claimed in runs, not a transaction each.
		if tail && sent == len(run) && len(run) < hookRun && !gather(ctx) {
			claim = 0 // stopping
		}
	}
	// What the target said is recorded even as the server stops.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	now := time.Now()
	next, err := h.st.SettleBuildHooks(sctx, h.owner, o, now, now.Add(hookLease), claim)
	if err != nil {
		h.log.Error("build hook: recording deliveries", "builds", seqs(run), "err", err)
	}
	return next
}

// postBuild POSTs one build as the builds feed shows it.
func (h *BuildHook) postBuild(ctx context.Context, b store.Build) (status int, failure string) {
	body, err := json.Marshal(toBuildJSON(b))
	if err != nil {
		return 0, "encode the build: " + err.Error()
	}
	return h.post(ctx, body)
}

func seqs(ds []store.HookDelivery) []int64 {
	out := make([]int64, len(ds))
	for i, d := range ds {
		out[i] = d.Seq
	}
	return out
}

// post POSTs body to the target, signed; it returns the target's status (0 when it did not
// answer) and, unless it answered 2xx, what went wrong in words.
func (h *BuildHook) post(ctx context.Context, body []byte) (status int, failure string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.target, bytes.NewReader(body))
	if err != nil {
		return 0, err.Error()
	}
	mac := hmac.New(sha256.New, h.secret)
	mac.Write(body)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "scmadmin build hook")
	req.Header.Set(SignatureHeader, "sha256="+hex.EncodeToString(mac.Sum(nil)))
	res, err := h.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL, which may hold credentials
		}
		return 0, "no answer: " + err.Error()
	}
	defer res.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(res.Body, hookMaxAnswer))
	if res.StatusCode >= 200 && res.StatusCode < 300 {
		return res.StatusCode, ""
	}
	said := []rune(strings.Join(strings.Fields(string(answer)), " "))
	if len(said) > 200 {
		said = append(said[:200], '…')
	}
	return res.StatusCode, strings.TrimSuffix(fmt.Sprintf("%s: %s", res.Status, string(said)), ": ")
}

// hookRetryDelay is how long a build that failed attempts+1 times waits: full jitter over
// an exponential backoff, capped.
func hookRetryDelay(attempts int) time.Duration {
	ceiling := hookMaxBackoff
	if attempts < 32 {
		ceiling = min(hookMaxBackoff, hookBackoff<<attempts)
	}
	return mrand.N(ceiling + 1)
}

// redactURL is u without its user information and query, which may hold credentials, for the log.
func redactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return ""
	}
	p.User, p.RawQuery = nil, ""
	return p.String()
}
