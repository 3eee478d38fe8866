package probe

import (
	"context"
	"net"
	"testing"

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
