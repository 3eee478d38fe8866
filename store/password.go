package store

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"

	"golang.org/x/crypto/argon2"
)

// argon2id parameters: one of OWASP's equivalent recommended settings (9 MiB, 4 passes,
// 1 lane). It costs a guess as much as 19 MiB × 2 passes, with less memory per sign-in, which
// keeps the server's peak memory low when several sign in at once.
const (
	argonMemory  = 9 * 1024
	argonTime    = 4
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
)

var b64 = base64.RawStdEncoding

// hashing bounds how many argon2 hashes run at once: each takes argonMemory KiB, so a burst
// of sign-ins must queue rather than take the machine's memory.
var hashing = make(chan struct{}, runtime.NumCPU())

func argonKey(password, salt []byte, passes, memory uint32, threads uint8, keyLen uint32) []byte {
	hashing <- struct{}{}
	defer func() { <-hashing }()
	return argon2.IDKey(password, salt, passes, memory, threads, keyLen)
}

// hashPassword returns the PHC string of an argon2id hash of password.
func hashPassword(password string) string {
	salt := make([]byte, argonSaltLen)
	rand.Read(salt)
	return phc(salt, argonKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen))
}

// phc is the PHC string of an argon2id hash with the current parameters.
func phc(salt, sum []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, argonMemory, argonTime, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(sum))
}

// checkPassword reports whether password matches the PHC string encoded, reading the
// parameters from it so that hashes made with older parameters still verify.
func checkPassword(encoded, password string) (bool, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errors.New("store: not an argon2id hash")
	}
	var version int
	var memory, passes uint32
	var threads uint8
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, errors.New("store: unsupported argon2 version")
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &memory, &passes, &threads); err != nil {
		return false, fmt.Errorf("store: argon2 parameters: %w", err)
	}
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return false, fmt.Errorf("store: argon2 salt: %w", err)
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil {
		return false, fmt.Errorf("store: argon2 hash: %w", err)
	}
	got := argonKey([]byte(password), salt, passes, memory, threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// dummyHash is checked against when the user does not exist, so that an unknown name takes
// as long to refuse as a wrong password and sign-in does not reveal which names exist. Only
// its parameters matter, so it is not hashed from anything: hashing at start-up cost 30 ms
// and argon2's 9 MiB before the server had done anything. No password gives an all-zero sum.
var dummyHash = phc(make([]byte, argonSaltLen), make([]byte, argonKeyLen))
