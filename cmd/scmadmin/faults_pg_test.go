package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scmadmin/scmadmin/store/pgtest"
)

// cuttableProxy relays TCP connections on 127.0.0.1 to a PostgreSQL server until it is cut:
// then it drops every connection and hangs up on new ones, as a database that went away,
// until it is restored.
type cuttableProxy struct {
	ln     net.Listener
	target string
	down   atomic.Bool
	mu     sync.Mutex
	conns  map[net.Conn]bool
}

func newCuttableProxy(t *testing.T, target string) *cuttableProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cuttableProxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	t.Cleanup(func() {
		ln.Close()
		p.cut()
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.relay(c)
		}
	}()
	return p
}

func (p *cuttableProxy) relay(client net.Conn) {
	if p.down.Load() {
		client.Close()
		return
	}
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		client.Close()
		return
	}
	p.mu.Lock()
	p.conns[client], p.conns[server] = true, true
	p.mu.Unlock()
	go func() { io.Copy(server, client); server.Close() }()
	io.Copy(client, server)
	client.Close()
	p.mu.Lock()
	delete(p.conns, client)
	delete(p.conns, server)
	p.mu.Unlock()
}

// cut drops every relayed connection and refuses new ones.
func (p *cuttableProxy) cut() {
	p.down.Store(true)
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
}

func (p *cuttableProxy) restore() { p.down.Store(false) }

// get is a GET of path on base with a's cookies, answering the status and body.
func (a *admin) get(path string) (int, string, error) {
	res, err := a.http.Get(a.base + path)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	return res.StatusCode, string(body), err
}

// eventually retries check every 50 ms for up to within, failing with its last complaint.
func eventually(t *testing.T, within time.Duration, what string, check func() string) {
	t.Helper()
	var complaint string
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if complaint = check(); complaint == "" {
			return
		}
	}
	t.Fatalf("%s not within %s: %s", what, within, complaint)
}

// TestPostgresGoneAndBack: PostgreSQL goes away under load (creates and list pages going on):
// /healthz and the pages answer 503 saying the database is unreachable, with no stack; no
// create is left half-written; once it is back the same server serves again, no restart.
func TestPostgresGoneAndBack(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newCuttableProxy(t, u.Host)
	u.Host = proxy.ln.Addr().String()
	bin := buildBinary(t)
	keyFile := filepath.Join(t.TempDir(), "scmadmin.key")
	p := startProcess(t, bin, map[string]string{"SCMADMIN_DB": u.String(), "SCMADMIN_KEY_FILE": keyFile,
		"SCMADMIN_ADMIN_PASSWORD": safetyPassword})
	a := signInAdmin(t, p.base)
	csrf, err := a.token("/admin/scm/new")
	if err != nil {
		t.Fatal(err)
	}

	// The load: creates and list pages, until the end.
	var made creations
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var unexpected atomic.Value
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if w == 0 {
					host := fmt.Sprintf("load-%d.example.com", i)
					status, body, err := a.post("/admin/scm", csrf, bbForm(host, tokenFor(host)))
					if err == nil && status != http.StatusSeeOther && status != http.StatusServiceUnavailable {
						unexpected.Store(fmt.Sprintf("create answered %d:\n%.1000s", status, body))
					}
					made.add(host, status)
				} else if status, body, err := a.get("/admin/scm"); err == nil && status != http.StatusOK && status != http.StatusServiceUnavailable {
					unexpected.Store(fmt.Sprintf("the list answered %d:\n%.1000s", status, body))
				}
				time.Sleep(10 * time.Millisecond)
			}
		}()
	}
	time.Sleep(500 * time.Millisecond)

	proxy.cut()
	eventually(t, 5*time.Second, "/healthz 503 with the database gone", func() string {
		res, err := http.Get(p.base + "/healthz")
		if err != nil {
			return err.Error()
		}
		res.Body.Close()
		if res.StatusCode != http.StatusServiceUnavailable {
			return fmt.Sprintf("/healthz answered %d", res.StatusCode)
		}
		return ""
	})
	eventually(t, 5*time.Second, "pages saying the database is unreachable", func() string {
		status, body, err := a.get("/admin/scm")
		switch {
		case err != nil:
			return err.Error()
		case status != http.StatusServiceUnavailable || !strings.Contains(body, "The database is unreachable"):
			return fmt.Sprintf("the list answered %d:\n%.1000s", status, body)
		case strings.Contains(body, "goroutine") || strings.Contains(body, ".go:"):
			return "the page shows a stack:\n" + body
		}
		return ""
	})
	status, body, err := a.post("/admin/scm", csrf, bbForm("while-gone.example.com", "t"))
	if err != nil || status != http.StatusServiceUnavailable || !strings.Contains(body, "unreachable") {
		t.Errorf("a create with the database gone: %d %v\n%.1000s", status, err, body)
	}
	time.Sleep(500 * time.Millisecond) // the load meets the outage

	proxy.restore()
	eventually(t, 10*time.Second, "/healthz 200 with the database back", func() string {
		res, err := http.Get(p.base + "/healthz")
		if err != nil {
			return err.Error()
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return fmt.Sprintf("/healthz answered %d", res.StatusCode)
		}
		return ""
	})
	eventually(t, 5*time.Second, "the list again", func() string {
		if status, body, err := a.get("/admin/scm"); err != nil || status != http.StatusOK {
			return fmt.Sprintf("%d %v\n%.1000s", status, err, body)
		}
		return ""
	})
	if status, err := a.create("after.example.com", tokenFor("after.example.com"), csrf); err != nil || status != http.StatusSeeOther {
		t.Errorf("a create with the database back: %d %v", status, err)
	}
	close(stop)
	wg.Wait()
	if u := unexpected.Load(); u != nil {
		t.Error(u)
	}
	select {
	case <-p.exited:
		t.Fatalf("the server exited: %v\n%s", p.err, p.output.String())
	default:
	}

	// Every create answered 303 is there, and every configuration there is whole: its token
	// opens to what was sent.
	st := openStore(t, dsn, keyFile)
	answered := map[int]int{}
	for _, host := range made.hosts() {
		answered[made.status[host]]++
		cfg, ok := configOn(t, st, host)
		if !ok {
			if made.status[host] == http.StatusSeeOther {
				t.Errorf("%s answered 303 but is not stored", host)
			}
			continue
		}
		secrets, err := st.OpenSecrets(context.Background(), cfg.ID)
		if err != nil || secrets["access_token"] != tokenFor(host) {
			t.Errorf("%s is stored half-written: its token %v %v", host, secrets, err)
		}
	}
	if answered[http.StatusSeeOther] == 0 || answered[http.StatusServiceUnavailable] == 0 {
		t.Errorf("creates answered %v: want some before or after the outage, and some refused during it", answered)
	}
	t.Logf("creates answered %v", answered)
}
