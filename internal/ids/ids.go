package ids

import (
	"crypto/rand"
	"encoding/hex"
)

// UUID returns a random RFC 4122 version 4 UUID.
func UUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return UUIDFrom(b)
}

// UUIDFrom is b as a version-4-shaped UUID: b with the version and variant
// bits set, in the 8-4-4-4-12 hex form. Random bytes make a UUID (UUID); a
// hash makes the same id for the same input every time.
func UUIDFrom(b [16]byte) string {
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	hex.Encode(out[9:13], b[4:6])
	hex.Encode(out[14:18], b[6:8])
	hex.Encode(out[19:23], b[8:10])
	hex.Encode(out[24:36], b[10:16])
	out[8], out[13], out[18], out[23] = '-', '-', '-', '-'
	return string(out[:])
}

// Hex32 returns 32 random lowercase hex digits, the form of ECS task and
// container-instance ids.
func Hex32() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Token returns n random bytes from the alphabet [A-Za-z0-9], for access key
// ids and secrets.
func Token(n int, alphabet string) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
