package probe

// Fakes for the probe's tests: a private certificate authority and its certificates, a
// resolver that knows a few *.test names (all 127.0.0.1), TLS servers speaking the JSON of
// Bitbucket Server, GitHub, GitLab and Bitbucket Cloud, and raw TCP listeners for SSH and
// for hosts that never answer. Nothing listens anywhere but 127.0.0.1.

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
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scmadmin/scmadmin/web/internal/fakehost"
)

// ---- certificates -------------------------------------------------------------------------

// fakeNames are the names the fake resolver knows (all 127.0.0.1) and the good certificate covers.
var fakeNames = []string{
	"bitbucket.test", "github.test", "api.github.test", "ghe.test", "gitlab.test",
	"bitbucket-cloud.test", "api.bitbucket-cloud.test", "elsewhere.test",
}

type testPKI struct {
	caPEM      []byte // the private CA, as SCMADMIN_CA_FILE would hold it
	otherCAPEM []byte // another CA, which signed nothing the fakes serve
	good       tls.Certificate
	soon       tls.Certificate // expires in 10 days (and a half)
	expired    tls.Certificate
	otherName  tls.Certificate // for other.test only
	selfSigned tls.Certificate // for bitbucket.test, signed by itself
}

var (
	pkiOnce sync.Once
	pkiVal  *testPKI
	pkiErr  error
)

// certs returns the tests' certificates, made once per test binary.
func certs(t *testing.T) *testPKI {
	t.Helper()
	pkiOnce.Do(func() { pkiVal, pkiErr = makePKI() })
	if pkiErr != nil {
		t.Fatalf("making certificates: %v", pkiErr)
	}
	return pkiVal
}

func makePKI() (*testPKI, error) {
	now := time.Now()
	caCert, caKey, caPEM, err := makeCA("scmadmin test CA", now)
	if err != nil {
		return nil, err
	}
	_, _, otherPEM, err := makeCA("some other CA", now)
	if err != nil {
		return nil, err
	}
	p := &testPKI{caPEM: caPEM, otherCAPEM: otherPEM}
	year := 365 * 24 * time.Hour
	for _, c := range []struct {
		dst            *tls.Certificate
		names          []string
		from, until    time.Time
		signer         *x509.Certificate
		signerKeyOrNil *ecdsa.PrivateKey
	}{
		{&p.good, fakeNames, now.Add(-time.Hour), now.Add(year), caCert, caKey},
		{&p.soon, fakeNames, now.Add(-time.Hour), now.Add(10*24*time.Hour + 12*time.Hour), caCert, caKey},
		{&p.expired, fakeNames, now.Add(-60 * 24 * time.Hour), now.Add(-24 * time.Hour), caCert, caKey},
		{&p.otherName, []string{"other.test", "www.other.test"}, now.Add(-time.Hour), now.Add(year), caCert, caKey},
		{&p.selfSigned, fakeNames, now.Add(-time.Hour), now.Add(year), nil, nil},
	} {
		if *c.dst, err = issue(c.names, c.from, c.until, c.signer, c.signerKeyOrNil); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		panic(err)
	}
	return n
}

func makeCA(name string, now time.Time) (*x509.Certificate, *ecdsa.PrivateKey, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"scmadmin tests"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, nil, err
	}
	return cert, key, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// issue makes a server certificate for names, signed by signer (or by itself when signer is nil).
func issue(names []string, from, until time.Time, signer *x509.Certificate, signerKey *ecdsa.PrivateKey) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: names[0]},
		DNSNames:     names,
		NotBefore:    from,
		NotAfter:     until,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if signer == nil {
		signer, signerKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// ---- name resolution and the checker ----------------------------------------------------

// fakeLookup resolves fakeNames to 127.0.0.1 and nothing else, as a DNS would say "no such host".
func fakeLookup(ctx context.Context, host string) ([]string, error) {
	if slices.Contains(fakeNames, strings.ToLower(host)) {
		return []string{"127.0.0.1"}, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// newChecker is New(extraCAs) with the fake resolver and limits short enough for tests.
func newChecker(t *testing.T, extraCAs []byte) *Checker {
	t.Helper()
	c, err := New(extraCAs)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	c.lookup = fakeLookup
	c.stepTimeout = 2 * time.Second
	c.totalTimeout = 6 * time.Second
	return c
}

// ---- servers ------------------------------------------------------------------------------

// serveTLS serves h over TLS with cert on 127.0.0.1 and returns the port.
func serveTLS(t *testing.T, h http.Handler, cert tls.Certificate) int {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // handshakes the probe refuses are expected
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().(*net.TCPAddr).Port
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

// requestLog remembers what a fake was asked.
type requestLog struct {
	mu   sync.Mutex
	seen []*http.Request
}

func (l *requestLog) add(r *http.Request) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seen = append(l.seen, r.Clone(context.Background()))
}

func (l *requestLog) requests() []*http.Request {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*http.Request(nil), l.seen...)
}

func (l *requestLog) paths() []string {
	var out []string
	for _, r := range l.requests() {
		out = append(out, r.Method+" "+r.URL.Path)
	}
	return out
}

const (
	goodToken  = "BBDC-user-token"  // authenticates as jdoe, not project admin
	adminToken = "BBDC-admin-token" // authenticates as admin, project admin
)

const nginx404 = "<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n<center><h1>404 Not Found</h1></center>\r\n" +
	"<hr><center>nginx/1.25.3</center>\r\n</body>\r\n</html>\r\n"

// newFakeBitbucket is the one fake Bitbucket Server, knowing goodToken and adminToken.
func newFakeBitbucket() *fakehost.Bitbucket {
	f := fakehost.NewBitbucket()
	f.AddToken(goodToken, "jdoe", false)
	f.AddToken(adminToken, "admin", true)
	return f
}

// fakeGitHub is GitHub.com's API (prefix "") or GitHub Enterprise Server's (prefix "/api/v3").
type fakeGitHub struct {
	Prefix           string
	InstalledVersion string // GitHub Enterprise Server only
	ClientID, Secret string
	TokenStatus      int // when not 0, the token endpoint answers this whatever the credentials
	requestLog
}

func (f *fakeGitHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.add(r)
	path, ok := strings.CutPrefix(r.URL.Path, f.Prefix)
	switch {
	case ok && r.Method == http.MethodGet && path == "/meta":
		w.Header().Set("X-RateLimit-Limit", "60")
		w.Header().Set("X-RateLimit-Remaining", "57") // GitHub tells every answer
		if f.InstalledVersion != "" {
			writeJSON(w, http.StatusOK, fmt.Sprintf(`{"verifiable_password_authentication":false,"installed_version":%q}`, f.InstalledVersion))
			return
		}
		writeJSON(w, http.StatusOK, `{"verifiable_password_authentication":false,"ssh_key_fingerprints":{},"hooks":["192.30.252.0/22"]}`)
	case ok && r.Method == http.MethodPost && strings.HasPrefix(path, "/applications/") && strings.HasSuffix(path, "/token"):
		if f.TokenStatus != 0 {
			writeJSON(w, f.TokenStatus, `{"message":"Something else"}`)
			return
		}
		id, secret, _ := r.BasicAuth()
		if id != f.ClientID || secret != f.Secret || path != "/applications/"+f.ClientID+"/token" {
			writeJSON(w, http.StatusUnauthorized, `{"message":"Bad credentials","documentation_url":"https://docs.github.com/rest"}`)
			return
		}
		writeJSON(w, http.StatusNotFound, `{"message":"Not Found","documentation_url":"https://docs.github.com/rest/apps/oauth-applications#check-a-token"}`)
	default:
		writeJSON(w, http.StatusNotFound, `{"message":"Not Found"}`)
	}
}

// fakeGitLab is GitLab's /api/v4; Anonymous401 makes /version answer 401 as GitLab does without a token.
type fakeGitLab struct {
	Anonymous401 bool
	requestLog
}

func (f *fakeGitLab) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.add(r)
	if r.URL.Path != "/api/v4/version" {
		writeJSON(w, http.StatusNotFound, `{"message":"404 Not Found"}`)
		return
	}
	if f.Anonymous401 {
		writeJSON(w, http.StatusUnauthorized, `{"message":"401 Unauthorized"}`)
		return
	}
	w.Header().Set("RateLimit-Remaining", "1999") // GitLab's name for it
	writeJSON(w, http.StatusOK, `{"version":"16.5.0","revision":"0f2ae6a6c3c","kas":{"enabled":true}}`)
}

// fakeBitbucketCloud is api.bitbucket.org/2.0 and bitbucket.org's OAuth token endpoint.
type fakeBitbucketCloud struct {
	Key, Secret string
	requestLog
}

func (f *fakeBitbucketCloud) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.add(r)
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/2.0/repositories" && r.URL.Query().Get("pagelen") == "1":
		writeJSON(w, http.StatusOK, `{"pagelen":1,"values":[],"next":"https://api.bitbucket.org/2.0/repositories?pagelen=1&after=x"}`)
	case r.Method == http.MethodPost && r.URL.Path == "/site/oauth2/access_token":
		key, secret, _ := r.BasicAuth()
		if r.ParseForm() != nil || r.PostForm.Get("grant_type") != "client_credentials" {
			writeJSON(w, http.StatusBadRequest, `{"error":"invalid_grant","error_description":"Unsupported grant type: None"}`)
			return
		}
		if key != f.Key || secret != f.Secret {
			writeJSON(w, http.StatusBadRequest, `{"error":"invalid_client","error_description":"Invalid OAuth client credentials"}`)
			return
		}
		writeJSON(w, http.StatusOK, `{"access_token":"x","scopes":"repository","expires_in":7200,"token_type":"bearer"}`)
	default:
		writeJSON(w, http.StatusNotFound, `{"type":"error","error":{"message":"Resource not found"}}`)
	}
}

// ---- raw TCP ------------------------------------------------------------------------------

// sshServer greets every connection with banner (as Bitbucket's SSHD does); it returns the port.
func sshServer(t *testing.T, banner string) int {
	return fakehost.SSH(t, banner).Port
}

// silentServer accepts connections and never writes a byte: a TLS handshake or an SSH
// greeting waits for ever.
func silentServer(t *testing.T) *fakehost.TCP {
	return fakehost.Listen(t, func(c net.Conn) { io.Copy(io.Discard, c) })
}

// closedPort is a port something listened on a moment ago: connecting to it is refused.
func closedPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

// serveTLSAndPlain serves tlsHandler over TLS with cert and plainHandler over plain HTTP on one
// port of 127.0.0.1, telling them apart by the first byte a client sends.
func serveTLSAndPlain(t *testing.T, tlsHandler, plainHandler http.Handler, cert tls.Certificate) int {
	t.Helper()
	tlsLn, plainLn := newChanListener(), newChanListener()
	raw := fakehost.Listen(t, func(c net.Conn) {
		var b [1]byte
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(c, b[:]); err != nil {
			return
		}
		c.SetReadDeadline(time.Time{})
		done := make(chan struct{})
		pc := &prefixConn{Conn: c, prefix: b[:], done: done}
		to := plainLn
		if b[0] == 0x16 { // a TLS handshake record
			to = tlsLn
		}
		select {
		case to.ch <- pc:
			<-done // keep the connection open until its server closes it
		case <-to.closed:
		}
	})
	tlsLn.addr, plainLn.addr = raw.Listener.Addr(), raw.Listener.Addr()
	discard := log.New(io.Discard, "", 0)
	tlsSrv := &http.Server{Handler: tlsHandler, ErrorLog: discard,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}}}
	plainSrv := &http.Server{Handler: plainHandler, ErrorLog: discard}
	go tlsSrv.ServeTLS(tlsLn, "", "")
	go plainSrv.Serve(plainLn)
	t.Cleanup(func() {
		tlsSrv.Close()
		plainSrv.Close()
		tlsLn.Close()
		plainLn.Close()
	})
	return raw.Port
}

// chanListener is a net.Listener whose connections come from a channel.
type chanListener struct {
	ch     chan net.Conn
	closed chan struct{}
	once   sync.Once
	addr   net.Addr
}

func newChanListener() *chanListener {
	return &chanListener{ch: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }

// prefixConn replays the bytes already read from Conn, and says when it is closed.
type prefixConn struct {
	net.Conn
	prefix []byte
	done   chan struct{}
	once   sync.Once
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

func (c *prefixConn) Close() error {
	c.once.Do(func() { close(c.done) })
	return c.Conn.Close()
}
