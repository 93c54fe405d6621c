package registry

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strings"
)

// Digest algorithms the registry hashes with.
const (
	algSHA256 = "sha256"
	algSHA512 = "sha512"
)

// digest is a parsed content digest, "<alg>:<hex>".
type digest struct {
	Alg string
	Hex string
}

var errBadDigest = errors.New("invalid digest")

// parseDigest parses and checks a digest: sha256 with 64 or sha512 with 128
// lowercase hex digits.
func parseDigest(s string) (digest, error) {
	alg, hx, ok := strings.Cut(s, ":")
	if !ok {
		return digest{}, fmt.Errorf("%w %q", errBadDigest, s)
	}
	want := 0
	switch alg {
	case algSHA256:
		want = 64
	case algSHA512:
		want = 128
	default:
		return digest{}, fmt.Errorf("%w %q: unsupported algorithm", errBadDigest, s)
	}
	if len(hx) != want || !isLowerHex(hx) {
		return digest{}, fmt.Errorf("%w %q", errBadDigest, s)
	}
	return digest{Alg: alg, Hex: hx}, nil
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// looksLikeDigest reports whether a manifest reference is meant as a digest
// (tags cannot contain ':').
func looksLikeDigest(ref string) bool { return strings.Contains(ref, ":") }

func (d digest) String() string { return d.Alg + ":" + d.Hex }

// key is the digest as two KV key tokens: "<alg>.<hex>".
func (d digest) key() string { return d.Alg + "." + d.Hex }

func (d digest) isZero() bool { return d.Alg == "" }

// digestFromKey parses the "<alg>.<hex>" form.
func digestFromKey(k string) (digest, error) {
	alg, hx, ok := strings.Cut(k, ".")
	if !ok {
		return digest{}, fmt.Errorf("%w key %q", errBadDigest, k)
	}
	return parseDigest(alg + ":" + hx)
}

// validAlg reports whether alg is an algorithm the registry supports.
func validAlg(alg string) bool { return alg == algSHA256 || alg == algSHA512 }

// newHash returns a fresh hash for alg.
func newHash(alg string) hash.Hash {
	if alg == algSHA512 {
		return sha512.New()
	}
	return sha256.New()
}

// digestOf hashes b with alg.
func digestOf(alg string, b []byte) digest {
	h := newHash(alg)
	h.Write(b)
	return digest{Alg: alg, Hex: hex.EncodeToString(h.Sum(nil))}
}

// sumDigest is the digest of what h has hashed so far.
func sumDigest(alg string, h hash.Hash) digest {
	return digest{Alg: alg, Hex: hex.EncodeToString(h.Sum(nil))}
}

// saveHash serializes a running hash so another replica can resume it.
func saveHash(h hash.Hash) ([]byte, error) {
	m, ok := h.(encoding.BinaryMarshaler)
	if !ok {
		return nil, errors.New("hash state cannot be saved")
	}
	return m.MarshalBinary()
}

// loadHash resumes a hash saved by saveHash; an empty state is a new hash.
func loadHash(alg string, state []byte) (hash.Hash, error) {
	h := newHash(alg)
	if len(state) == 0 {
		return h, nil
	}
	u, ok := h.(encoding.BinaryUnmarshaler)
	if !ok {
		return nil, errors.New("hash state cannot be loaded")
	}
	if err := u.UnmarshalBinary(state); err != nil {
		return nil, fmt.Errorf("load %s state: %w", alg, err)
	}
	return h, nil
}
