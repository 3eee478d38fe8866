package fakehost

import (
	"encoding/pem"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// Server is a handler served over TLS on 127.0.0.1 with httptest's certificate.
type Server struct {
	*httptest.Server
	// CAPEM is the server's certificate in PEM, for the client's extra CAs.
	CAPEM []byte
}

// ServeTLS serves h until the test ends.
func ServeTLS(t testing.TB, h http.Handler) *Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // handshakes a probe opens and drops are expected
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return &Server{Server: srv, CAPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})}
}

// TCP is a listener on 127.0.0.1 that hands each connection to a function of the test's.
type TCP struct {
	Listener net.Listener
	Port     int
	mu       sync.Mutex
	conns    []net.Conn
	wg       sync.WaitGroup
}

// Listen serves each connection with serve until the test ends, then closes them all.
func Listen(t testing.TB, serve func(net.Conn)) *TCP {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &TCP{Listener: ln, Port: ln.Addr().(*net.TCPAddr).Port}
	f.wg.Add(1)
	go f.accept(serve)
	t.Cleanup(func() {
		ln.Close()
		f.mu.Lock()
		for _, c := range f.conns {
			c.Close()
		}
		f.mu.Unlock()
		f.wg.Wait()
	})
	return f
}

func (f *TCP) accept(serve func(net.Conn)) {
	defer f.wg.Done()
	for {
		conn, err := f.Listener.Accept()
		if err != nil {
			return
		}
		f.mu.Lock()
		f.conns = append(f.conns, conn)
		f.mu.Unlock()
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			defer conn.Close()
			serve(conn)
		}()
	}
}

// Addr is the listener's host:port.
func (f *TCP) Addr() string { return f.Listener.Addr().String() }

// SSHBanner is what Bitbucket Server's SSH daemon greets with.
const SSHBanner = "SSH-2.0-SSHD-CORE-2.9.2\r\n"

// SSH greets every connection with banner, as an SSH server does, and waits for the client to go.
func SSH(t testing.TB, banner string) *TCP {
	return Listen(t, func(c net.Conn) {
		io.WriteString(c, banner)
		io.Copy(io.Discard, c)
	})
}
