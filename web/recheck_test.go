package web

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scmadmin/scmadmin/store"
	"github.com/scmadmin/scmadmin/web/internal/fakehost"
	"github.com/scmadmin/scmadmin/web/recheck"
)

// runRechecks runs app's continuous health checks every interval until the test ends, and
// checks that they stop when asked.
func runRechecks(t *testing.T, app *testApp, interval time.Duration) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		app.s.rechecker(interval).Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("the health checks did not stop within 5 s")
		}
	})
}

func healthAuditActions(t *testing.T, app *testApp, id int64) []string {
	t.Helper()
	evs, _, err := app.st.ListAudit(context.Background(), store.AuditQuery{ConfigID: id, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := len(evs) - 1; i >= 0; i-- {
		if ev := evs[i]; ev.Action == store.ActionStartedFailing || ev.Action == store.ActionPassingAgain {
			out = append(out, ev.Actor.Username+": "+ev.Action)
		}
	}
	return out
}

// A host that breaks and comes back, tested every 200 ms: the list, the filter, the metric,
// the audit trail and the details page follow it.
func TestContinuousHealthFollowsAHostThatBreaksAndRecovers(t *testing.T) {
	fake := newBitbucketHost(t, "good-token-1")
	app := newTestAppWith(t, Config{BaseURL: "http://127.0.0.1", ExtraCAs: fake.srv.CAPEM})
	c := app.adminClient()
	id := addConfig(t, c, fake.form("good-token-1"))
	untested := seedConfig(t, app, store.SCMConfig{Provider: "bitbucket_server", WebsiteURL: fake.srv.URL, APIURL: fake.srv.URL,
		SSHURL: "ssh://git@" + fake.ssh.Addr(), ProjectKey: "OFF"}, nil)
	if err := app.st.SetEnabled(context.Background(), untested.ID, false, store.Actor{Username: "setup"}); err != nil {
		t.Fatal(err)
	}
	runRechecks(t, app, 200*time.Millisecond)
	health := func() store.ConnectionTest { return mustConfig(t, app, id).LastTest }
	metric := func() string {
		for _, line := range strings.Split(c.get("/metrics").body, "\n") {
			if strings.HasPrefix(line, "scmadmin_scm_healthy{") {
				return line
			}
		}
		return ""
	}

	waitFor(t, "a passed test", func() bool { return health().Passed })
	if got := c.get("/admin/scm").doc.Find(rowSel(id)+" .health").AttrOr("data-health", ""); got != "passed" {
		t.Errorf("list health %q, want passed", got)
	}
	if got := metric(); got != fmt.Sprintf(`scmadmin_scm_healthy{id="%s"} 1`, ref(id)) {
		t.Errorf("metric %q", got)
	}

	// A test under way when the token is revoked may be the first to fail, at whichever step
	// came after the revocation, and its time is after the last test that passed, not
	// necessarily after the revocation; a test begun after it fails at the token step.
	passed := health().At
	fake.RevokeToken("good-token-1")
	broke := time.Now()
	waitFor(t, "a failed test begun after the revocation", func() bool { h := health(); return h.At.After(broke) && !h.Passed })
	failing := health()
	if !failing.FailingSince.After(passed) || failing.Summary != "Access token authenticates" {
		t.Errorf("health %+v, want failing at the token step since after the last pass, %s", failing, passed)
	}
	list := c.get("/admin/scm?health=failing")
	if !list.has(rowSel(id)) || list.doc.Find("table#scm-configs tr[data-scm-id]").Length() != 1 {
		t.Errorf("?health=failing lists %d rows, want %s alone", list.doc.Find("table#scm-configs tr[data-scm-id]").Length(), ref(id))
	}
	wantText := "Failing since " + failing.FailingSince.UTC().Format("2006-01-02 15:04 UTC") + ": Access token authenticates"
	if got := list.text(rowSel(id) + " .health"); got != wantText {
		t.Errorf("list health %q, want %q", got, wantText)
	}
	if got := metric(); got != fmt.Sprintf(`scmadmin_scm_healthy{id="%s"} 0`, ref(id)) {
		t.Errorf("metric %q", got)
	}
	// Tests after the first failure keep the time it began.
	waitFor(t, "a second failed test", func() bool { return health().At.After(failing.At) })
	if h := health(); !h.FailingSince.Equal(failing.FailingSince) {
		t.Errorf("failing since %s after another failure, want %s", h.FailingSince, failing.FailingSince)
	}

	fake.AddToken("good-token-1", "svc-platform", true)
	waitFor(t, "a passed test again", func() bool { return health().Passed })
	if c.get("/admin/scm?health=failing").has(rowSel(id)) {
		t.Error("?health=failing still lists the configuration that passes again")
	}
	if got := metric(); got != fmt.Sprintf(`scmadmin_scm_healthy{id="%s"} 1`, ref(id)) {
		t.Errorf("metric %q", got)
	}
	want := []string{"health check: " + store.ActionStartedFailing, "health check: " + store.ActionPassingAgain}
	if got := healthAuditActions(t, app, id); strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Errorf("health changes in the audit trail: %q, want %q", got, want)
	}
	if got := mustConfig(t, app, untested.ID).LastTest; !got.At.IsZero() {
		t.Errorf("the disabled configuration was tested: %+v", got)
	}

	waitFor(t, "20 results", func() bool {
		results, err := app.st.HealthResults(context.Background(), id)
		return err == nil && len(results) == store.KeptHealthResults && !results[len(results)-1].At.Before(failing.FailingSince)
	})
	details := c.get(fmt.Sprintf("/admin/scm/%s", ref(id)))
	if n := details.doc.Find("#health-results tbody tr").Length(); n != store.KeptHealthResults {
		t.Errorf("the details page shows %d results, want %d", n, store.KeptHealthResults)
	}
	cells := details.doc.Find(".health-timeline .health-cell")
	if cells.Length() != store.KeptHealthResults || !cells.First().HasClass("health-cell-failing") {
		t.Errorf("timeline: %d cells, the oldest %q; want %d, failing", cells.Length(), cells.First().AttrOr("class", ""), store.KeptHealthResults)
	}
	if !strings.HasSuffix(cells.Last().AttrOr("title", ""), ": Passed") {
		t.Errorf("the newest cell's title is %q", cells.Last().AttrOr("title", ""))
	}
	// Passing again, the table of results is folded under the timeline.
	if _, open := details.doc.Find("details.health-results").Attr("open"); open || details.doc.Find("details.health-results").Length() != 1 {
		t.Error("the results table of a configuration that passes is not folded")
	}
}

// concurrencyCounter is a host's handler that counts the requests it serves at once.
type concurrencyCounter struct {
	next      http.Handler
	mu        sync.Mutex
	now, most int
	served    int
}

func (h *concurrencyCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.now++
	h.served++
	h.most = max(h.most, h.now)
	h.mu.Unlock()
	time.Sleep(60 * time.Millisecond) // a host that takes its time, so that tests overlap
	h.next.ServeHTTP(w, r)
	h.mu.Lock()
	h.now--
	h.mu.Unlock()
}

// 50 configurations on one host, re-tested every 2 s: a slot every 40 ms, and each test asks
// the host 4 or 5 questions of 60 ms, so that without a bound 7 or 8 would overlap. The host
// never sees more than 4 tests at once, and sees every configuration.
func TestContinuousHealthRunsAtMostFourTestsAtOnce(t *testing.T) {
	bb := fakehost.NewBitbucket()
	bb.AddToken("good-token-1", "svc-platform", true)
	counter := &concurrencyCounter{next: bb}
	srv := fakehost.ServeTLS(t, counter)
	ssh := fakehost.SSH(t, fakehost.SSHBanner)
	app := newTestAppWith(t, Config{BaseURL: "http://127.0.0.1", ExtraCAs: srv.CAPEM})
	var ids []int64
	for i := range 50 {
		key := fmt.Sprintf("P%02d", i)
		bb.AddProject(key, "Project "+key)
		ids = append(ids, seedConfig(t, app, store.SCMConfig{Provider: "bitbucket_server", WebsiteURL: srv.URL,
			APIURL: srv.URL + "/rest/api/1.0", SSHURL: "ssh://git@" + ssh.Addr(), ProjectKey: key},
			map[string]string{"access_token": "good-token-1"}).ID)
	}
	runRechecks(t, app, 2*time.Second)
	waitFor(t, "every configuration tested", func() bool {
		_, total, err := app.st.ListSCMConfigs(context.Background(), store.SCMQuery{Health: store.HealthPassed, Limit: 1})
		return err == nil && total == len(ids)
	})
	counter.mu.Lock()
	defer counter.mu.Unlock()
	t.Logf("the host served %d requests, at most %d at once", counter.served, counter.most)
	if counter.most > recheck.MaxRunning {
		t.Errorf("the host served %d requests at once, want at most %d", counter.most, recheck.MaxRunning)
	}
	if counter.most < recheck.MaxRunning {
		t.Errorf("the host never served %d requests at once: the bound was never reached, so this shows nothing", recheck.MaxRunning)
	}
}

// expiringCert is a self-signed certificate for 127.0.0.1 that expires after days.
func expiringCert(t *testing.T, days int) (tls.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bitbucket.internal"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Duration(days) * 24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// A host whose certificate expires in 10 days: the health is a warning that names the date,
// and the details page shows the certificate's expiry.
func TestCertificateExpiringIn10DaysIsAWarning(t *testing.T) {
	cert, caPEM := expiringCert(t, 10)
	bb := fakehost.NewBitbucket()
	bb.AddToken("good-token-1", "svc-platform", true)
	srv := httptest.NewUnstartedServer(bb)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	ssh := fakehost.SSH(t, fakehost.SSHBanner)
	app := newTestAppWith(t, Config{BaseURL: "http://127.0.0.1", ExtraCAs: caPEM})
	c := app.adminClient()
	id := addConfig(t, c, (&bitbucketHost{srv: &fakehost.Server{Server: srv}, ssh: ssh}).form("good-token-1"))
	runRechecks(t, app, 200*time.Millisecond)
	waitFor(t, "a test", func() bool { return !mustConfig(t, app, id).LastTest.At.IsZero() })

	date := cert.Leaf.NotAfter.UTC().Format("2006-01-02")
	if h := mustConfig(t, app, id).LastTest; !h.Passed || !h.Warned {
		t.Errorf("health %+v, want passed with a warning", h)
	}
	if got := c.get("/admin/scm?health=warning").doc.Find(rowSel(id)+" .health").AttrOr("data-health", ""); got != "warning" {
		t.Errorf("list health %q, want warning", got)
	}
	details := c.get(fmt.Sprintf("/admin/scm/%s", ref(id)))
	if got := details.text("#cert-expires"); got != date {
		t.Errorf("the details page says the certificate expires %q, want %s", got, date)
	}
	r := c.submit(fmt.Sprintf("/admin/scm/%s", ref(id)), fmt.Sprintf("/admin/scm/%s/test", ref(id)), nil)
	if tls := r.doc.Find(`li[data-step="tls"]`); tls.AttrOr("data-status", "") != "warning" || !strings.Contains(tls.Text(), date) {
		t.Errorf("tls step %s: %q, want a warning naming %s", tls.AttrOr("data-status", ""), tls.Text(), date)
	}
}
