package keyring

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// keyLine returns a key file line "ID BASE64" holding a fresh random 32-byte key.
func keyLine(t *testing.T, id string) string {
	t.Helper()
	key := make([]byte, keySize)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	return id + " " + base64.StdEncoding.EncodeToString(key) + "\n"
}

func mustParse(t *testing.T, content string) *Keyring {
	t.Helper()
	k, err := Parse([]byte(content))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return k
}

func TestLoadOrCreateCreatesFileWith0600AndReloads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "scmadmin.key")

	k1, created, err := LoadOrCreate(path)
	if err != nil {
		t.Fatalf("first LoadOrCreate: %v", err)
	}
	if !created {
		t.Error("first LoadOrCreate: created = false, want true")
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("key file not created: %v", err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("key file mode = %v, want 0600", perm)
	}
	if !fi.Mode().IsRegular() {
		t.Errorf("key file is not a regular file: %v", fi.Mode())
	}
	content, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(content), "\n1 ") {
		t.Errorf("key file does not hold key 1:\n%s", content)
	}

	ad := []byte("scm_configs/7/client_secret")
	id, sealed := k1.Seal([]byte("hello secret"), ad)
	if id != 1 {
		t.Errorf("Seal key id = %d, want 1", id)
	}

	k2, created, err := LoadOrCreate(path)
	if err != nil {
		t.Fatalf("second LoadOrCreate: %v", err)
	}
	if created {
		t.Error("second LoadOrCreate: created = true, want false")
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(content, after) {
		t.Error("second LoadOrCreate rewrote the key file")
	}
	plain, err := k2.Open(id, sealed, ad)
	if err != nil {
		t.Fatalf("reloaded keyring cannot open what the first sealed: %v", err)
	}
	if string(plain) != "hello secret" {
		t.Errorf("Open = %q, want %q", plain, "hello secret")
	}

	// Load reads the same file too.
	k3, err := Load(path)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if _, err := k3.Open(id, sealed, ad); err != nil {
		t.Errorf("Load-ed keyring cannot open: %v", err)
	}
}

func TestLoadOrCreateFreshFilesHaveDifferentKeys(t *testing.T) {
	dir := t.TempDir()
	ka, _, err := LoadOrCreate(filepath.Join(dir, "a.key"))
	if err != nil {
		t.Fatal(err)
	}
	kb, _, err := LoadOrCreate(filepath.Join(dir, "b.key"))
	if err != nil {
		t.Fatal(err)
	}
	id, sealed := ka.Seal([]byte("x"), nil)
	if _, err := kb.Open(id, sealed, nil); err == nil {
		t.Error("a different key file opened the ciphertext: keys are not random")
	}
}

func TestLoadOrCreateBadFileIsAnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.key")
	if err := os.WriteFile(path, []byte("not a key file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	k, created, err := LoadOrCreate(path)
	if err == nil || k != nil || created {
		t.Fatalf("LoadOrCreate(bad file) = %v, %v, %v; want nil, false, error", k, created, err)
	}
	after, _ := os.ReadFile(path)
	if string(after) != "not a key file\n" {
		t.Error("LoadOrCreate overwrote an existing (bad) key file")
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "missing.key"))
	if err == nil {
		t.Fatal("Load(missing) succeeded")
	}
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) error %v does not wrap fs.ErrNotExist", err)
	}
}

func TestSealOpenRoundTrip(t *testing.T) {
	k := mustParse(t, keyLine(t, "1"))
	for _, plain := range []string{"", "s", "tok-1234567890", strings.Repeat("密码🔑", 500)} {
		ad := []byte("scm_configs/1/access_token")
		id, sealed := k.Seal([]byte(plain), ad)
		// (Only for plaintexts long enough that a random match is impossible.)
		if len(plain) >= 8 && bytes.Contains(sealed, []byte(plain)) {
			t.Errorf("ciphertext contains the plaintext %q", plain)
		}
		got, err := k.Open(id, sealed, ad)
		if err != nil {
			t.Fatalf("Open(%q): %v", plain, err)
		}
		if string(got) != plain {
			t.Errorf("round trip = %q, want %q", got, plain)
		}
	}
}

func TestSealUsesFreshNonce(t *testing.T) {
	k := mustParse(t, keyLine(t, "1"))
	_, a := k.Seal([]byte("same"), []byte("ad"))
	_, b := k.Seal([]byte("same"), []byte("ad"))
	if bytes.Equal(a, b) {
		t.Error("sealing the same plaintext twice gave the same ciphertext (nonce reuse)")
	}
}

func TestOpenWithOtherAdditionalDataFails(t *testing.T) {
	k := mustParse(t, keyLine(t, "1"))
	id, sealed := k.Seal([]byte("tok-secret"), []byte("scm_configs/2/client_secret"))
	for _, ad := range []string{"scm_configs/3/client_secret", "scm_configs/2/access_token", ""} {
		if got, err := k.Open(id, sealed, []byte(ad)); err == nil {
			t.Errorf("Open with additional data %q succeeded (%q): a ciphertext moved to another row opens", ad, got)
		}
	}
}

func TestOpenTamperedCiphertextFails(t *testing.T) {
	k := mustParse(t, keyLine(t, "1"))
	ad := []byte("scm_configs/2/client_secret")
	id, sealed := k.Seal([]byte("tok-secret"), ad)
	for i := range sealed {
		bad := bytes.Clone(sealed)
		bad[i] ^= 0x01
		if _, err := k.Open(id, bad, ad); err == nil {
			t.Fatalf("Open succeeded with byte %d flipped", i)
		}
	}
	if _, err := k.Open(id, sealed[:len(sealed)-1], ad); err == nil {
		t.Error("Open succeeded on a truncated ciphertext")
	}
	if _, err := k.Open(id, sealed[:5], ad); err == nil {
		t.Error("Open succeeded on a ciphertext shorter than a nonce")
	}
	if _, err := k.Open(id, nil, ad); err == nil {
		t.Error("Open succeeded on an empty ciphertext")
	}
	// The untouched one still opens.
	if _, err := k.Open(id, sealed, ad); err != nil {
		t.Errorf("untouched ciphertext does not open: %v", err)
	}
}

func TestOpenUnknownKeyID(t *testing.T) {
	k := mustParse(t, keyLine(t, "1"))
	_, sealed := k.Seal([]byte("x"), nil)
	_, err := k.Open(42, sealed, nil)
	if err == nil {
		t.Fatal("Open with unknown key id succeeded")
	}
	if !errors.Is(err, ErrNoKey) {
		t.Errorf("Open with unknown key id: %v does not wrap ErrNoKey", err)
	}
	if !strings.Contains(err.Error(), "42") {
		t.Errorf("error %q does not name the missing key id", err)
	}
}

func TestRotationSealsWithLastKeyAndOpensOld(t *testing.T) {
	line1 := keyLine(t, "1")
	old := mustParse(t, "# comment\n"+line1)
	ad := []byte("scm_configs/5/client_secret")
	oldID, oldSealed := old.Seal([]byte("sealed before rotation"), ad)
	if oldID != 1 {
		t.Fatalf("Seal before rotation used key %d, want 1", oldID)
	}

	rotated := mustParse(t, "# comment\n"+line1+"\n"+keyLine(t, "2"))
	got, err := rotated.Open(oldID, oldSealed, ad)
	if err != nil {
		t.Fatalf("rotated keyring cannot open a secret sealed with key 1: %v", err)
	}
	if string(got) != "sealed before rotation" {
		t.Errorf("Open = %q", got)
	}

	newID, newSealed := rotated.Seal([]byte("sealed after rotation"), ad)
	if newID != 2 {
		t.Errorf("Seal after rotation used key %d, want 2 (the last line)", newID)
	}
	if got, err := rotated.Open(newID, newSealed, ad); err != nil || string(got) != "sealed after rotation" {
		t.Errorf("Open(new) = %q, %v", got, err)
	}
	// The old keyring does not know key 2.
	if _, err := old.Open(newID, newSealed, ad); !errors.Is(err, ErrNoKey) {
		t.Errorf("old keyring Open(key 2) = %v, want ErrNoKey", err)
	}
	// Key ids are taken from the file: the same ciphertext under the wrong id fails.
	if _, err := rotated.Open(1, newSealed, ad); err == nil {
		t.Error("a ciphertext sealed with key 2 opened with key 1")
	}
}

func TestRotationLastLineWinsNotHighestID(t *testing.T) {
	k := mustParse(t, keyLine(t, "5")+keyLine(t, "3"))
	if id, _ := k.Seal([]byte("x"), nil); id != 3 {
		t.Errorf("Seal used key %d, want 3 (the last line)", id)
	}
}

func TestParseAcceptsCommentsBlankLinesAndSpaces(t *testing.T) {
	content := "# scmadmin keys\n\n   \n  " + strings.TrimSuffix(keyLine(t, "7"), "\n") + "  \r\n# trailing comment\n"
	k, err := Parse([]byte(content))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if id, _ := k.Seal(nil, nil); id != 7 {
		t.Errorf("Seal key id = %d, want 7", id)
	}
}

func TestParseErrors(t *testing.T) {
	good := base64.StdEncoding.EncodeToString(make([]byte, keySize))
	short := base64.StdEncoding.EncodeToString(make([]byte, 16))
	long := base64.StdEncoding.EncodeToString(make([]byte, 33))
	cases := map[string]string{
		"empty file":          "",
		"only comments":       "# nothing here\n\n",
		"bad base64":          "1 !!!not-base64!!!\n",
		"key too short":       "1 " + short + "\n",
		"key too long":        "1 " + long + "\n",
		"id 0":                "0 " + good + "\n",
		"negative id":         "-1 " + good + "\n",
		"id not a number":     "one " + good + "\n",
		"id too big":          "4294967296 " + good + "\n",
		"missing key":         "1\n",
		"duplicate id":        "1 " + good + "\n1 " + good + "\n",
		"good then bad":       "1 " + good + "\n2 " + short + "\n",
		"raw (unpadded) b64":  "1 " + strings.TrimRight(base64.StdEncoding.EncodeToString(make([]byte, keySize)), "=") + "\n",
		"url-safe b64 in std": "1 " + strings.Repeat("_", 43) + "=\n",
	}
	for name, content := range cases {
		t.Run(name, func(t *testing.T) {
			k, err := Parse([]byte(content))
			if err == nil {
				t.Fatalf("Parse(%q) succeeded, want an error", content)
			}
			if k != nil {
				t.Errorf("Parse returned a keyring with the error %v", err)
			}
		})
	}
}

func TestParseErrorNamesTheLine(t *testing.T) {
	good := base64.StdEncoding.EncodeToString(make([]byte, keySize))
	_, err := Parse([]byte("# c\n1 " + good + "\n1 " + good + "\n"))
	if err == nil {
		t.Fatal("duplicate id accepted")
	}
	if !strings.Contains(err.Error(), "line 3") {
		t.Errorf("error %q does not name line 3", err)
	}
	// The error must not echo the key material.
	if strings.Contains(err.Error(), good) {
		t.Errorf("error %q leaks the key", err)
	}
}

func TestLoadErrorNamesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "empty.key")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	if err == nil {
		t.Fatal("Load(empty file) succeeded")
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name the file", err)
	}
}

func TestConcurrentSealOpen(t *testing.T) {
	k := mustParse(t, keyLine(t, "1")+keyLine(t, "2"))
	done := make(chan error, 16)
	for i := 0; i < 16; i++ {
		go func() {
			for j := 0; j < 50; j++ {
				ad := []byte("ad")
				id, c := k.Seal([]byte("p"), ad)
				if p, err := k.Open(id, c, ad); err != nil || string(p) != "p" {
					done <- errors.New("round trip failed under concurrency")
					return
				}
			}
			done <- nil
		}()
	}
	for i := 0; i < 16; i++ {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

// Parse reads a key file's content into a keyring that follows no file.
func Parse(data []byte) (*Keyring, error) {
	ks, err := parse(data)
	if err != nil {
		return nil, err
	}
	return &Keyring{keys: ks}, nil
}
