package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// withFileSizeLimit returns an executable that runs bin with files limited to n bytes
// (RLIMIT_FSIZE): the database cannot grow past it, as on a full disk.
func withFileSizeLimit(t *testing.T, bin string, n int) string {
	t.Helper()
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Skip("no prlimit (util-linux) to limit the file size with")
	}
	script := filepath.Join(t.TempDir(), "limited")
	body := fmt.Sprintf("#!/bin/sh\nexec %s --fsize=%d %s \"$@\"\n", prlimit, n, bin)
	if err := os.WriteFile(script, []byte(body), 0o700); err != nil {
		t.Fatal(err)
	}
	return script
}

// TestDatabaseThatCannotBeWritten: with a database that could not be written, the server
// started, /healthz said 200 and every sign-in was a 500 (issue 13, item 7). Start-up now
// refuses it, and once writes start failing, /healthz and the pages answer 503 naming the
// cause.
func TestDatabaseThatCannotBeWritten(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	vars := map[string]string{"SCMADMIN_DB": filepath.Join(dir, "scm.db"), "SCMADMIN_ADMIN_PASSWORD": safetyPassword}
	first := startProcess(t, bin, vars) // made and migrated
	first.cmd.Process.Signal(os.Interrupt)
	<-first.exited // its last checkpoint done: the next start writes nothing but its own

	out, err := exec.Command(withFileSizeLimit(t, bin, 4096), "serve", "--addr", "127.0.0.1:0").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "cannot be written") {
		t.Errorf("start-up on a database that cannot be written: %v\n%s", err, out)
	}

	// Room for start-up, not for much more.
	p := startProcess(t, withFileSizeLimit(t, bin, 96<<10), vars)
	a := signInAdmin(t, p.base)
	token, err := a.token("/admin/scm/new?provider=bitbucket_server")
	if err != nil {
		t.Fatal(err)
	}
	status := 0
	for i := 0; i < 200 && status != http.StatusServiceUnavailable; i++ {
		var body string
		status, body, err = a.post("/admin/scm", token, bbForm(fmt.Sprintf("bb%d.example.com", i), "t"))
		if err != nil || (status != http.StatusSeeOther && status != http.StatusServiceUnavailable) {
			t.Fatalf("create %d: %d %v\n%.400s", i, status, err, body)
		}
		if status == http.StatusServiceUnavailable && !strings.Contains(body, "The database cannot be written") {
			t.Errorf("the 503 page does not say why:\n%.2000s", body)
		}
	}
	if status != http.StatusServiceUnavailable {
		t.Fatal("200 creates and the database never filled: the file size limit is not in force")
	}
	// /healthz writes one page at most once a second: the last pages a create could not use
	// are gone within a few seconds.
	var code int
	var body []byte
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
		res, err := http.Get(p.base + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(res.Body)
		res.Body.Close()
		if code = res.StatusCode; code != http.StatusOK {
			break
		}
	}
	if code != http.StatusServiceUnavailable || !strings.Contains(string(body), "cannot be written") {
		t.Errorf("/healthz on a full disk: %d %q, want 503 naming the cause", code, body)
	}
}
