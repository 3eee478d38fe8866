package web

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// The README's API examples work as written: each curl line of its api-examples block runs,
// in order, against a real server with a real key, and succeeds (curl -f fails on a 4xx/5xx).
func TestREADMEAPIExamplesRun(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		if os.Getenv("SCMADMIN_E2E") == "1" {
			t.Fatal("curl is needed to run the README's API examples")
		}
		t.Skip("no curl: the README's API examples are not run")
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, block, found := strings.Cut(string(readme), "<!-- api-examples")
	if !found {
		t.Fatal("README.md has no api-examples block")
	}
	_, block, _ = strings.Cut(block, "```sh\n")
	block, _, _ = strings.Cut(block, "```")
	app := newTestApp(t)
	env := append(os.Environ(), "SCMADMIN="+app.srv.URL, "KEY="+adminAPIKey(t, app))
	ran := 0
	for _, line := range strings.Split(block, "\n") {
		if !strings.HasPrefix(line, "curl ") {
			continue
		}
		cmd := exec.Command("bash", "-c", line)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("README example failed: %s\n%v: %s", line, err, out)
		}
		ran++
	}
	if ran < 10 {
		t.Errorf("ran %d curl examples, want one for each route (10)", ran)
	}
}
