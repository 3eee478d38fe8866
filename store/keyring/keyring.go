// Package keyring holds the AES-256-GCM keys that encrypt stored secrets. The key file lists
// one key per line as "ID BASE64"; the last line is the key new secrets are sealed with, and
// older lines stay so that secrets sealed before a rotation can still be opened.
package keyring

import (
	"bufio"
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

const keySize = 32 // AES-256

// Keyring seals and opens secrets. It is safe for concurrent use. A keyring loaded from a
// file follows that file: when `scmadmin keys rotate` changes it, a running server starts
// sealing with the new key from its next secret on: every use of the keys checks the file's
// time first (a stat, about a microsecond).
type Keyring struct {
	path string

	mu       sync.RWMutex
	keys     *keys
	modTime  time.Time
	reloadMu sync.Mutex
}

// keys is one reading of the key file.
type keys struct {
	aeads   map[uint32]cipher.AEAD
	current uint32
}

// ErrNoKey is returned by Open when the ciphertext names a key the keyring lacks.
var ErrNoKey = errors.New("keyring: no key with that id")

// LoadOrCreate loads the key file at path, creating it with one fresh key (mode 0600) when it
// does not exist yet. created reports whether it did.
func LoadOrCreate(path string) (k *Keyring, created bool, err error) {
	k, err = Load(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return k, false, err
	}
	key := make([]byte, keySize)
	rand.Read(key)
	content := "# scmadmin keys: keep this file secret and back it up together with the database.\n" +
		"1 " + base64.StdEncoding.EncodeToString(key) + "\n"
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, false, fmt.Errorf("keyring: create %s: %w", path, err)
	}
	if _, err := f.WriteString(content); err != nil {
		f.Close()
		return nil, false, fmt.Errorf("keyring: write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return nil, false, fmt.Errorf("keyring: write %s: %w", path, err)
	}
	k, err = Load(path)
	return k, true, err
}

// Load reads the key file at path.
func Load(path string) (*Keyring, error) {
	ks, modTime, err := readFile(path)
	if err != nil {
		return nil, err
	}
	return &Keyring{path: path, keys: ks, modTime: modTime}, nil
}

func readFile(path string) (*keys, time.Time, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("keyring: read %s: %w", path, err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("keyring: read %s: %w", path, err)
	}
	ks, err := parse(data)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("keyring: %s: %w", path, err)
	}
	return ks, info.ModTime(), nil
}

func parse(data []byte) (*keys, error) {
	k := &keys{aeads: map[uint32]cipher.AEAD{}}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		idText, b64, ok := strings.Cut(line, " ")
		id, err := strconv.ParseUint(idText, 10, 32)
		if !ok || err != nil || id == 0 {
			return nil, fmt.Errorf("line %d: want \"ID BASE64KEY\" with a positive ID", n)
		}
		key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
		if err != nil || len(key) != keySize {
			return nil, fmt.Errorf("line %d: the key must be %d bytes in base64", n, keySize)
		}
		if _, dup := k.aeads[uint32(id)]; dup {
			return nil, fmt.Errorf("line %d: key %d appears twice", n, id)
		}
		block, _ := aes.NewCipher(key)
		aead, _ := cipher.NewGCM(block)
		k.aeads[uint32(id)] = aead
		k.current = uint32(id)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(k.aeads) == 0 {
		return nil, errors.New("no key in the file")
	}
	return k, nil
}

// snapshot returns the keys in force, re-reading the file when it changed (or, when force is
// set, whatever its time says).
func (k *Keyring) snapshot(force bool) *keys {
	k.mu.RLock()
	ks := k.keys
	k.mu.RUnlock()
	if k.path == "" {
		return ks
	}
	k.reloadMu.Lock()
	defer k.reloadMu.Unlock()
	info, err := os.Stat(k.path)
	if err != nil || info.ModTime().Equal(k.modTime) && !force {
		return ks // a file gone or unreadable mid-rotation: keep the keys we have
	}
	fresh, modTime, err := readFile(k.path)
	if err != nil {
		return ks
	}
	k.mu.Lock()
	k.keys, k.modTime = fresh, modTime
	k.mu.Unlock()
	return fresh
}

// Current is the id of the key new secrets are sealed with.
func (k *Keyring) Current() uint32 { return k.snapshot(false).current }

// Seal encrypts plaintext under the current key. additional binds the ciphertext to its
// context (its row): Open fails unless it is given the same bytes.
func (k *Keyring) Seal(plaintext, additional []byte) (keyID uint32, ciphertext []byte) {
	ks := k.snapshot(false)
	aead := ks.aeads[ks.current]
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	rand.Read(nonce)
	return ks.current, aead.Seal(nonce, nonce, plaintext, additional)
}

// Open decrypts a ciphertext made by Seal with the key keyID and the same additional data.
func (k *Keyring) Open(keyID uint32, ciphertext, additional []byte) ([]byte, error) {
	ks := k.snapshot(false)
	aead, ok := ks.aeads[keyID]
	if !ok {
		// Sealed by a newer key than we have read: the file may have just been rotated.
		aead, ok = k.snapshot(true).aeads[keyID]
	}
	if !ok {
		return nil, fmt.Errorf("%w %d", ErrNoKey, keyID)
	}
	if len(ciphertext) < aead.NonceSize() {
		return nil, errors.New("keyring: ciphertext too short")
	}
	nonce, sealed := ciphertext[:aead.NonceSize()], ciphertext[aead.NonceSize():]
	plain, err := aead.Open(nil, nonce, sealed, additional)
	if err != nil {
		return nil, errors.New("keyring: the secret does not open with this key file (wrong key, or the row was tampered with)")
	}
	return plain, nil
}

// AddKey appends a new key to the key file at path, which makes it the current key, and
// returns its id. The file is replaced atomically, keeping mode 0600.
func AddKey(path string) (uint32, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("keyring: read %s: %w", path, err)
	}
	ks, err := parse(data)
	if err != nil {
		return 0, fmt.Errorf("keyring: %s: %w", path, err)
	}
	next := uint32(0)
	for id := range ks.aeads {
		next = max(next, id)
	}
	next++
	key := make([]byte, keySize)
	rand.Read(key)
	content := strings.TrimRight(string(data), "\n") + "\n" + strconv.FormatUint(uint64(next), 10) + " " + base64.StdEncoding.EncodeToString(key) + "\n"
	return next, writeFile(path, content)
}

// RetireKeys rewrites the key file at path keeping only the current (last) key.
func RetireKeys(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("keyring: read %s: %w", path, err)
	}
	var last string
	for _, line := range strings.Split(string(data), "\n") {
		if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "#") {
			last = l
		}
	}
	if last == "" {
		return fmt.Errorf("keyring: %s: no key in the file", path)
	}
	return writeFile(path, "# scmadmin keys: keep this file secret and back it up together with the database.\n"+last+"\n")
}

// writeFile replaces path with content atomically (a temporary file renamed over it).
func writeFile(path, content string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".scmadmin-key-*")
	if err != nil {
		return fmt.Errorf("keyring: write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("keyring: write %s: %w", path, err)
	}
	if _, err := tmp.WriteString(content); err != nil {
		tmp.Close()
		return fmt.Errorf("keyring: write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("keyring: write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("keyring: write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("keyring: write %s: %w", path, err)
	}
	return nil
}
