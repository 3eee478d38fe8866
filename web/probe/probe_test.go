package probe

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scmadmin/scmadmin/store"
	"github.com/scmadmin/scmadmin/web/internal/fakehost"
)

// ---- helpers ------------------------------------------------------------------------------

var (
	bbSteps    = []string{"dns", "tcp", "tls", "product", "token", "project", "permission", "ssh"}
	oauthSteps = []string{"dns", "tcp", "tls", "product", "credentials", "ssh"}
)

// want is the expected "id:status …" of a run over ids: passed before at, st at at, and after
// it skipped when st is failed, passed otherwise. at == "" means every step passed.
func want(ids []string, at string, st Status) string {
	var parts []string
	after := false
	for _, id := range ids {
		s := Passed
		switch {
		case id == at:
			s, after = st, true
		case after && st == Failed:
			s = Skipped
		}
		parts = append(parts, id+":"+string(s))
	}
	return strings.Join(parts, " ")
}

func got(r Result) string {
	var parts []string
	for _, s := range r.Steps {
		parts = append(parts, s.ID+":"+string(s.Status))
	}
	return strings.Join(parts, " ")
}

func dump(r Result) string {
	var b strings.Builder
	for _, s := range r.Steps {
		fmt.Fprintf(&b, "\n  %-10s %-7s %s — %s", s.ID, s.Status, s.Title, s.Detail)
	}
	return b.String()
}

// expectSteps checks every step's ID and status, and the detail of skipped steps.
func expectSteps(t *testing.T, r Result, wantSteps string) {
	t.Helper()
	if g := got(r); g != wantSteps {
		t.Fatalf("steps:\n got  %s\n want %s%s", g, wantSteps, dump(r))
	}
	for _, s := range r.Steps {
		if s.Title == "" || s.Detail == "" {
			t.Errorf("step %s has an empty title or detail: %+v", s.ID, s)
		}
		if s.Status == Skipped && !strings.Contains(s.Detail, "earlier step failed") {
			t.Errorf("skipped step %s does not say why: %q", s.ID, s.Detail)
		}
	}
}

func stepOf(t *testing.T, r Result, id string) Step {
	t.Helper()
	for _, s := range r.Steps {
		if s.ID == id {
			return s
		}
	}
	t.Fatalf("no step %q in%s", id, dump(r))
	return Step{}
}

// detailHas checks that step id's detail holds every one of words (case-insensitively).
func detailHas(t *testing.T, r Result, id string, words ...string) {
	t.Helper()
	d := stepOf(t, r, id).Detail
	for _, w := range words {
		if !strings.Contains(strings.ToLower(d), strings.ToLower(w)) {
			t.Errorf("step %s: detail does not mention %q:\n  %s", id, w, d)
		}
	}
}

// expectFailure checks that the run failed at step id: the result does not pass and names it.
func expectFailure(t *testing.T, r Result, ids []string, id string) {
	t.Helper()
	expectSteps(t, r, want(ids, id, Failed))
	if r.Passed() {
		t.Errorf("Passed() = true for a result with a failed step")
	}
	if s, ok := r.FirstFailure(); !ok || s.ID != id {
		t.Errorf("FirstFailure() = %q, %v; want %q, true", s.ID, ok, id)
	}
}

func expectAllGreen(t *testing.T, r Result, ids []string) {
	t.Helper()
	expectSteps(t, r, want(ids, "", Passed))
	if !r.Passed() {
		t.Errorf("Passed() = false")
	}
	if s, ok := r.FirstFailure(); ok {
		t.Errorf("FirstFailure() = %+v, true; want none", s)
	}
}

// bbTarget is a Bitbucket Server configuration on the fake at apiPort with SSH at sshPort.
func bbTarget(apiPort, sshPort int) Target {
	return Target{Family: BitbucketServer,
		SCMConfig: store.SCMConfig{Provider: "bitbucket_server", WebsiteURL: fmt.Sprintf("https://bitbucket.test:%d", apiPort), APIURL: fmt.Sprintf("https://bitbucket.test:%d/rest/api/1.0", apiPort), SSHURL: fmt.Sprintf("ssh://git@bitbucket.test:%d", sshPort), ProjectKey: "ALGO"},
		Secrets:   map[string]string{store.FieldAccessToken: adminToken},
	}
}

// bitbucketUp serves a good fake Bitbucket with cert and an SSH server; it returns the target.
func bitbucketUp(t *testing.T, fb http.Handler, cert tls.Certificate) Target {
	t.Helper()
	return bbTarget(serveTLS(t, fb, cert), sshServer(t, fakehost.SSHBanner))
}

// ---- Bitbucket Server: the all-green path ---------------------------------------------------

func TestBitbucketServerAllGreen(t *testing.T) {
	pki := certs(t)
	for _, kind := range []string{"bitbucket_server", "bitbucket_server_api"} {
		t.Run(kind, func(t *testing.T) {
			fb := newFakeBitbucket()
			tg := bitbucketUp(t, fb, pki.good)
			tg.Provider = kind
			c := newChecker(t, pki.caPEM)
			at := time.Now().Add(-time.Minute)
			c.now = func() time.Time { return at }

			r := c.Check(context.Background(), tg)

			expectAllGreen(t, r, bbSteps)
			if !r.At.Equal(at) || r.At.Location() != time.UTC {
				t.Errorf("At = %v, want %v in UTC", r.At, at.UTC())
			}
			detailHas(t, r, "dns", "bitbucket.test", "127.0.0.1")
			detailHas(t, r, "tcp", "accepts")
			detailHas(t, r, "tls", "valid", "scmadmin test CA")
			detailHas(t, r, "product", "7.21.0")
			detailHas(t, r, "token", "admin")
			detailHas(t, r, "project", "ALGO", "Algorithms")
			detailHas(t, r, "permission", "admin", "ALGO")
			detailHas(t, r, "ssh", "SSH-2.0-SSHD-CORE-2.9.2")

			wantPaths := []string{
				"GET /rest/api/1.0/application-properties",
				"GET /rest/api/1.0/profile/recent/repos",
				"GET /rest/api/1.0/projects/ALGO",
				"GET /rest/api/1.0/projects/ALGO/permissions/users",
			}
			if g := strings.Join(fb.Paths(), ", "); g != strings.Join(wantPaths, ", ") {
				t.Errorf("requests:\n got  %s\n want %s", g, strings.Join(wantPaths, ", "))
			}
			for i, req := range fb.Calls() {
				auth := req.Header.Get("Authorization")
				if i == 0 && auth != "" {
					t.Errorf("%s sent Authorization %q; the version needs none", req.Path, auth)
				}
				if i > 0 && auth != "Bearer "+adminToken {
					t.Errorf("%s sent Authorization %q, want the bearer token", req.Path, auth)
				}
				if a := req.Header.Get("Accept"); !strings.Contains(a, "application/json") {
					t.Errorf("%s sent Accept %q", req.Path, a)
				}
			}
		})
	}
}

// The API URL is accepted with or without /rest/api/1.0, and with a trailing slash.
func TestBitbucketAPIURLWithOrWithoutRestPrefix(t *testing.T) {
	pki := certs(t)
	fb := newFakeBitbucket()
	tg := bitbucketUp(t, fb, pki.good)
	base := tg.WebsiteURL
	c := newChecker(t, pki.caPEM)
	for _, api := range []string{base, base + "/", base + "/rest/api/1.0", base + "/rest/api/1.0/"} {
		t.Run(api, func(t *testing.T) {
			tg := tg
			tg.APIURL = api
			r := c.Check(context.Background(), tg)
			expectAllGreen(t, r, bbSteps)
		})
	}
	for _, p := range fb.Paths() {
		if strings.Count(p, "/rest/api/1.0") != 1 || strings.Contains(p, "//") {
			t.Errorf("request to %q", p)
		}
	}
}

// ---- network failures -----------------------------------------------------------------------

func TestUnresolvableName(t *testing.T) {
	pki := certs(t)
	tg := bitbucketUp(t, newFakeBitbucket(), pki.good)
	tg.APIURL = strings.Replace(tg.APIURL, "bitbucket.test", "bitbucket.nowhere.test", 1)

	r := newChecker(t, pki.caPEM).Check(context.Background(), tg)

	expectFailure(t, r, bbSteps, "dns")
	detailHas(t, r, "dns", "bitbucket.nowhere.test", "does not resolve", "no such host", "API URL", "DNS")
}

func TestAPIURLWithoutHost(t *testing.T) {
	pki := certs(t)
	tg := bbTarget(1, 2)
	tg.APIURL = "bitbucket.test/rest/api/1.0"
	r := newChecker(t, pki.caPEM).Check(context.Background(), tg)
	expectFailure(t, r, bbSteps, "dns")
	detailHas(t, r, "dns", "no host name", "API URL")
}

// A resolver that never answers is cut at the step's time.
func TestSlowNameResolutionIsBounded(t *testing.T) {
	pki := certs(t)
	c := newChecker(t, pki.caPEM)
	c.stepTimeout = 300 * time.Millisecond
	c.totalTimeout = time.Second
	c.lookup = func(ctx context.Context, host string) ([]string, error) {
		<-ctx.Done()
		return nil, &net.DNSError{Err: "i/o timeout", Name: host, IsTimeout: true}
	}
	start := time.Now()
	r := c.Check(context.Background(), bbTarget(1, 2))
	if el := time.Since(start); el > 1500*time.Millisecond {
		t.Errorf("the check took %s", el)
	}
	expectFailure(t, r, bbSteps, "dns")
	detailHas(t, r, "dns", "bitbucket.test", "took longer than", "DNS")
}

func TestRefusedPort(t *testing.T) {
	pki := certs(t)
	port := closedPort(t)
	tg := bbTarget(port, sshServer(t, fakehost.SSHBanner))

	r := newChecker(t, pki.caPEM).Check(context.Background(), tg)

	expectFailure(t, r, bbSteps, "tcp")
	detailHas(t, r, "tcp", fmt.Sprintf("bitbucket.test:%d", port), "refused", "port", "running")
}

// A host that accepts the connection and then never says a word: the TLS handshake waits for
// ever unless the check bounds it.
func TestHostNeverAnswersIsBounded(t *testing.T) {
	pki := certs(t)
	dead := silentServer(t)
	c := newChecker(t, pki.caPEM)
	c.stepTimeout = 300 * time.Millisecond
	c.totalTimeout = time.Second

	start := time.Now()
	r := c.Check(context.Background(), bbTarget(dead.Port, sshServer(t, fakehost.SSHBanner)))
	elapsed := time.Since(start)

	if elapsed > 1500*time.Millisecond {
		t.Errorf("the check took %s; the limits are 300ms a step and 1s in all", elapsed)
	}
	if g := got(r); g != want(bbSteps, "tls", Failed) && g != want(bbSteps, "tcp", Failed) {
		t.Fatalf("steps: %s%s", g, dump(r))
	}
	if r.Passed() {
		t.Error("Passed() = true")
	}
	t.Run("detail says the host did not answer", func(t *testing.T) {
		s, _ := r.FirstFailure()
		d := strings.ToLower(s.Detail)
		if strings.Contains(d, "context deadline exceeded") || !strings.Contains(d, "answer") {
			t.Error("a TLS handshake cut by the step timeout reads " + fmt.Sprintf("%q", s.Detail) +
				"; want plain words that the host did not answer within the time and what to check")
		}
	})
}

// An HTTPS server whose API never answers: each call is cut at the step's time.
func TestAPINeverAnswersIsBounded(t *testing.T) {
	pki := certs(t)
	fb := newFakeBitbucket()
	fb.Override("/rest/api/1.0/application-properties", hang)
	tg := bitbucketUp(t, fb, pki.good)
	c := newChecker(t, pki.caPEM)
	c.stepTimeout = 300 * time.Millisecond
	c.totalTimeout = time.Second

	start := time.Now()
	r := c.Check(context.Background(), tg)
	if el := time.Since(start); el > 1500*time.Millisecond {
		t.Errorf("the check took %s", el)
	}
	expectFailure(t, r, bbSteps, "product")
	detailHas(t, r, "product", "application-properties", "did not answer", "300ms")
}

// hang never answers: when the client hangs up it drops the connection without a response
// (answering then could race the client's close and be read as an answer).
func hang(w http.ResponseWriter, r *http.Request) {
	<-r.Context().Done()
	panic(http.ErrAbortHandler)
}

// Steps that each answer in time still cannot take longer than the whole check's time.
func TestWholeCheckIsBounded(t *testing.T) {
	pki := certs(t)
	fb := newFakeBitbucket()
	slow := func(h http.Handler) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-time.After(250 * time.Millisecond):
				h.ServeHTTP(w, r)
			case <-r.Context().Done():
				panic(http.ErrAbortHandler)
			}
		}
	}
	tg := bitbucketUp(t, slow(fb), pki.good) // each of its four calls answers after 250ms
	c := newChecker(t, pki.caPEM)
	c.stepTimeout = 400 * time.Millisecond
	c.totalTimeout = 700 * time.Millisecond

	start := time.Now()
	r := c.Check(context.Background(), tg)
	if el := time.Since(start); el > 1200*time.Millisecond {
		t.Errorf("the check took %s; the whole check's limit is 700ms", el)
	}
	s, ok := r.FirstFailure()
	if !ok {
		t.Fatalf("no step failed although the steps need 1s in all:%s", dump(r))
	}
	expectFailure(t, r, bbSteps, s.ID)
	if s.ID == "dns" || s.ID == "tcp" || s.ID == "tls" {
		t.Errorf("failed at %s, before the slow API:%s", s.ID, dump(r))
	}
}

// ---- certificates -----------------------------------------------------------------------------

func TestUntrustedCertificate(t *testing.T) {
	pki := certs(t)
	for _, tc := range []struct {
		name  string
		cert  tls.Certificate
		trust []byte
	}{
		{"private CA, no CA file", pki.good, nil},
		{"private CA, another CA in the file", pki.good, pki.otherCAPEM},
		{"self-signed", pki.selfSigned, pki.caPEM},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tg := bitbucketUp(t, newFakeBitbucket(), tc.cert)
			r := newChecker(t, tc.trust).Check(context.Background(), tg)
			expectFailure(t, r, bbSteps, "tls")
			detailHas(t, r, "tls", "bitbucket.test", "not signed by an authority", "SCMADMIN_CA_FILE", "PEM")
		})
	}
}

// The same server as above is trusted once the CA's PEM (SCMADMIN_CA_FILE's content) is given to New.
func TestTrustedThroughCAFile(t *testing.T) {
	pki := certs(t)
	tg := bitbucketUp(t, newFakeBitbucket(), pki.good)

	r := newChecker(t, nil).Check(context.Background(), tg)
	expectFailure(t, r, bbSteps, "tls")

	r = newChecker(t, pki.caPEM).Check(context.Background(), tg)
	expectAllGreen(t, r, bbSteps)
	detailHas(t, r, "tls", "bitbucket.test", "issued by scmadmin test CA")
}

func TestNewRejectsACAFileWithoutCertificates(t *testing.T) {
	if _, err := New([]byte("not a certificate\n")); err == nil {
		t.Error("New accepted a CA file with no PEM certificate")
	}
	if c, err := New(nil); err != nil || c == nil {
		t.Errorf("New(nil) = %v, %v", c, err)
	}
}

func TestWrongHostName(t *testing.T) {
	pki := certs(t)
	tg := bitbucketUp(t, newFakeBitbucket(), pki.otherName)

	r := newChecker(t, pki.caPEM).Check(context.Background(), tg)

	expectFailure(t, r, bbSteps, "tls")
	detailHas(t, r, "tls", "other.test, www.other.test", "not for bitbucket.test", "reissued")
}

func TestExpiredCertificate(t *testing.T) {
	pki := certs(t)
	tg := bitbucketUp(t, newFakeBitbucket(), pki.expired)

	r := newChecker(t, pki.caPEM).Check(context.Background(), tg)

	expectFailure(t, r, bbSteps, "tls")
	detailHas(t, r, "tls", "bitbucket.test", "expired", pki.expired.Leaf.NotAfter.UTC().Format("2006-01-02"), "Renew")
}

func TestCertificateExpiringSoonIsAWarning(t *testing.T) {
	pki := certs(t)
	tg := bitbucketUp(t, newFakeBitbucket(), pki.soon)

	r := newChecker(t, pki.caPEM).Check(context.Background(), tg)

	expectSteps(t, r, want(bbSteps, "tls", Warning))
	if !r.Passed() {
		t.Error("Passed() = false; a warning passes")
	}
	if s, ok := r.FirstFailure(); ok {
		t.Errorf("FirstFailure() = %+v", s)
	}
	detailHas(t, r, "tls", "expires", pki.soon.Leaf.NotAfter.UTC().Format("2006-01-02"), "in 10 days", "Renew")
}

// The clock the checker is given decides the warning: the good certificate (a year left)
// warns when "now" is 13 days before its end (ExpiryWarning is 14 days).
func TestCertificateWarningFollowsTheClock(t *testing.T) {
	pki := certs(t)
	tg := bitbucketUp(t, newFakeBitbucket(), pki.good)
	c := newChecker(t, pki.caPEM)
	c.now = func() time.Time { return pki.good.Leaf.NotAfter.Add(-13*24*time.Hour - time.Hour) }
	r := c.Check(context.Background(), tg)
	expectSteps(t, r, want(bbSteps, "tls", Warning))
	detailHas(t, r, "tls", "in 13 days")
}

// ---- Bitbucket Server: the API --------------------------------------------------------------

func TestNotBitbucket(t *testing.T) {
	pki := certs(t)
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		status  string
	}{
		{"nginx 404 page", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Server", "nginx/1.25.3")
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, nginx404)
		}, "404"},
		{"another product's JSON", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusOK, `{"version":"8.5.4","buildNumber":"9012","displayName":"Confluence"}`)
		}, "200"},
		{"HTML with 200", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			io.WriteString(w, "<!doctype html><title>Welcome</title><p>It works!")
		}, "200"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tg := bbTarget(serveTLS(t, tc.handler, pki.good), sshServer(t, fakehost.SSHBanner))
			r := newChecker(t, pki.caPEM).Check(context.Background(), tg)
			expectFailure(t, r, bbSteps, "product")
			detailHas(t, r, "product", "answered "+tc.status, "not as Bitbucket Server", "/rest/api/1.0")
		})
	}
}

func TestBitbucketVersion(t *testing.T) {
	pki := certs(t)
	for _, tc := range []struct {
		version string
		ok      bool
	}{
		{"5.5.0", false},
		{"4.14.3", false},
		{"5.6.0", true},
		{"5.10.1", true}, // 10 > 6 as numbers, not as text
		{"10.0.1", true},
		{"8.9.0-m01", true},
	} {
		t.Run(tc.version, func(t *testing.T) {
			fb := newFakeBitbucket()
			fb.SetVersion(tc.version)
			r := newChecker(t, pki.caPEM).Check(context.Background(), bitbucketUp(t, fb, pki.good))
			if tc.ok {
				expectAllGreen(t, r, bbSteps)
				detailHas(t, r, "product", tc.version)
				return
			}
			expectFailure(t, r, bbSteps, "product")
			detailHas(t, r, "product", tc.version, "5.6 or newer", "Upgrade")
		})
	}
	t.Run("unreadable", func(t *testing.T) {
		fb := newFakeBitbucket()
		fb.SetVersion("banana")
		r := newChecker(t, pki.caPEM).Check(context.Background(), bitbucketUp(t, fb, pki.good))
		expectFailure(t, r, bbSteps, "product")
		detailHas(t, r, "product", `"banana"`, "cannot be read", "5.6")
	})
}

func TestBadToken(t *testing.T) {
	pki := certs(t)
	tg := bitbucketUp(t, newFakeBitbucket(), pki.good)
	tg.Secrets[store.FieldAccessToken] = "BBDC-wrong"

	r := newChecker(t, pki.caPEM).Check(context.Background(), tg)

	expectFailure(t, r, bbSteps, "token")
	detailHas(t, r, "token", "401", "“Authentication failed. Please check your credentials and try again.”",
		"personal access token")
}

func TestTokenCheckAnswersOddly(t *testing.T) {
	pki := certs(t)
	fb := newFakeBitbucket()
	fb.Override("/rest/api/1.0/profile/recent/repos", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	})
	r := newChecker(t, pki.caPEM).Check(context.Background(), bitbucketUp(t, fb, pki.good))
	expectFailure(t, r, bbSteps, "token")
	detailHas(t, r, "token", "500 Internal Server Error", "API URL")
}

func TestMissingProject(t *testing.T) {
	pki := certs(t)
	tg := bitbucketUp(t, newFakeBitbucket(), pki.good)
	tg.ProjectKey = "MISSING"

	r := newChecker(t, pki.caPEM).Check(context.Background(), tg)

	expectFailure(t, r, bbSteps, "project")
	detailHas(t, r, "project", "404", "“Project MISSING does not exist.”", "project key", "create the project")
}

func TestNoAdminPermission(t *testing.T) {
	pki := certs(t)
	tg := bitbucketUp(t, newFakeBitbucket(), pki.good)
	tg.Secrets[store.FieldAccessToken] = goodToken

	r := newChecker(t, pki.caPEM).Check(context.Background(), tg)

	expectFailure(t, r, bbSteps, "permission")
	detailHas(t, r, "token", "jdoe")
	detailHas(t, r, "permission", "401", "“You are not permitted to access this resource”", "Admin permission", "ALGO")
}

// ---- SSH ------------------------------------------------------------------------------------

func TestClosedSSHPort(t *testing.T) {
	pki := certs(t)
	port := closedPort(t)
	tg := bbTarget(serveTLS(t, newFakeBitbucket(), pki.good), port)

	r := newChecker(t, pki.caPEM).Check(context.Background(), tg)

	expectFailure(t, r, bbSteps, "ssh")
	detailHas(t, r, "ssh", fmt.Sprintf("bitbucket.test:%d", port), "does not accept SSH", "SSH access is enabled", "port")
}

func TestSSHPortSendsNoBanner(t *testing.T) {
	pki := certs(t)
	silent := silentServer(t)
	tg := bbTarget(serveTLS(t, newFakeBitbucket(), pki.good), silent.Port)
	c := newChecker(t, pki.caPEM)
	c.stepTimeout = 300 * time.Millisecond

	start := time.Now()
	r := c.Check(context.Background(), tg)
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("the check took %s with 300ms a step", el)
	}
	expectFailure(t, r, bbSteps, "ssh")
	detailHas(t, r, "ssh", "accepted the connection", "no SSH greeting", "300ms", "port")
}

func TestSSHPortIsNotSSH(t *testing.T) {
	pki := certs(t)
	tg := bbTarget(serveTLS(t, newFakeBitbucket(), pki.good), sshServer(t, "HTTP/1.1 400 Bad Request\r\n\r\n"))
	r := newChecker(t, pki.caPEM).Check(context.Background(), tg)
	expectFailure(t, r, bbSteps, "ssh")
	detailHas(t, r, "ssh", `"HTTP/1.1 400 Bad Request"`, "not an SSH 2 greeting")
}

func TestSSHURLForms(t *testing.T) {
	pki := certs(t)
	apiPort := serveTLS(t, newFakeBitbucket(), pki.good)
	sshPort := sshServer(t, fakehost.SSHBanner)
	c := newChecker(t, pki.caPEM)
	for _, u := range []string{
		fmt.Sprintf("ssh://git@bitbucket.test:%d", sshPort),
		fmt.Sprintf("ssh://bitbucket.test:%d", sshPort),
		fmt.Sprintf("ssh://git@bitbucket.test:%d/", sshPort),
	} {
		t.Run(u, func(t *testing.T) {
			tg := bbTarget(apiPort, sshPort)
			tg.SSHURL = u
			expectAllGreen(t, c.Check(context.Background(), tg), bbSteps)
		})
	}
	t.Run("unreadable", func(t *testing.T) {
		tg := bbTarget(apiPort, sshPort)
		tg.SSHURL = "ssh://"
		r := c.Check(context.Background(), tg)
		expectFailure(t, r, bbSteps, "ssh")
		detailHas(t, r, "ssh", "SSH URL cannot be read")
	})
	t.Run("unknown SSH host", func(t *testing.T) {
		tg := bbTarget(apiPort, sshPort)
		tg.SSHURL = fmt.Sprintf("ssh://git@ssh.nowhere.test:%d", sshPort)
		r := c.Check(context.Background(), tg)
		expectFailure(t, r, bbSteps, "ssh")
		detailHas(t, r, "ssh", "ssh.nowhere.test", "no such host")
	})
}

// ---- HTTP hardening -------------------------------------------------------------------------

func TestRedirectToAnotherHostIsNotFollowed(t *testing.T) {
	pki := certs(t)
	elsewhere := newFakeBitbucket()
	elsewherePort := serveTLS(t, elsewhere, pki.good)
	target := fmt.Sprintf("https://elsewhere.test:%d/rest/api/1.0/application-properties", elsewherePort)

	fb := newFakeBitbucket()
	fb.Override("/rest/api/1.0/application-properties", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target, http.StatusFound)
	})
	r := newChecker(t, pki.caPEM).Check(context.Background(), bitbucketUp(t, fb, pki.good))

	expectFailure(t, r, bbSteps, "product")
	detailHas(t, r, "product", "elsewhere.test", "not followed")
	if n := len(elsewhere.Calls()); n != 0 {
		t.Errorf("%d request(s) reached elsewhere.test: %v", n, elsewhere.Paths())
	}
}

// A redirect from https to http on the same host and port is a redirect to the same host, but
// following it sends the bearer token in clear text.
func TestRedirectToPlainHTTPDoesNotSendTheToken(t *testing.T) {
	pki := certs(t)
	fb := newFakeBitbucket()
	plain := &requestLog{}
	var port int
	fb.Override("/rest/api/1.0/profile/recent/repos", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, fmt.Sprintf("http://bitbucket.test:%d/rest/api/1.0/profile/recent/repos", port), http.StatusFound)
	})
	port = serveTLSAndPlain(t, fb, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		plain.add(r)
		writeJSON(w, http.StatusUnauthorized, fakehost.AuthFailed)
	}), pki.good)
	r := newChecker(t, pki.caPEM).Check(context.Background(), bbTarget(port, sshServer(t, fakehost.SSHBanner)))

	if r.Passed() {
		t.Errorf("passed:%s", dump(r))
	}
	if stepOf(t, r, "product").Status != Passed || stepOf(t, r, "token").Status != Failed {
		t.Errorf("steps: %s%s", got(r), dump(r))
	}
	for _, req := range plain.requests() {
		if auth := req.Header.Get("Authorization"); auth != "" {
			t.Errorf("following a redirect from https://bitbucket.test:%d to http://bitbucket.test:%d (same host and port) "+
				"sent %q over plain HTTP: %s %s; want the redirect refused (or the token dropped) because it leaves HTTPS",
				port, port, auth, req.Method, req.URL.Path)
		}
	}
}

// A redirect to the same host (a context path, say) is followed.
func TestRedirectOnTheSameHostIsFollowed(t *testing.T) {
	pki := certs(t)
	fb := newFakeBitbucket()
	fb.Override("/rest/api/1.0/application-properties", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/moved/application-properties", http.StatusMovedPermanently)
	})
	fb.Override("/moved/application-properties", fb.Properties)
	r := newChecker(t, pki.caPEM).Check(context.Background(), bitbucketUp(t, fb, pki.good))
	expectAllGreen(t, r, bbSteps)
}

// A body over MaxBody is cut there: the 5 MiB answer below holds its version only after the
// first MiB, so a check that read it all would pass the product step.
func TestLargeBodyIsCut(t *testing.T) {
	pki := certs(t)
	fb := newFakeBitbucket()
	var sent atomic.Int64
	fb.Override("/rest/api/1.0/application-properties", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"displayName":"Bitbucket","pad":"`)
		chunk := strings.Repeat("x", 32<<10)
		for i := 0; i < (5<<20)/len(chunk); i++ {
			n, err := io.WriteString(w, chunk)
			sent.Add(int64(n))
			if err != nil {
				return
			}
		}
		io.WriteString(w, `","version":"7.21.0"}`)
	})
	c := newChecker(t, pki.caPEM)
	start := time.Now()
	r := c.Check(context.Background(), bitbucketUp(t, fb, pki.good))
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("the check took %s", el)
	}
	expectFailure(t, r, bbSteps, "product")
	detailHas(t, r, "product", "answered 200", "not as Bitbucket Server")
	t.Logf("the fake wrote %d KiB before the probe hung up", sent.Load()>>10)
}

// The same body under MaxBody is read whole (the limit does not cut ordinary answers).
func TestBodyUnderTheLimitIsRead(t *testing.T) {
	pki := certs(t)
	fb := newFakeBitbucket()
	fb.Override("/rest/api/1.0/application-properties", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, `{"displayName":"Bitbucket","pad":"`+strings.Repeat("x", MaxBody-100)+`","version":"7.21.0"}`)
	})
	r := newChecker(t, pki.caPEM).Check(context.Background(), bitbucketUp(t, fb, pki.good))
	expectAllGreen(t, r, bbSteps)
}

// ---- GitHub, GitHub Enterprise, GitLab, Bitbucket Cloud ---------------------------------------

func TestGitHubAllGreen(t *testing.T) {
	pki := certs(t)
	gh := &fakeGitHub{ClientID: "Iv1.0123456789abcdef", Secret: "s3cret"}
	port := serveTLS(t, gh, pki.good)
	tg := Target{Family: GitHub,
		SCMConfig: store.SCMConfig{Provider: "github", WebsiteURL: fmt.Sprintf("https://github.test:%d", port), APIURL: fmt.Sprintf("https://api.github.test:%d", port), SSHURL: fmt.Sprintf("ssh://git@github.test:%d", sshServer(t, "SSH-2.0-babeld-3f2ea0c9\r\n")), ClientID: gh.ClientID},
		Secrets:   map[string]string{store.FieldClientSecret: gh.Secret},
	}
	r := newChecker(t, pki.caPEM).Check(context.Background(), tg)

	expectAllGreen(t, r, oauthSteps)
	detailHas(t, r, "dns", "api.github.test")
	detailHas(t, r, "product", "GitHub")
	detailHas(t, r, "credentials", "accepts the client ID and secret")
	detailHas(t, r, "ssh", "babeld")
	var post *http.Request
	for _, req := range gh.requests() {
		if req.Method == http.MethodPost {
			post = req
		}
	}
	if post == nil {
		t.Fatalf("no credentials request: %v", gh.paths())
	}
	if post.URL.Path != "/applications/Iv1.0123456789abcdef/token" || post.Host != fmt.Sprintf("api.github.test:%d", port) {
		t.Errorf("credentials asked at %s%s", post.Host, post.URL.Path)
	}
	if id, secret, ok := post.BasicAuth(); !ok || id != gh.ClientID || secret != gh.Secret {
		t.Errorf("basic auth %q %q %v", id, secret, ok)
	}
}

func ghTarget(t *testing.T, gh *fakeGitHub, cert tls.Certificate) Target {
	port := serveTLS(t, gh, cert)
	return Target{Family: GitHub,
		SCMConfig: store.SCMConfig{Provider: "github_enterprise", WebsiteURL: fmt.Sprintf("https://ghe.test:%d", port), APIURL: fmt.Sprintf("https://ghe.test:%d/api/v3", port), SSHURL: fmt.Sprintf("ssh://git@ghe.test:%d", sshServer(t, "SSH-2.0-babeld-3f2ea0c9\r\n")), ClientID: gh.ClientID},
		Secrets:   map[string]string{store.FieldClientSecret: gh.Secret},
	}
}

func TestGitHubEnterpriseAllGreen(t *testing.T) {
	pki := certs(t)
	gh := &fakeGitHub{Prefix: "/api/v3", InstalledVersion: "3.11.0", ClientID: "0123456789abcdef0123", Secret: "s3cret"}
	r := newChecker(t, pki.caPEM).Check(context.Background(), ghTarget(t, gh, pki.good))
	expectAllGreen(t, r, oauthSteps)
	detailHas(t, r, "product", "GitHub Enterprise Server 3.11.0")
	detailHas(t, r, "credentials", "accepts")
	if p := gh.paths(); len(p) != 2 || p[0] != "GET /api/v3/meta" || p[1] != "POST /api/v3/applications/0123456789abcdef0123/token" {
		t.Errorf("requests: %v", p)
	}
}

func TestGitHubBadCredentials(t *testing.T) {
	pki := certs(t)
	gh := &fakeGitHub{Prefix: "/api/v3", InstalledVersion: "3.11.0", ClientID: "0123456789abcdef0123", Secret: "s3cret"}
	tg := ghTarget(t, gh, pki.good)
	tg.Secrets[store.FieldClientSecret] = "wrong"
	r := newChecker(t, pki.caPEM).Check(context.Background(), tg)
	expectFailure(t, r, oauthSteps, "credentials")
	detailHas(t, r, "credentials", "refused the client ID or the client secret", "new client secret")
}

// When GitHub's answer says nothing about the credentials, the step says so rather than passing.
func TestGitHubCredentialsUncheckable(t *testing.T) {
	pki := certs(t)
	gh := &fakeGitHub{Prefix: "/api/v3", InstalledVersion: "3.11.0", ClientID: "abc", Secret: "s", TokenStatus: http.StatusForbidden}
	r := newChecker(t, pki.caPEM).Check(context.Background(), ghTarget(t, gh, pki.good))
	expectSteps(t, r, want(oauthSteps, "credentials", Warning))
	detailHas(t, r, "credentials", "403", "could not be checked")
}

func TestGitHubAPIURLIsNotGitHub(t *testing.T) {
	pki := certs(t)
	gh := &fakeGitHub{Prefix: "/api/v3", ClientID: "abc", Secret: "s"}
	tg := ghTarget(t, gh, pki.good)
	tg.APIURL = tg.WebsiteURL // forgot /api/v3
	r := newChecker(t, pki.caPEM).Check(context.Background(), tg)
	expectFailure(t, r, oauthSteps, "product")
	detailHas(t, r, "product", "/meta", "404", "not as GitHub's API", "/api/v3")
}

func glTarget(t *testing.T, gl *fakeGitLab, cert tls.Certificate) Target {
	port := serveTLS(t, gl, cert)
	return Target{Family: GitLab,
		SCMConfig: store.SCMConfig{Provider: "gitlab", WebsiteURL: fmt.Sprintf("https://gitlab.test:%d", port), APIURL: fmt.Sprintf("https://gitlab.test:%d/api/v4", port), SSHURL: fmt.Sprintf("ssh://git@gitlab.test:%d", sshServer(t, "SSH-2.0-GitLab-SSHD\r\n")), ClientID: "app-id"},
		Secrets:   map[string]string{store.FieldClientSecret: "gloas-secret"},
	}
}

// GitLab cannot check an application's credentials without a user: the step is a warning,
// never passed, and the result still passes.
func TestGitLabAllGreen(t *testing.T) {
	pki := certs(t)
	for _, anonymous401 := range []bool{false, true} {
		t.Run(fmt.Sprintf("version hidden=%v", anonymous401), func(t *testing.T) {
			r := newChecker(t, pki.caPEM).Check(context.Background(), glTarget(t, &fakeGitLab{Anonymous401: anonymous401}, pki.good))
			expectSteps(t, r, want(oauthSteps, "credentials", Warning))
			if !r.Passed() {
				t.Error("Passed() = false")
			}
			if s, ok := r.FirstFailure(); ok {
				t.Errorf("FirstFailure() = %+v", s)
			}
			if anonymous401 {
				detailHas(t, r, "product", "GitLab's API answers")
			} else {
				detailHas(t, r, "product", "GitLab 16.5.0")
			}
			detailHas(t, r, "credentials", "not checked", "Redirect URI")
		})
	}
}

func TestGitLabAPIURLIsNotGitLab(t *testing.T) {
	pki := certs(t)
	tg := glTarget(t, &fakeGitLab{}, pki.good)
	tg.APIURL = tg.WebsiteURL
	r := newChecker(t, pki.caPEM).Check(context.Background(), tg)
	expectFailure(t, r, oauthSteps, "product")
	detailHas(t, r, "product", "/version", "not as GitLab's API", "/api/v4")
}

func bbcTarget(t *testing.T, f *fakeBitbucketCloud, cert tls.Certificate) Target {
	port := serveTLS(t, f, cert)
	return Target{Family: BitbucketCloud,
		SCMConfig: store.SCMConfig{Provider: "bitbucket_cloud", WebsiteURL: fmt.Sprintf("https://bitbucket-cloud.test:%d", port), APIURL: fmt.Sprintf("https://api.bitbucket-cloud.test:%d/2.0", port), SSHURL: fmt.Sprintf("ssh://git@bitbucket-cloud.test:%d", sshServer(t, "SSH-2.0-conker_01a2b3c4d5\r\n")), ClientID: f.Key},
		Secrets:   map[string]string{store.FieldClientSecret: f.Secret},
	}
}

func TestBitbucketCloudAllGreen(t *testing.T) {
	pki := certs(t)
	f := &fakeBitbucketCloud{Key: "consumer-key", Secret: "consumer-secret"}
	port := 0
	tg := bbcTarget(t, f, pki.good)
	fmt.Sscanf(tg.WebsiteURL, "https://bitbucket-cloud.test:%d", &port)
	r := newChecker(t, pki.caPEM).Check(context.Background(), tg)
	expectAllGreen(t, r, oauthSteps)
	detailHas(t, r, "product", "Bitbucket Cloud")
	detailHas(t, r, "credentials", "accepts the consumer key and secret")
	reqs := f.requests()
	if len(reqs) != 2 {
		t.Fatalf("requests: %v", f.paths())
	}
	if reqs[0].Host != fmt.Sprintf("api.bitbucket-cloud.test:%d", port) || reqs[0].URL.RequestURI() != "/2.0/repositories?pagelen=1" {
		t.Errorf("API asked at %s%s", reqs[0].Host, reqs[0].URL.RequestURI())
	}
	if reqs[1].Host != fmt.Sprintf("bitbucket-cloud.test:%d", port) || reqs[1].URL.Path != "/site/oauth2/access_token" {
		t.Errorf("token asked at %s%s", reqs[1].Host, reqs[1].URL.Path)
	}
}

func TestBitbucketCloudBadCredentials(t *testing.T) {
	pki := certs(t)
	f := &fakeBitbucketCloud{Key: "consumer-key", Secret: "consumer-secret"}
	tg := bbcTarget(t, f, pki.good)
	tg.Secrets[store.FieldClientSecret] = "wrong"
	r := newChecker(t, pki.caPEM).Check(context.Background(), tg)
	expectFailure(t, r, oauthSteps, "credentials")
	detailHas(t, r, "credentials", "refused the consumer key or secret", "400", "“Invalid OAuth client credentials”", "OAuth consumers")
}

// The OAuth providers go through the same network steps: an untrusted certificate stops them too.
func TestOAuthProviderUntrustedCertificate(t *testing.T) {
	pki := certs(t)
	r := newChecker(t, nil).Check(context.Background(), glTarget(t, &fakeGitLab{}, pki.good))
	expectFailure(t, r, oauthSteps, "tls")
	detailHas(t, r, "tls", "gitlab.test", "SCMADMIN_CA_FILE")
}

// ---- running at once ----------------------------------------------------------------------

// holdServer accepts connections and keeps those that speak (a TLS ClientHello) waiting, without a
// word, until release; it counts how many speak at once.
type holdServer struct {
	*fakehost.TCP
	release          chan struct{}
	mu               sync.Mutex
	talking, maxSeen int
	hellos           atomic.Int32
}

func newHoldServer(t *testing.T) *holdServer {
	h := &holdServer{release: make(chan struct{})}
	h.TCP = fakehost.Listen(t, func(c net.Conn) {
		var b [1]byte
		if _, err := c.Read(b[:]); err != nil {
			return // the tcp step's connection: opened and closed
		}
		h.mu.Lock()
		h.talking++
		h.maxSeen = max(h.maxSeen, h.talking)
		h.mu.Unlock()
		h.hellos.Add(1)
		<-h.release
		h.mu.Lock()
		h.talking-- // before the close the client waits for
		h.mu.Unlock()
		c.Close()
	})
	t.Cleanup(func() {
		select {
		case <-h.release:
		default:
			close(h.release)
		}
	})
	return h
}

func TestAtMostMaxRunningChecksAtOnce(t *testing.T) {
	pki := certs(t)
	hold := newHoldServer(t)
	c := newChecker(t, pki.caPEM)
	c.stepTimeout = 4 * time.Second
	c.totalTimeout = 6 * time.Second
	tg := bbTarget(hold.Port, 1)

	results := make([]Result, MaxRunning+1)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = c.Check(context.Background(), tg)
		}()
	}
	// MaxRunning checks reach the TLS handshake and wait there.
	for deadline := time.Now().Add(3 * time.Second); hold.hellos.Load() < MaxRunning; {
		if time.Now().After(deadline) {
			t.Fatalf("only %d checks reached the host", hold.hellos.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	if n := hold.hellos.Load(); n != MaxRunning {
		t.Errorf("%d checks reached the host while %d were running; want %d", n, MaxRunning, MaxRunning)
	}
	if n := len(c.running); n != MaxRunning {
		t.Errorf("%d places taken, want %d", n, MaxRunning)
	}
	close(hold.release) // the host hangs up: the running checks end, the waiting one runs
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the checks did not end")
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("the checks took %s", el)
	}
	hold.mu.Lock()
	maxSeen := hold.maxSeen
	hold.mu.Unlock()
	if maxSeen > MaxRunning {
		t.Errorf("%d checks talked to the host at once, want at most %d", maxSeen, MaxRunning)
	}
	if n := hold.hellos.Load(); n != MaxRunning+1 {
		t.Errorf("%d checks reached the host, want all %d (the extra one waited for a place)", n, MaxRunning+1)
	}
	for i, r := range results {
		if g := got(r); g != want(bbSteps, "tls", Failed) {
			t.Errorf("check %d: %s%s", i, g, dump(r))
		}
	}
	if n := len(c.running); n != 0 {
		t.Errorf("%d places still taken after every check ended", n)
	}
}

// A check that finds no place within the whole check's time fails with the "queue" step.
func TestQueueFullFails(t *testing.T) {
	pki := certs(t)
	c := newChecker(t, pki.caPEM)
	c.totalTimeout = 200 * time.Millisecond
	for range MaxRunning {
		c.running <- struct{}{}
	}
	start := time.Now()
	r := c.Check(context.Background(), bbTarget(1, 2))
	if el := time.Since(start); el > time.Second {
		t.Errorf("waiting for a place took %s", el)
	}
	expectSteps(t, r, "queue:failed")
	detailHas(t, r, "queue", "Too many", "Try again")
	if r.Passed() {
		t.Error("Passed() = true")
	}
	if r.At.IsZero() {
		t.Error("At is zero")
	}
	for range MaxRunning {
		<-c.running
	}
	// With the places free again, a check runs.
	c.totalTimeout = 6 * time.Second
	r = c.Check(context.Background(), bbTarget(closedPort(t), 2))
	expectFailure(t, r, bbSteps, "tcp")
}

// A caller's deadline bounds the check as well as the checker's own.
func TestCallerContextBoundsTheCheck(t *testing.T) {
	pki := certs(t)
	dead := silentServer(t)
	c := newChecker(t, pki.caPEM) // 2s a step
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	r := c.Check(ctx, bbTarget(dead.Port, 2))
	if el := time.Since(start); el > 1500*time.Millisecond {
		t.Errorf("the check took %s", el)
	}
	if r.Passed() {
		t.Errorf("passed: %s", dump(r))
	}
}

// ---- the result and the helpers ---------------------------------------------------------------

func TestResultPassedAndFirstFailure(t *testing.T) {
	if (Result{}).Passed() {
		t.Error("an empty result passes")
	}
	if _, ok := (Result{}).FirstFailure(); ok {
		t.Error("an empty result has a failure")
	}
	r := Result{Steps: []Step{{ID: "a", Status: Passed}, {ID: "b", Status: Warning}, {ID: "c", Status: Failed},
		{ID: "d", Status: Failed}, {ID: "e", Status: Skipped}}}
	if r.Passed() {
		t.Error("a result with a failure passes")
	}
	if s, ok := r.FirstFailure(); !ok || s.ID != "c" {
		t.Errorf("FirstFailure = %q, %v", s.ID, ok)
	}
	if !(Result{Steps: []Step{{Status: Passed}, {Status: Warning}}}).Passed() {
		t.Error("warnings do not pass")
	}
}

func TestUnknownProviderHasNoSteps(t *testing.T) {
	c := newChecker(t, nil)
	r := c.Check(context.Background(), Target{SCMConfig: store.SCMConfig{Provider: "internal", APIURL: "https://bitbucket.test"}})
	if len(r.Steps) != 0 || r.Passed() {
		t.Errorf("internal: %s", dump(r))
	}
}

func TestVersionAtLeast(t *testing.T) {
	for _, tc := range []struct {
		v         string
		ok, known bool
	}{
		{"5.6.0", true, true},
		{"5.6", true, true},
		{"5.5.9", false, true},
		{"5.10.0", true, true},
		{"6.0.0", true, true},
		{"4.99.0", false, true},
		{"8.9.0-m01", true, true},
		{"7.21.0-SNAPSHOT", true, true},
		{"5.7-", true, true},
		{"7", false, false},
		{"", false, false},
		{"v7.21", false, false},
	} {
		ok, known := versionAtLeast(tc.v, 5, 6)
		if ok != tc.ok || known != tc.known {
			t.Errorf("versionAtLeast(%q, 5, 6) = %v, %v; want %v, %v", tc.v, ok, known, tc.ok, tc.known)
		}
	}
}

// ---- what the host tells besides: expiries and the rate limit -------------------------------

// bbExpiringToken is a token as Bitbucket makes them: "BBDC-" and the base64 of "ID:secret".
var bbExpiringToken = "BBDC-" + base64.StdEncoding.EncodeToString([]byte("123456789012:0123456789abcdefghijklmnopqr"))

// Bitbucket lists a token made with an expiry with its createdDate and expiryDays: the token
// step names the date, and warns within 14 days of it.
func TestBitbucketTokenExpiry(t *testing.T) {
	pki := certs(t)
	now := time.Now().UTC()
	for _, tc := range []struct {
		name       string
		created    time.Time
		expiryDays int
		status     Status
		detail     []string
	}{
		{"none", now.AddDate(0, -1, 0), 0, Passed, []string{"authenticates as admin", "does not expire"}},
		{"far", now.AddDate(0, 0, -10), 90, Passed, []string{"expires on " + now.AddDate(0, 0, 80).Format("2006-01-02")}},
		{"soon", now.AddDate(0, 0, -80), 90, Warning, []string{"expires on " + now.AddDate(0, 0, 10).Format("2006-01-02"),
			"in 9 days", "create a new personal access token"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fb := newFakeBitbucket()
			fb.AddToken(bbExpiringToken, "admin", true)
			fb.ExpireToken(bbExpiringToken, tc.created, tc.expiryDays)
			tg := bitbucketUp(t, fb, pki.good)
			tg.Secrets[store.FieldAccessToken] = bbExpiringToken
			r := newChecker(t, pki.caPEM).Check(context.Background(), tg)
			expectSteps(t, r, want(bbSteps, "token", tc.status))
			detailHas(t, r, "token", tc.detail...)
			wantExpiry := time.Time{}
			if tc.expiryDays > 0 {
				wantExpiry = time.UnixMilli(tc.created.UnixMilli()).AddDate(0, 0, tc.expiryDays).UTC()
			}
			if !r.TokenExpires.Equal(wantExpiry) {
				t.Errorf("TokenExpires = %v, want %v", r.TokenExpires, wantExpiry)
			}
			if !slices.Contains(fb.Paths(), "GET /rest/access-tokens/1.0/users/admin") {
				t.Errorf("the token list was not asked for: %v", fb.Paths())
			}
		})
	}
}

// A token that is not Bitbucket's "ID:secret" form cannot be found in the list: it is not
// asked for, and nothing is said of an expiry.
func TestBitbucketTokenOfUnknownFormHasNoExpiry(t *testing.T) {
	pki := certs(t)
	fb := newFakeBitbucket()
	r := newChecker(t, pki.caPEM).Check(context.Background(), bitbucketUp(t, fb, pki.good))
	expectAllGreen(t, r, bbSteps)
	if !r.TokenExpires.IsZero() || slices.Contains(fb.Paths(), "GET /rest/access-tokens/1.0/users/admin") {
		t.Errorf("TokenExpires = %v, requests %v", r.TokenExpires, fb.Paths())
	}
}

// The certificate's expiry is kept with the result; 15 days left is no warning, 14 is.
func TestCertificateExpiryIsTold(t *testing.T) {
	pki := certs(t)
	tg := bitbucketUp(t, newFakeBitbucket(), pki.good)
	c := newChecker(t, pki.caPEM)
	end := pki.good.Leaf.NotAfter
	c.now = func() time.Time { return end.Add(-15 * 24 * time.Hour) }
	r := c.Check(context.Background(), tg)
	expectAllGreen(t, r, bbSteps)
	if !r.CertExpires.Equal(end.UTC()) || r.RateLimitLeft != -1 {
		t.Errorf("CertExpires = %v, RateLimitLeft = %d; want %v, -1 (Bitbucket Server tells no rate limit)", r.CertExpires, r.RateLimitLeft, end)
	}
	c.now = func() time.Time { return end.Add(-14*24*time.Hour + time.Hour) }
	r = c.Check(context.Background(), tg)
	expectSteps(t, r, want(bbSteps, "tls", Warning))
	detailHas(t, r, "tls", end.UTC().Format("2006-01-02"))
}

// GitHub and GitLab tell how many API calls are left, each in its own header.
func TestRateLimitLeft(t *testing.T) {
	pki := certs(t)
	gh := &fakeGitHub{Prefix: "/api/v3", InstalledVersion: "3.11.0", ClientID: "0123456789abcdef0123", Secret: "s3cret"}
	if r := newChecker(t, pki.caPEM).Check(context.Background(), ghTarget(t, gh, pki.good)); r.RateLimitLeft != 57 {
		t.Errorf("GitHub: RateLimitLeft = %d, want 57", r.RateLimitLeft)
	}
	if r := newChecker(t, pki.caPEM).Check(context.Background(), glTarget(t, &fakeGitLab{}, pki.good)); r.RateLimitLeft != 1999 {
		t.Errorf("GitLab: RateLimitLeft = %d, want 1999", r.RateLimitLeft)
	}
}
