// Package probe talks to source code hosts. Check tests, step by step, that a host is what a
// configuration says and gives the platform what it needs: the name resolves, the port
// answers, the certificate is valid, the API is that product at a supported version, the
// credentials work with enough permission, and SSH greets. Each step says what it found and
// what to do next. The same bounded client installs Bitbucket Server's webhook.
package probe

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/scmadmin/scmadmin/store"
)

// Status is a step's outcome, as the pages' data-status names it.
type Status string

// Step outcomes.
const (
	Passed  Status = "passed"
	Failed  Status = "failed"
	Warning Status = "warning"
	Skipped Status = "skipped" // an earlier step failed
)

// Step is one check of the list.
type Step struct {
	ID     string // stable name, the pages' data-step: dns, tcp, tls, product, token, project, permission, credentials, ssh
	Title  string // what is checked, in a few words
	Status Status
	Detail string // what was found and, unless it passed, what to do
}

// Result is a whole check.
type Result struct {
	At    time.Time // when it got its place and started
	Steps []Step
	// Waited is how long it waited for a place, which its time limit does not include.
	Waited time.Duration
	// Interrupted is set when the check could not run fully: no place, or the caller gave
	// up. Its failures may then say nothing of the host.
	Interrupted bool
	// What the host told along the way, zero when it did not: when the token and the
	// certificate expire, and how many API calls its rate limit has left (-1: not told).
	TokenExpires, CertExpires time.Time
	RateLimitLeft             int64
}

// Complete reports whether every step ran as far as the host let it: a result that may be
// kept as the configuration's health.
func (r Result) Complete() bool { return !r.Interrupted && len(r.Steps) > 0 }

// waitShown is how long a wait for a place must be to be shown as a step of its own.
const waitShown = 500 * time.Millisecond

// Passed reports whether no step failed (warnings pass).
func (r Result) Passed() bool {
	for _, s := range r.Steps {
		if s.Status == Failed {
			return false
		}
	}
	return len(r.Steps) > 0
}

// Warned reports whether a step warned.
func (r Result) Warned() bool {
	for _, s := range r.Steps {
		if s.Status == Warning {
			return true
		}
	}
	return false
}

// FirstFailure returns the first failed step, if any.
func (r Result) FirstFailure() (Step, bool) {
	for _, s := range r.Steps {
		if s.Status == Failed {
			return s, true
		}
	}
	return Step{}, false
}

// Target is what to check: a configuration (stored, or as a form typed it), its secrets in
// plain text by field name, and how to talk to its host.
type Target struct {
	store.SCMConfig
	Secrets map[string]string
	Family  Family
}

// Family names how a provider's host is talked to; the provider catalog names each
// provider's, so that adding a provider of a known family touches no code here.
type Family string

// The families.
const (
	BitbucketServer Family = "bitbucket_server"
	GitHub          Family = "github"
	GitLab          Family = "gitlab"
	BitbucketCloud  Family = "bitbucket_cloud"
)

// families are the steps each family checks between the network's and SSH's.
var families = map[Family][]stepFunc{
	BitbucketServer: {
		{"product", "Bitbucket Server 5.6 or newer", (*run).bitbucketVersion},
		{"token", "Access token authenticates", (*run).bitbucketToken},
		{"project", "Project exists", (*run).bitbucketProject},
		{"permission", "Token's user is project admin", (*run).bitbucketAdmin},
	},
	GitHub: {
		{"product", "API answers as GitHub", (*run).githubMeta},
		{"credentials", "OAuth client ID and secret", (*run).githubCredentials},
	},
	GitLab: {
		{"product", "API answers as GitLab", (*run).gitlabVersion},
		{"credentials", "OAuth application ID and secret", (*run).gitlabCredentials},
	},
	BitbucketCloud: {
		{"product", "API answers as Bitbucket Cloud", (*run).bitbucketCloudAPI},
		{"credentials", "OAuth consumer key and secret", (*run).bitbucketCloudCredentials},
	},
}

// Limits of a check, so that a slow or dead host never holds a request for long.
const (
	StepTimeout  = 5 * time.Second
	TotalTimeout = 15 * time.Second
	MaxBody      = 1 << 20
	// MaxRunning is how many checks may run at once; more wait for a place.
	MaxRunning = 4
)

// Checker runs checks. It is safe for concurrent use.
type Checker struct {
	roots   *x509.CertPool
	lookup  func(ctx context.Context, host string) ([]string, error)
	running chan struct{}
	now     func() time.Time
	// stepTimeout and totalTimeout are the limits; tests shorten them.
	stepTimeout, totalTimeout time.Duration
}

// New returns a Checker trusting the system roots plus the PEM certificates in extraCAs
// (SCMADMIN_CA_FILE's content; may be empty).
func New(extraCAs []byte) (*Checker, error) {
	roots, err := x509.SystemCertPool()
	if err != nil || roots == nil {
		roots = x509.NewCertPool()
	}
	if len(extraCAs) > 0 && !roots.AppendCertsFromPEM(extraCAs) {
		return nil, errors.New("probe: the CA file holds no PEM certificate")
	}
	return &Checker{
		roots:        roots,
		lookup:       net.DefaultResolver.LookupHost,
		running:      make(chan struct{}, MaxRunning),
		now:          time.Now,
		stepTimeout:  StepTimeout,
		totalTimeout: TotalTimeout,
	}, nil
}

// Check runs every step for t, within TotalTimeout from when it gets one of the
// MaxRunning places: time spent waiting for one is not the host's, and is shown as waiting.
// A step after a failed one is skipped.
func (c *Checker) Check(ctx context.Context, t Target) Result {
	queued := c.now()
	release, ok := c.acquire(ctx)
	if !ok {
		detail := "Too many connection tests are running at once. Try again in a moment."
		if ctx.Err() != nil {
			detail = "The test was cancelled before it started."
		}
		return Result{At: queued.UTC(), Interrupted: true, Steps: []Step{{ID: "queue", Title: "A place to run", Status: Failed, Detail: detail}}}
	}
	defer release()
	r := Result{At: c.now().UTC(), RateLimitLeft: -1}
	r.Waited = r.At.Sub(queued)
	if r.Waited >= waitShown {
		r.Steps = append(r.Steps, Step{ID: "queue", Title: "A place to run", Status: Passed, Detail: fmt.Sprintf(
			"Waited %s for one of the %d places that connection tests share; the test's own time started after.",
			r.Waited.Round(100*time.Millisecond), MaxRunning)})
	}
	budget, cancel := context.WithTimeout(ctx, c.totalTimeout)
	defer cancel()
	run := c.newRun(budget, t, &r)
	for _, s := range c.plan(t) {
		step := Step{ID: s.id, Title: s.title}
		if run.failed {
			step.Status, step.Detail = Skipped, "Skipped: an earlier step failed. Fix that first."
		} else {
			step.Status, step.Detail = s.check(run)
			run.failed = step.Status == Failed
		}
		r.Steps = append(r.Steps, step)
	}
	r.Interrupted = ctx.Err() != nil
	return r
}

// acquire waits, as long as a whole check may take, for one of the MaxRunning places that
// every call to a host shares.
func (c *Checker) acquire(ctx context.Context) (release func(), ok bool) {
	if ctx.Err() != nil {
		return nil, false
	}
	wait, cancel := context.WithTimeout(ctx, c.totalTimeout)
	defer cancel()
	select {
	case c.running <- struct{}{}:
		return func() { <-c.running }, true
	case <-wait.Done():
		return nil, false
	}
}

type stepFunc struct {
	id, title string
	check     func(*run) (Status, string)
}

// run is the state one check carries from step to step.
type run struct {
	c      *Checker
	ctx    context.Context
	t      Target
	failed bool
	addrs  []string // what the API host resolved to
	http   *http.Client
	// told is the result's record of what the host told besides the steps' outcomes.
	told *Result
}

// newRun is a run of calls to t's host within ctx, keeping what the host tells in told (a
// throwaway one outside a connection test: a call that is not a test keeps nothing of it).
func (c *Checker) newRun(ctx context.Context, t Target, told *Result) *run {
	if told == nil {
		told = &Result{}
	}
	return &run{c: c, ctx: ctx, t: t, told: told}
}

// plan lists the steps for t's family: the network's, the family's own, then SSH.
func (c *Checker) plan(t Target) []stepFunc {
	own, ok := families[t.Family]
	if !ok {
		return nil
	}
	steps := []stepFunc{
		{"dns", "Name resolves", (*run).resolve},
		{"tcp", "Port accepts connections", (*run).connect},
		{"tls", "Certificate is valid", (*run).verifyTLS},
	}
	steps = append(steps, own...)
	return append(steps, stepFunc{"ssh", "SSH answers", (*run).sshBanner})
}

// getAPI GETs u, a URL of the host's API; failure says so when the host did not answer.
func (r *run) getAPI(u string, prepare func(*http.Request)) (res response, failure string) {
	res, err := r.call(http.MethodGet, u, nil, prepare)
	if err != nil {
		return res, fmt.Sprintf("%s did not answer (%s). Check the API URL.", u, plainError(err))
	}
	return res, ""
}

// stepCtx bounds one step.
func (r *run) stepCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.ctx, r.c.stepTimeout)
}

func (r *run) apiURL() (*url.URL, error) { return url.Parse(r.t.APIURL) }

// hostPort is the API URL's host and port (443 unless given).
func (r *run) hostPort() (host, port string) {
	u, err := r.apiURL()
	if err != nil {
		return "", ""
	}
	port = u.Port()
	if port == "" {
		port = "443"
	}
	return u.Hostname(), port
}

func (r *run) resolve() (Status, string) {
	host, _ := r.hostPort()
	if host == "" {
		return Failed, "The API URL has no host name. Correct the API URL."
	}
	ctx, cancel := r.stepCtx()
	defer cancel()
	addrs, err := r.c.lookup(ctx, host)
	if err != nil || len(addrs) == 0 {
		if ctx.Err() != nil {
			return Failed, fmt.Sprintf("Looking up %s took longer than %s. Check this server's DNS settings.", host, r.c.stepTimeout)
		}
		return Failed, fmt.Sprintf("%s does not resolve to an address (%s). Check the spelling of the API URL, "+
			"and that this server uses a DNS that knows the host.", host, plainError(err))
	}
	r.addrs = addrs
	return Passed, fmt.Sprintf("%s resolves to %s.", host, strings.Join(addrs, ", "))
}

// dial connects to host:port through the addresses the name resolved to (for the API host)
// or resolves host itself (for the SSH host).
func (r *run) dial(ctx context.Context, host, port string) (net.Conn, error) {
	addrs := r.addrs
	if apiHost, _ := r.hostPort(); host != apiHost || len(addrs) == 0 {
		var err error
		if addrs, err = r.c.lookup(ctx, host); err != nil {
			return nil, err
		}
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("%s resolves to no address", host)
	}
	var d net.Dialer
	var err error
	for _, a := range addrs {
		var conn net.Conn
		if conn, err = d.DialContext(ctx, "tcp", net.JoinHostPort(a, port)); err == nil {
			return conn, nil
		}
	}
	return nil, err
}

func (r *run) connect() (Status, string) {
	host, port := r.hostPort()
	ctx, cancel := r.stepCtx()
	defer cancel()
	conn, err := r.dial(ctx, host, port)
	if err != nil {
		if ctx.Err() != nil {
			return Failed, fmt.Sprintf("%s:%s did not answer within %s. A firewall may drop the connection: check that this "+
				"server may reach it, and that the port is right.", host, port, r.c.stepTimeout)
		}
		return Failed, fmt.Sprintf("%s:%s refused the connection (%s). Check the port in the API URL and that the server is running.",
			host, port, plainError(err))
	}
	conn.Close()
	return Passed, fmt.Sprintf("%s:%s accepts connections.", host, port)
}

func (r *run) tlsConfig(host string) *tls.Config {
	return &tls.Config{RootCAs: r.c.roots, ServerName: host, MinVersion: tls.VersionTLS12}
}

// ExpiryWarning is how close to its expiry a certificate or a token is worth a warning.
const ExpiryWarning = 14 * 24 * time.Hour

// expiresSoon reports whether t, an expiry, is within ExpiryWarning of now, and in how many days.
func (r *run) expiresSoon(t time.Time) (bool, int) {
	left := t.Sub(r.c.now())
	return left < ExpiryWarning, int(left.Hours() / 24)
}

func (r *run) verifyTLS() (Status, string) {
	host, port := r.hostPort()
	ctx, cancel := r.stepCtx()
	defer cancel()
	raw, err := r.dial(ctx, host, port)
	if err != nil {
		return Failed, fmt.Sprintf("Could not connect again to %s:%s (%s).", host, port, plainError(err))
	}
	defer raw.Close()
	conn := tls.Client(raw, r.tlsConfig(host))
	if err := conn.HandshakeContext(ctx); err != nil {
		if ctx.Err() != nil {
			return Failed, fmt.Sprintf("%s:%s accepted the connection but did not answer the TLS handshake within %s. "+
				"Check that this port serves HTTPS (not plain HTTP or another protocol) and that nothing in between holds "+
				"the connection.", host, port, r.c.stepTimeout)
		}
		return Failed, tlsAdvice(host, err)
	}
	leaf := conn.ConnectionState().PeerCertificates[0]
	r.told.CertExpires = leaf.NotAfter.UTC()
	if soon, days := r.expiresSoon(leaf.NotAfter); soon {
		return Warning, fmt.Sprintf("The certificate of %s is valid but expires on %s, in %d days. Renew it before then, "+
			"or builds will fail.", host, leaf.NotAfter.UTC().Format("2006-01-02"), days)
	}
	return Passed, fmt.Sprintf("The certificate of %s is valid, issued by %s, until %s.", host,
		issuerName(leaf), leaf.NotAfter.UTC().Format("2006-01-02"))
}

func issuerName(c *x509.Certificate) string {
	if c.Issuer.CommonName != "" {
		return c.Issuer.CommonName
	}
	return c.Issuer.String()
}

// tlsAdvice says in plain words why a handshake with host failed and what to do.
func tlsAdvice(host string, err error) string {
	var unknown x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalid x509.CertificateInvalidError
	switch {
	case errors.As(err, &unknown):
		return fmt.Sprintf("The certificate of %s is not signed by an authority this server trusts. If your company uses "+
			"its own certificate authority, put its certificate (PEM) in the file SCMADMIN_CA_FILE names, and restart scmadmin; "+
			"otherwise give %s a certificate from a public authority.", host, host)
	case errors.As(err, &hostErr):
		return fmt.Sprintf("The certificate presented by %s is for %s, not for %s. Use the host name the certificate "+
			"names in the URL, or have the certificate reissued for %s.", host, certNames(hostErr.Certificate), host, host)
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		return fmt.Sprintf("The certificate of %s expired on %s. Renew it on the server.", host,
			invalid.Cert.NotAfter.UTC().Format("2006-01-02"))
	}
	return fmt.Sprintf("The TLS handshake with %s failed (%s). Check that the port serves HTTPS.", host, plainError(err))
}

func certNames(c *x509.Certificate) string {
	if c == nil {
		return "another name"
	}
	names := append([]string{}, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 && c.Subject.CommonName != "" {
		names = append(names, c.Subject.CommonName)
	}
	if len(names) == 0 {
		return "no name"
	}
	return strings.Join(names, ", ")
}

// client is the HTTP client of the API steps: it dials the addresses the name resolved to,
// verifies TLS as the tls step did, reads no redirect to another host, and keeps no
// connection after the check.
func (r *run) client() *http.Client {
	if r.http != nil {
		return r.http
	}
	r.http = &http.Client{
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
				h, p, _ := net.SplitHostPort(addr)
				return r.dial(ctx, h, p)
			},
			// No fixed ServerName: each request is verified against its own host.
			TLSClientConfig:   &tls.Config{RootCAs: r.c.roots, MinVersion: tls.VersionTLS12},
			DisableKeepAlives: true,
			ForceAttemptHTTP2: false,
		},
		// A redirect is followed only to the same host over HTTPS: elsewhere, or in clear text,
		// it would carry the token with it.
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if req.URL.Host != via[0].URL.Host || req.URL.Scheme != "https" || len(via) > 3 {
				return fmt.Errorf("redirected to %s, which is not followed", req.URL.Redacted())
			}
			return nil
		},
	}
	return r.http
}

// response is an API answer, its body read up to MaxBody.
type response struct {
	status int
	header http.Header
	body   []byte
}

// call makes one API request within the step's time.
func (r *run) call(method, rawURL string, body io.Reader, prepare func(*http.Request)) (response, error) {
	ctx, cancel := r.stepCtx()
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, rawURL, body)
	if err != nil {
		return response{}, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "scmadmin-connection-test")
	if prepare != nil {
		prepare(req)
	}
	res, err := r.client().Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return response{}, fmt.Errorf("no answer within %s", r.c.stepTimeout)
		}
		return response{}, err
	}
	defer res.Body.Close()
	r.rateLimit(res.Header)
	data, err := io.ReadAll(io.LimitReader(res.Body, MaxBody))
	if err != nil {
		return response{}, fmt.Errorf("reading the answer: %w", err)
	}
	return response{status: res.StatusCode, header: res.Header, body: data}, nil
}

// rateLimitHeaders are the headers in which hosts tell how many API calls are left: GitHub's,
// and GitLab's.
var rateLimitHeaders = []string{"X-RateLimit-Remaining", "RateLimit-Remaining"}

// rateLimit keeps what h tells of the API calls left, if it does.
func (r *run) rateLimit(h http.Header) {
	for _, name := range rateLimitHeaders {
		if n, err := strconv.ParseInt(h.Get(name), 10, 64); err == nil && n >= 0 {
			r.told.RateLimitLeft = n
			return
		}
	}
}

// plainError is err's message without the Go call chain's prefixes worth hiding.
func plainError(err error) string {
	if err == nil {
		return "no address"
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		if dnsErr.IsNotFound {
			return "no such host"
		}
		return dnsErr.Err
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Err != nil {
		return opErr.Err.Error()
	}
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		return urlErr.Err.Error()
	}
	return err.Error()
}

// sshBanner checks that the SSH URL's host and port greet as an SSH 2 server.
func (r *run) sshBanner() (Status, string) {
	u, err := url.Parse(r.t.SSHURL)
	if err != nil || u.Hostname() == "" {
		return Failed, "The SSH URL cannot be read. Correct it."
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "22"
	}
	ctx, cancel := r.stepCtx()
	defer cancel()
	conn, err := r.dial(ctx, host, port)
	if err != nil {
		return Failed, fmt.Sprintf("%s:%s does not accept SSH connections (%s). Check that SSH access is enabled on the "+
			"host and that the port at the end of the SSH URL is its SSH port.", host, port, plainError(err))
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	conn.SetReadDeadline(deadline)
	// A server may send other lines before its version line (RFC 4253, 4.2); what it sent
	// first is what to quote when none is one.
	var banner, first string
	lines := bufio.NewReader(io.LimitReader(conn, 8<<10))
	for range 20 {
		line, err := lines.ReadString('\n')
		banner = strings.TrimSpace(line)
		if first == "" {
			first = banner
		}
		if strings.HasPrefix(banner, "SSH-") || err != nil {
			break
		}
	}
	if !strings.HasPrefix(banner, "SSH-") {
		banner = first
	}
	if !strings.HasPrefix(banner, "SSH-2.0-") {
		if banner == "" {
			return Failed, fmt.Sprintf("%s:%s accepted the connection but sent no SSH greeting within %s. It is probably not "+
				"the SSH port: check the port at the end of the SSH URL.", host, port, r.c.stepTimeout)
		}
		return Failed, fmt.Sprintf("%s:%s answered %q, not an SSH 2 greeting. Check the port at the end of the SSH URL.",
			host, port, truncate(banner, 60))
	}
	return Passed, fmt.Sprintf("%s:%s greets as %s.", host, port, truncate(banner, 80))
}

// truncate cuts s to at most n bytes, never inside a UTF-8 character, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// versionAtLeast reports whether the dotted version v is at least want (major, minor).
func versionAtLeast(v string, major, minor int) (bool, bool) {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return false, false
	}
	maj, err1 := strconv.Atoi(parts[0])
	mnr, err2 := strconv.Atoi(strings.TrimRightFunc(parts[1], func(r rune) bool { return r < '0' || r > '9' }))
	if err1 != nil || err2 != nil {
		return false, false
	}
	return maj > major || (maj == major && mnr >= minor), true
}
