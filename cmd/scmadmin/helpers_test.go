package main

// The test helpers more than one test file of this package uses.

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// startServer runs `scmadmin serve` until the test ends and returns its URL and what it
// printed before it started listening.
func startServer(t *testing.T, vars map[string]string, args ...string) (base string, printed string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...), env(vars), strings.NewReader(""), pw)
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve returned %v after SIGTERM-like cancel", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("serve did not stop within 15 s of cancel")
		}
	})
	sc := bufio.NewScanner(pr)
	var out strings.Builder
	for sc.Scan() {
		line := sc.Text()
		out.WriteString(line + "\n")
		var rec struct{ Msg, Addr string }
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "scmadmin is serving" {
			go io.Copy(io.Discard, pr) // keep the log flowing
			return "http://" + rec.Addr, out.String()
		}
	}
	t.Fatalf("server stopped before listening:\n%s", out.String())
	return "", ""
}
