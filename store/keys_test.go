package store

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/scmadmin/scmadmin/store/keyring"
)

// CheckKeys must try a secret of every key in use, not only the first it meets.
func TestCheckKeysTriesEveryKeyInUse(t *testing.T) {
	ctx := context.Background()
	key := func() string {
		k := make([]byte, 32)
		rand.Read(k)
		return base64.StdEncoding.EncodeToString(k)
	}
	one, two := "1 "+key(), "2 "+key()
	path := testDSN(t, t.TempDir())
	open := func(keys string) *Store {
		t.Helper()
		file := filepath.Join(t.TempDir(), "scmadmin.key")
		if err := os.WriteFile(file, []byte(keys+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		k, err := keyring.Load(file)
		if err != nil {
			t.Fatal(err)
		}
		s, err := Open(ctx, path, k)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	create := func(s *Store, host string) {
		t.Helper()
		cfg := SCMConfig{Provider: "bitbucket_server", WebsiteURL: "https://" + host, APIURL: "https://" + host + "/rest/api/1.0",
			SSHURL: "ssh://git@" + host + ":7999", ProjectKey: "ALGO", UniqueKey: "bitbucket_server https://" + host + " ALGO"}
		if _, err := s.CreateSCMConfig(ctx, cfg, map[string]string{"access_token": "t"}, testActor); err != nil {
			t.Fatal(err)
		}
	}
	s := open(one) // secrets sealed under key 1
	create(s, "one.example.com")
	s.Close()
	s = open(one + "\n" + two) // and then under key 2
	create(s, "two.example.com")
	if err := s.CheckKeys(ctx); err != nil {
		t.Errorf("CheckKeys with both keys: %v", err)
	}
	s.Close()

	for _, keys := range []string{one, two, "1 " + key() + "\n" + two} {
		s := open(keys)
		err := s.CheckKeys(ctx)
		s.Close()
		if !errors.Is(err, ErrWrongKeys) {
			t.Errorf("CheckKeys with a keyring missing a key in use = %v, want ErrWrongKeys", err)
		}
	}
}
