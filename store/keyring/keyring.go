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
	"strconv"
	"strings"
)

const keySize = 32 // AES-256

// Keyring seals and opens secrets. It is safe for concurrent use.
type Keyring struct {
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
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("keyring: read %s: %w", path, err)
	}
	k, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("keyring: %s: %w", path, err)
	}
	return k, nil
}

// Parse reads a key file's content.
func Parse(data []byte) (*Keyring, error) {
	k := &Keyring{aeads: map[uint32]cipher.AEAD{}}
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

// Seal encrypts plaintext under the current key. additional binds the ciphertext to its
// context (its row): Open fails unless it is given the same bytes.
func (k *Keyring) Seal(plaintext, additional []byte) (keyID uint32, ciphertext []byte) {
	aead := k.aeads[k.current]
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	rand.Read(nonce)
	return k.current, aead.Seal(nonce, nonce, plaintext, additional)
}

// Open decrypts a ciphertext made by Seal with the key keyID and the same additional data.
func (k *Keyring) Open(keyID uint32, ciphertext, additional []byte) ([]byte, error) {
	aead, ok := k.aeads[keyID]
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
