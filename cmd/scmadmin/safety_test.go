package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/scmadmin/scmadmin/store"
	"github.com/scmadmin/scmadmin/store/keyring"
)

// Tests of the operations side (issue "Hardening and operations"): key rotation and backups
// while a server serves, a wrong key file, SIGKILL during creates and SIGTERM during a slow
// request.

const safetyPassword = "safety tests password 1"

// admin is a signed-in browser stand-in: it keeps cookies and sees every status code.
type admin struct {
	base string
	http *http.Client
}

// signInAdmin signs in as admin on the server at base.
func signInAdmin(t *testing.T, base string) *admin {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	a := &admin{base: base, http: &http.Client{
		Jar:           jar,
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
	token, err := a.token("/login")
	if err != nil {
		t.Fatal(err)
	}
	res, err := a.http.PostForm(base+"/login", url.Values{"_csrf": {token}, "username": {"admin"}, "password": {safetyPassword}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", res.StatusCode)
	}
	return a
}

// page GETs path and parses it.
func (a *admin) page(path string) (int, *goquery.Document, error) {
	res, err := a.http.Get(a.base + path)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	doc, err := goquery.NewDocumentFromReader(res.Body)
	return res.StatusCode, doc, err
}

// token is the _csrf hidden input of the page at path.
func (a *admin) token(path string) (string, error) {
	_, doc, err := a.page(path)
	if err != nil {
		return "", err
	}
	token, ok := doc.Find(`input[name=_csrf]`).Attr("value")
	if !ok || token == "" {
		return "", fmt.Errorf("%s has no _csrf input", path)
	}
	return token, nil
}

// post sends form to path with token (fetched from the Add page when empty) and returns the
// status and body.
func (a *admin) post(path, token string, form url.Values) (int, string, error) {
	if token == "" {
		var err error
		if token, err = a.token("/admin/scm/new"); err != nil {
			return 0, "", err
		}
	}
	f := url.Values{}
	for k, v := range form {
		f[k] = v
	}
	f.Set("_csrf", token)
	res, err := a.http.PostForm(a.base+path, f)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	return res.StatusCode, string(body), err
}

// bbForm is the Add form of a Bitbucket Server configuration on host with an access token.
func bbForm(host, token string) url.Values {
	return url.Values{
		"provider":     {"bitbucket_server"},
		"website_url":  {"https://" + host},
		"api_url":      {"https://" + host + "/rest/api/1.0"},
		"ssh_url":      {"ssh://git@" + host + ":7999"},
		"project_key":  {"ALGO"},
		"access_token": {token},
	}
}

// create adds a Bitbucket Server configuration on host, copying the _csrf token from the Add
// page first (token "") or using the one given.
func (a *admin) create(host, accessToken, csrfToken string) (int, error) {
	status, _, err := a.post("/admin/scm", csrfToken, bbForm(host, accessToken))
	return status, err
}

func tokenFor(host string) string { return "tok-" + strings.ReplaceAll(host, ".", "-") }

// creations records the creates a test made: host → status.
type creations struct {
	mu     sync.Mutex
	status map[string]int
	order  []string
}

func (c *creations) add(host string, status int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.status == nil {
		c.status = map[string]int{}
	}
	c.status[host] = status
	c.order = append(c.order, host)
	return len(c.order)
}

func (c *creations) hosts() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.order...)
}

// keepCreating creates configurations on hosts prefix-N until stop is closed, pausing between
// them; it returns when the last request is answered.
func keepCreating(a *admin, prefix string, pause time.Duration, stop <-chan struct{}, got *creations) <-chan error {
	done := make(chan error, 1)
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			host := fmt.Sprintf("%s-%d.example.com", prefix, i)
			status, err := a.create(host, tokenFor(host), "")
			if err != nil {
				done <- err
				return
			}
			got.add(host, status)
			time.Sleep(pause)
		}
	}()
	return done
}

// openStore opens the database at path with the key file at keyFile, as a second process.
func openStore(t *testing.T, path, keyFile string) *store.Store {
	t.Helper()
	keys, err := keyring.Load(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), path, keys)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// configOn returns the configuration whose Website URL is https://host.
func configOn(t *testing.T, st *store.Store, host string) (store.SCMConfig, bool) {
	t.Helper()
	cfgs, _, err := st.ListSCMConfigs(context.Background(), store.SCMQuery{Search: host, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cfgs {
		if c.WebsiteURL == "https://"+host {
			return c, true
		}
	}
	return store.SCMConfig{}, false
}

// keyLines are the key lines of a key file (comments and blank lines skipped).
func keyLines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(string(data), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	return lines
}

// secretKeyIDs counts the secrets in the database by the key id they are sealed with.
func secretKeyIDs(t *testing.T, path string) map[uint32]int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT key_id, count(*) FROM scm_secrets GROUP BY key_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	ids := map[uint32]int{}
	for rows.Next() {
		var id uint32
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			t.Fatal(err)
		}
		ids[id] = n
	}
	return ids
}

func signHook(body []byte, secret string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

func TestKeysRotateWhileServing(t *testing.T) {
	dir := t.TempDir()
	dbPath, keyFile := filepath.Join(dir, "scm.db"), filepath.Join(dir, "scmadmin.key")
	vars := map[string]string{"SCMADMIN_DB": dbPath, "SCMADMIN_ADMIN_PASSWORD": safetyPassword}
	base, _ := startServer(t, vars)
	a := signInAdmin(t, base)

	var made creations
	for i := 1; i <= 3; i++ {
		host := fmt.Sprintf("bb%d.example.com", i)
		status, err := a.create(host, tokenFor(host), "")
		if err != nil || status != http.StatusSeeOther {
			t.Fatalf("create %s: %d %v", host, status, err)
		}
		made.add(host, status)
	}

	stop := make(chan struct{})
	creating := keepCreating(a, "during-rotation", 20*time.Millisecond, stop, &made)
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := run(ctx, []string{"keys", "rotate"}, env(vars), strings.NewReader(""), &out)
	close(stop)
	if cerr := <-creating; cerr != nil {
		t.Errorf("a create during the rotation failed: %v", cerr)
	}
	if err != nil {
		t.Fatalf("keys rotate: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "with key 2") {
		t.Errorf("keys rotate printed %q", out.String())
	}
	// Creates after the rotation, on the same running server.
	for i := range 3 {
		host := fmt.Sprintf("after-rotation-%d.example.com", i)
		status, err := a.create(host, tokenFor(host), "")
		if err != nil {
			t.Fatal(err)
		}
		made.add(host, status)
	}
	during := 0
	for _, h := range made.hosts() {
		if strings.HasPrefix(h, "during-rotation") {
			during++
		}
		if s := made.status[h]; s != http.StatusSeeOther {
			t.Errorf("create of %s answered %d, want 303", h, s)
		}
	}
	if during == 0 {
		t.Error("no create ran during the rotation")
	}
	t.Logf("%d creates during the rotation", during)

	// The key file holds key 2 alone.
	if lines := keyLines(t, keyFile); len(lines) != 1 || !strings.HasPrefix(lines[0], "2 ") {
		t.Errorf("key file after rotation holds %d keys: %q", len(lines), lines)
	}
	keys, err := keyring.Load(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := keys.Seal([]byte("x"), nil); id != 2 || keys.Current() != 2 {
		t.Errorf("the key file seals with key %d, want 2", id)
	}
	if info, err := os.Stat(keyFile); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("key file mode: %v %v", info.Mode(), err)
	}

	// Every secret is sealed with key 2, and opens to what was sent.
	if ids := secretKeyIDs(t, dbPath); len(ids) != 1 || ids[2] == 0 {
		t.Errorf("secrets by key id: %v, want all under key 2", ids)
	}
	st := openStore(t, dbPath, keyFile)
	if err := st.CheckKeys(context.Background()); err != nil {
		t.Errorf("CheckKeys after rotation: %v", err)
	}
	var firstID int64
	var firstHookSecret string
	for _, host := range made.hosts() {
		cfg, ok := configOn(t, st, host)
		if !ok {
			t.Errorf("%s answered 303 but is not stored", host)
			continue
		}
		secrets, err := st.OpenSecrets(context.Background(), cfg.ID)
		if err != nil {
			t.Errorf("secrets of %s (%d): %v", host, cfg.ID, err)
			continue
		}
		if secrets["access_token"] != tokenFor(host) {
			t.Errorf("access token of %s opens to %q, want %q", host, secrets["access_token"], tokenFor(host))
		}
		if secrets[store.WebhookSecret] == "" {
			t.Errorf("%s has no webhook secret", host)
		}
		if firstID == 0 {
			firstID, firstHookSecret = cfg.ID, secrets[store.WebhookSecret]
		}
	}

	// The running server still opens the secrets: its pages work, and a delivery signed
	// with a re-encrypted webhook secret is authenticated.
	if status, _, err := a.page(fmt.Sprintf("/admin/scm/%d/edit", firstID)); err != nil || status != http.StatusOK {
		t.Errorf("edit page after rotation: %d %v", status, err)
	}
	body := []byte(`{"eventKey":"pr:opened"}`)
	req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("%s/hooks/scm/%d", base, firstID), bytes.NewReader(body))
	req.Header.Set("X-Event-Key", "pr:opened")
	req.Header.Set("X-Hub-Signature", signHook(body, firstHookSecret))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusAccepted {
		t.Errorf("signed delivery after rotation: %d, want 202 (the server could not open the webhook secret?)", res.StatusCode)
	}
}

// TestKeysRotateNeverRetiresAKeyInUse: with no server to wait for, rotation must not end with
// secrets sealed under a key it removed from the key file. The re-encryption seals with its
// own keyring's current key, which follows the key file only when the file's modification
// time changed; nothing else checks, before RetireKeys, that no secret still needs an old key.
func TestKeysRotateNeverRetiresAKeyInUse(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	dbPath, keyFile := filepath.Join(dir, "scm.db"), filepath.Join(dir, "scmadmin.key")
	keys, _, err := keyring.LoadOrCreate(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, dbPath, keys)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateSCMConfig(ctx, store.SCMConfig{Provider: "bitbucket_server", WebsiteURL: "https://bb.example.com",
		APIURL: "https://bb.example.com/rest/api/1.0", SSHURL: "ssh://git@bb.example.com:7999", ProjectKey: "ALGO",
		UniqueKey: "retire-test"}, map[string]string{"access_token": "secret-token"}, store.Actor{Username: "t"}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	var out bytes.Buffer
	rotateErr := run(ctx, []string{"keys", "rotate"}, env(map[string]string{"SCMADMIN_DB": dbPath}), strings.NewReader(""), &out)
	after := openStore(t, dbPath, keyFile)
	if err := after.CheckKeys(ctx); err != nil {
		t.Errorf("keys rotate returned %v after printing %q, and left the secrets unreadable: %v "+
			"(secrets by key id %v, key file %q). It retired key 1 while secrets still needed it: re-encrypt with the id "+
			"AddKey returned, or refuse to retire while any secret has another key id.",
			rotateErr, strings.TrimSpace(out.String()), err, secretKeyIDs(t, dbPath), keyLines(t, keyFile))
	}
	if rotateErr == nil {
		if ids := secretKeyIDs(t, dbPath); len(ids) != 1 || ids[2] == 0 {
			t.Errorf("rotation succeeded but the secrets are under keys %v", ids)
		}
	}
}

func TestWrongKeyFileIsRefused(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	dbPath, keyFile := filepath.Join(dir, "scm.db"), filepath.Join(dir, "scmadmin.key")
	vars := map[string]string{"SCMADMIN_DB": dbPath, "SCMADMIN_ADMIN_PASSWORD": safetyPassword}
	if err := run(ctx, []string{"user", "add", "alice"}, env(vars), strings.NewReader("alice's password 1\n"), io.Discard); err != nil {
		t.Fatal(err)
	}
	// A configuration with a secret, sealed with the right key.
	func() {
		st := openStore(t, dbPath, keyFile)
		defer st.Close()
		_, err := st.CreateSCMConfig(ctx, store.SCMConfig{Provider: "bitbucket_server", WebsiteURL: "https://bb.example.com",
			APIURL: "https://bb.example.com/rest/api/1.0", SSHURL: "ssh://git@bb.example.com:7999", ProjectKey: "ALGO",
			UniqueKey: "wrong-key-test"}, map[string]string{"access_token": "secret-token"}, store.Actor{Username: "t"})
		if err != nil {
			t.Fatal(err)
		}
	}()

	// Another key under the same id 1.
	other := make([]byte, 32)
	for i := range other {
		other[i] = byte(i * 7)
	}
	wrong := []byte("# not the right file\n1 " + base64.StdEncoding.EncodeToString(other) + "\n")
	if err := os.WriteFile(keyFile, wrong, 0o600); err != nil {
		t.Fatal(err)
	}
	err := run(ctx, []string{"serve", "--addr", "127.0.0.1:0"}, env(vars), strings.NewReader(""), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "key file") || !strings.Contains(err.Error(), keyFile) {
		t.Errorf("serve with a wrong key file: %v, want a refusal naming the key file %s", err, keyFile)
	}
	if got, _ := os.ReadFile(keyFile); !bytes.Equal(got, wrong) {
		t.Errorf("start-up changed the key file:\n%s", got)
	}
	// keys rotate refuses too, and leaves the file alone.
	err = run(ctx, []string{"keys", "rotate"}, env(vars), strings.NewReader(""), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "key file") {
		t.Errorf("keys rotate with a wrong key file: %v", err)
	}
	if got, _ := os.ReadFile(keyFile); !bytes.Equal(got, wrong) {
		t.Errorf("keys rotate changed the wrong key file:\n%s", got)
	}
	// A key file lacking the key id the secrets need is refused as well.
	if err := os.WriteFile(keyFile, []byte("2 "+base64.StdEncoding.EncodeToString(other)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err = run(ctx, []string{"serve", "--addr", "127.0.0.1:0"}, env(vars), strings.NewReader(""), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "key file") {
		t.Errorf("serve with a key file lacking key 1: %v", err)
	}
}

func TestBackupWhileServingAndRestore(t *testing.T) {
	dir := t.TempDir()
	dbPath, keyFile := filepath.Join(dir, "scm.db"), filepath.Join(dir, "scmadmin.key")
	vars := map[string]string{"SCMADMIN_DB": dbPath, "SCMADMIN_ADMIN_PASSWORD": safetyPassword}
	backupFile := filepath.Join(t.TempDir(), "backup.db")
	pristine := filepath.Join(t.TempDir(), "pristine-backup.db")
	var before, during creations
	backupTotal := 0

	// The servers of this subtest stop when it ends.
	t.Run("backup while serving", func(t *testing.T) {
		base, _ := startServer(t, vars)
		a := signInAdmin(t, base)
		for i := range 5 {
			host := fmt.Sprintf("before-backup-%d.example.com", i)
			status, err := a.create(host, tokenFor(host), "")
			if err != nil || status != http.StatusSeeOther {
				t.Fatalf("create %s: %d %v", host, status, err)
			}
			before.add(host, status)
		}
		stop := make(chan struct{})
		creating := keepCreating(a, "during-backup", 0, stop, &during)
		time.Sleep(100 * time.Millisecond) // creates under way

		var out bytes.Buffer
		err := run(context.Background(), []string{"backup", backupFile}, env(vars), strings.NewReader(""), &out)
		close(stop)
		if cerr := <-creating; cerr != nil {
			t.Errorf("create during the backup: %v", cerr)
		}
		if err != nil {
			t.Fatalf("backup: %v", err)
		}
		if !strings.Contains(out.String(), keyFile) {
			t.Errorf("backup does not remind of the key file: %q", out.String())
		}
		for _, h := range during.hosts() {
			if s := during.status[h]; s != http.StatusSeeOther {
				t.Errorf("create of %s during the backup answered %d", h, s)
			}
		}
		t.Logf("%d creates during the backup", len(during.hosts()))

		// A second backup to the same file is refused and leaves it alone.
		info, _ := os.Stat(backupFile)
		if err := run(context.Background(), []string{"backup", backupFile}, env(vars), strings.NewReader(""), io.Discard); err == nil ||
			!strings.Contains(err.Error(), "exists") {
			t.Errorf("backup over an existing file: %v", err)
		}
		if again, _ := os.Stat(backupFile); again.Size() != info.Size() || !again.ModTime().Equal(info.ModTime()) {
			t.Error("the refused backup changed the existing file")
		}

		// A copy of the backup, as the database of a second server with the same key file.
		restored := filepath.Join(t.TempDir(), "restored.db")
		copyFile(t, backupFile, restored)
		copyFile(t, backupFile, pristine) // for the restore below: opening the backup changes its header

		// The backup opens with the same key file and holds what was there before it began.
		st := openStore(t, backupFile, keyFile)
		if err := st.CheckKeys(context.Background()); err != nil {
			t.Errorf("CheckKeys on the backup: %v", err)
		}
		for _, host := range before.hosts() {
			cfg, ok := configOn(t, st, host)
			if !ok {
				t.Errorf("the backup lacks %s, created before it began", host)
				continue
			}
			if s, err := st.OpenSecrets(context.Background(), cfg.ID); err != nil || s["access_token"] != tokenFor(host) {
				t.Errorf("secret of %s in the backup: %v %v", host, s, err)
			}
		}
		_, backupTotal, err = st.ListSCMConfigs(context.Background(), store.SCMQuery{Limit: 1})
		if err != nil || backupTotal < 1+len(before.hosts()) || backupTotal > 1+len(before.hosts())+len(during.hosts()) {
			t.Errorf("the backup holds %d configurations (%v); %d made before it, %d during", backupTotal, err,
				len(before.hosts()), len(during.hosts()))
		}
		st.Close()

		base2, _ := startServer(t, map[string]string{"SCMADMIN_DB": restored, "SCMADMIN_KEY_FILE": keyFile})
		assertListed(t, signInAdmin(t, base2), before.hosts())
	})
	if t.Failed() {
		return
	}

	// Restore as the README says: the server stopped, the backup copied over the database
	// file, its -wal and -shm deleted, the same key file, and start.
	copyFile(t, pristine, dbPath)
	for _, suffix := range []string{"-wal", "-shm"} {
		if err := os.Remove(dbPath + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
	}
	base, _ := startServer(t, vars)
	a := signInAdmin(t, base)
	assertListed(t, a, before.hosts())
	st := openStore(t, dbPath, keyFile)
	if _, total, err := st.ListSCMConfigs(context.Background(), store.SCMQuery{Limit: 1}); err != nil || total != backupTotal {
		t.Errorf("the restored database holds %d configurations (%v), the backup %d", total, err, backupTotal)
	}
	for _, host := range before.hosts() {
		if cfg, ok := configOn(t, st, host); ok {
			if s, err := st.OpenSecrets(context.Background(), cfg.ID); err != nil || s["access_token"] != tokenFor(host) {
				t.Errorf("secret of %s after the restore: %v %v", host, s, err)
			}
		}
	}
}

// copyFile copies the file at from to to, replacing it.
func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// assertListed checks that the list of the server a is signed in to shows a row for each host.
func assertListed(t *testing.T, a *admin, hosts []string) {
	t.Helper()
	for _, host := range hosts {
		status, doc, err := a.page("/admin/scm?q=" + url.QueryEscape(host))
		if err != nil || status != http.StatusOK {
			t.Fatalf("list: %d %v", status, err)
		}
		n := 0
		doc.Find("table#scm-configs tr[data-scm-id]").Each(func(_ int, row *goquery.Selection) {
			if strings.Contains(row.Text(), "https://"+host) {
				n++
			}
		})
		if n != 1 {
			t.Errorf("the list shows %s %d times, want once", host, n)
		}
	}
}

// buildBinary builds scmadmin into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go is not on PATH: cannot build the scmadmin binary these tests run as a subprocess")
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "scmadmin")
	cmd := exec.Command(goTool, "build", "-o", bin, ".")
	cmd.Dir = wd
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// freeAddr returns a 127.0.0.1 address with a port nothing listens on (just now).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// process is scmadmin serving as a subprocess.
type process struct {
	cmd    *exec.Cmd
	base   string
	output *lockedBuffer
	exited chan struct{}
	err    error // what Wait returned, once exited is closed
}

// startProcess runs `bin serve` on a free 127.0.0.1 port with vars as its only SCMADMIN_*
// settings (continuous health off unless vars turn it on) and waits until /healthz answers.
func startProcess(t *testing.T, bin string, vars map[string]string) *process {
	t.Helper()
	addr := freeAddr(t)
	cmd := exec.Command(bin, "serve")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SCMADMIN_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	// The tests' configurations name hosts that are not on this machine: no health check runs
	// unless a test asks for one.
	cmd.Env = append(cmd.Env, "SCMADMIN_ADDR="+addr, "SCMADMIN_RECHECK_INTERVAL=0")
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p := &process{cmd: cmd, base: "http://" + addr, output: &lockedBuffer{}, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.output, p.output
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			cmd.Process.Kill()
			<-p.exited
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		res, err := http.Get(p.base + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case <-p.exited:
			t.Fatalf("scmadmin exited before serving (%v):\n%s", p.err, p.output.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("scmadmin did not answer /healthz within 15 s:\n%s", p.output.String())
		}
	}
}

func TestSubprocess(t *testing.T) {
	bin := buildBinary(t)
	t.Run("SIGKILL during creates loses no answered create", func(t *testing.T) { testKillDuringCreates(t, bin) })
	t.Run("SIGTERM drains a slow request", func(t *testing.T) { testTermDrainsSlowRequest(t, bin) })
}

func testKillDuringCreates(t *testing.T, bin string) {
	dir := t.TempDir()
	vars := map[string]string{
		"SCMADMIN_DB":             filepath.Join(dir, "scm.db"),
		"SCMADMIN_KEY_FILE":       filepath.Join(dir, "keys"),
		"SCMADMIN_ADMIN_PASSWORD": safetyPassword,
	}
	p := startProcess(t, bin, vars)
	a := signInAdmin(t, p.base)
	token, err := a.token("/admin/scm/new")
	if err != nil {
		t.Fatal(err)
	}

	const workers, enough = 8, 40
	var got creations
	reached := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				host := fmt.Sprintf("kill-%d-%d.example.com", w, i)
				status, err := a.create(host, tokenFor(host), token)
				if err != nil {
					return // the server is gone
				}
				if got.add(host, status) >= enough {
					once.Do(func() { close(reached) })
				}
			}
		}()
	}
	select {
	case <-reached:
	case <-time.After(10 * time.Second):
		t.Fatal("40 creates were not answered within 10 s")
	}
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	<-p.exited

	var answered []string
	for _, h := range got.hosts() {
		switch got.status[h] {
		case http.StatusSeeOther:
			answered = append(answered, h)
		default:
			t.Errorf("create of %s answered %d before the kill", h, got.status[h])
		}
	}
	t.Logf("%d creates answered 303 before SIGKILL", len(answered))

	p2 := startProcess(t, bin, vars)
	a2 := signInAdmin(t, p2.base)
	assertListed(t, a2, answered)
	// The secrets of what survived still open.
	st := openStore(t, vars["SCMADMIN_DB"], vars["SCMADMIN_KEY_FILE"])
	if err := st.CheckKeys(context.Background()); err != nil {
		t.Errorf("CheckKeys after the kill: %v", err)
	}
}

func testTermDrainsSlowRequest(t *testing.T, bin string) {
	dir := t.TempDir()
	vars := map[string]string{
		"SCMADMIN_DB":             filepath.Join(dir, "scm.db"),
		"SCMADMIN_KEY_FILE":       filepath.Join(dir, "keys"),
		"SCMADMIN_ADMIN_PASSWORD": safetyPassword,
	}
	p := startProcess(t, bin, vars)
	a := signInAdmin(t, p.base)

	// A "Bitbucket" that accepts connections and never says a word: the TLS step waits its 5 s.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan struct{}, 16)
	var held []net.Conn
	var heldMu sync.Mutex
	go func() {
		for {
			conn, err := silent.Accept()
			if err != nil {
				return
			}
			heldMu.Lock()
			held = append(held, conn)
			heldMu.Unlock()
			accepted <- struct{}{}
		}
	}()
	t.Cleanup(func() {
		silent.Close()
		heldMu.Lock()
		for _, c := range held {
			c.Close()
		}
		heldMu.Unlock()
	})

	hostPort := silent.Addr().String()
	form := url.Values{
		"provider":     {"bitbucket_server"},
		"website_url":  {"https://" + hostPort},
		"api_url":      {"https://" + hostPort + "/rest/api/1.0"},
		"ssh_url":      {"ssh://git@" + hostPort},
		"project_key":  {"ALGO"},
		"access_token": {"slow-token"},
	}
	token, err := a.token("/admin/scm/new")
	if err != nil {
		t.Fatal(err)
	}
	type answer struct {
		status int
		body   string
		err    error
		at     time.Time
	}
	answered := make(chan answer, 1)
	sent := time.Now()
	go func() {
		status, body, err := a.post("/admin/scm/test", token, form)
		answered <- answer{status, body, err, time.Now()}
	}()
	// Wait for the TLS step's connection (the second): the request is then in its slow part.
	for i := range 2 {
		select {
		case <-accepted:
		case ans := <-answered:
			t.Fatalf("the test answered before connecting %d times: %d %v\n%s", i+1, ans.status, ans.err, ans.body)
		case <-time.After(5 * time.Second):
			t.Fatal("the connection test never reached the silent host")
		}
	}
	time.Sleep(200 * time.Millisecond)
	termAt := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}

	// New connections are refused once the server is shutting down.
	time.Sleep(300 * time.Millisecond)
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 2 * time.Second}
	if res, err := fresh.Get(p.base + "/healthz"); err == nil {
		res.Body.Close()
		t.Errorf("a new request during shutdown was served: %d", res.StatusCode)
	}

	var ans answer
	select {
	case ans = <-answered:
	case <-time.After(15 * time.Second):
		t.Fatal("the request in flight was not answered within 15 s of SIGTERM")
	}
	if ans.err != nil || ans.status != http.StatusOK {
		t.Fatalf("request in flight at SIGTERM: %d %v\n%s", ans.status, ans.err, ans.body)
	}
	if !strings.Contains(ans.body, "TLS handshake") {
		t.Errorf("the connection test's page does not report the silent TLS handshake:\n%s", ans.body)
	}
	if took := ans.at.Sub(sent); took < 3*time.Second {
		t.Errorf("the slow request took only %s: was it cut short?", took)
	}
	if ans.at.Before(termAt) {
		t.Error("the request finished before SIGTERM: nothing was in flight")
	}

	select {
	case <-p.exited:
	case <-time.After(shutdownGrace + 5*time.Second):
		t.Fatalf("scmadmin still runs %s after SIGTERM:\n%s", shutdownGrace+5*time.Second, p.output.String())
	}
	var exit *exec.ExitError
	if p.err != nil {
		if errors.As(p.err, &exit) {
			t.Errorf("scmadmin exited with %d after SIGTERM, want 0:\n%s", exit.ExitCode(), p.output.String())
		} else {
			t.Error(p.err)
		}
	}
	if out := p.output.String(); !strings.Contains(out, "shutting down") {
		t.Errorf("no shutdown line in the log:\n%s", out)
	}
}
