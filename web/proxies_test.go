package web

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/scmadmin/scmadmin/store"
)

// loginFrom signs in as username, the request claiming in X-Forwarded-For to come through xff.
func (c *client) loginFrom(xff, username, password string) *response {
	c.t.Helper()
	token := c.get("/login").csrf()
	form := url.Values{"username": {username}, "password": {password}, "_csrf": {token}}
	req, _ := http.NewRequest(http.MethodPost, c.app.srv.URL+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-For", xff)
	return c.do(req)
}

func lastSignInFrom(t *testing.T, st *store.Store) string {
	t.Helper()
	evs, _, err := st.ListAudit(context.Background(), store.AuditQuery{Limit: 1})
	if err != nil || len(evs) != 1 {
		t.Fatalf("audit: %v %v", evs, err)
	}
	return evs[0].Actor.Addr
}

func TestForwardedForIsIgnoredUnlessThePeerIsTrusted(t *testing.T) {
	app := newTestApp(t)
	app.client().loginFrom("203.0.113.9", adminName, adminPassword).wantStatus(http.StatusSeeOther)
	if got := lastSignInFrom(t, app.st); got != "127.0.0.1" {
		t.Errorf("from = %q, want the peer 127.0.0.1: nobody is trusted", got)
	}
}

func TestForwardedForFromATrustedProxy(t *testing.T) {
	_, lo, _ := net.ParseCIDR("127.0.0.0/8")
	_, lb, _ := net.ParseCIDR("10.1.0.0/16")
	app := newTestAppWith(t, Config{BaseURL: "http://127.0.0.1", TrustedProxies: []*net.IPNet{lo, lb}})
	for xff, want := range map[string]string{
		"203.0.113.9":                         "203.0.113.9",
		"198.51.100.1, 203.0.113.9":           "203.0.113.9", // the rightmost hop the proxies did not add
		"198.51.100.1, 203.0.113.9, 10.1.2.3": "203.0.113.9",
		"10.2.0.1":                            "10.2.0.1", // private, but not a trusted proxy
		"not an address":                      "127.0.0.1",
	} {
		app.client().loginFrom(xff, adminName, adminPassword).wantStatus(http.StatusSeeOther)
		if got := lastSignInFrom(t, app.st); got != want {
			t.Errorf("X-Forwarded-For %q: from = %q, want %q", xff, got, want)
		}
	}
}

// The per-address sign-in limit counts the client's address, not the proxy's: one client
// guessing does not lock out everyone behind the same proxy.
func TestSignInLimitPerForwardedAddress(t *testing.T) {
	_, lo, _ := net.ParseCIDR("127.0.0.1/32")
	app := newTestAppWith(t, Config{BaseURL: "http://127.0.0.1", TrustedProxies: []*net.IPNet{lo}})
	c := app.client()
	for i := range addrFailures {
		c.loginFrom("203.0.113.9", "guess"+strconv.Itoa(i), "wrong password").wantStatus(http.StatusUnauthorized)
	}
	c.loginFrom("203.0.113.9", adminName, adminPassword).wantStatus(http.StatusTooManyRequests)
	c.loginFrom("198.51.100.7", adminName, adminPassword).wantStatus(http.StatusSeeOther)
}
