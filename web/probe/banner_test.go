package probe

import (
	"context"
	"net"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/scmadmin/scmadmin/store"
)

func TestSSHLinesBeforeTheGreetingAreAllowed(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		conn.Write([]byte("Authorised users only.\r\nSSH-2.0-OpenSSH_9.6\r\n"))
		conn.Close()
	}()
	c, _ := New(nil)
	r := &run{c: c, ctx: context.Background(), t: Target{SCMConfig: store.SCMConfig{SSHURL: "ssh://git@" + ln.Addr().String()}}}
	if status, detail := r.sshBanner(); status != Passed {
		t.Errorf("ssh step %s: %s", status, detail)
	}
}

// A host's answer is cut for display without splitting a character: the detail stays valid
// UTF-8 whatever the host sent.
func TestTruncateKeepsUTF8Whole(t *testing.T) {
	for _, s := range []string{"SSH-2.0-ünïcødé-server", strings.Repeat("é", 40), "日本語のバナー", "plain ascii banner"} {
		for n := 0; n <= len(s); n++ {
			got := truncate(s, n)
			if !utf8.ValidString(got) {
				t.Fatalf("truncate(%q, %d) = %q: not valid UTF-8", s, n, got)
			}
			if n == len(s) && got != s {
				t.Errorf("truncate(%q, its length) = %q, want it whole", s, got)
			}
		}
	}
}
