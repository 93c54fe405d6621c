package events

import (
	"encoding/base64"
	"fmt"
	"strings"
)

// Token turns a user-supplied name into one NATS subject token or KV key
// token. Names made only of letters, digits, '-' and '_' (every ECS cluster and
// family name) stay as they are, so keys remain readable; anything else
// (repository names with '.' or '/', log groups) becomes "=" followed by the
// unpadded base64url encoding. No plain name starts with '=', so the two
// forms never collide.
func Token(name string) string {
	if name != "" && plain(name) {
		return name
	}
	return "=" + base64.RawURLEncoding.EncodeToString([]byte(name))
}

// ParseToken reverses Token.
func ParseToken(tok string) (string, error) {
	if rest, ok := strings.CutPrefix(tok, "="); ok {
		b, err := base64.RawURLEncoding.DecodeString(rest)
		if err != nil {
			return "", fmt.Errorf("events: bad token %q: %w", tok, err)
		}
		return string(b), nil
	}
	if tok == "" || !plain(tok) {
		return "", fmt.Errorf("events: bad token %q", tok)
	}
	return tok, nil
}

func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}
