package registry

import (
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/events"
)

type fuzzKeys map[string]events.AccessKey

func (k fuzzKeys) Lookup(id string) (events.AccessKey, bool) {
	v, ok := k[id]
	return v, ok
}

// FuzzCheckToken: any registry password is refused, never a panic, unless
// its payload is exactly one the registry issued (the MAC covers the
// payload's text); only the pull token's payload yields a pull-only
// principal.
func FuzzCheckToken(f *testing.F) {
	key := events.AccessKey{AccessKeyID: "AKIAFUZZ", SecretAccessKey: "fuzz-secret", Status: "Active"}
	keys := fuzzKeys{key.AccessKeyID: key}
	pullKey := []byte("0123456789abcdef0123456789abcdef")
	now := time.Unix(1_800_000_000, 0)
	keyToken := newToken(key, now.Add(time.Hour))
	pullToken := newPullToken(pullKey, now.Add(time.Hour))
	keyPayload, _, _ := strings.Cut(keyToken, ".")
	pullPayload, _, _ := strings.Cut(pullToken, ".")
	for _, s := range []string{keyToken, pullToken, "", ".", "a.b", keyPayload + ".", "." + pullPayload,
		keyToken + "A", pullPayload + "." + strings.SplitN(keyToken, ".", 2)[1],
		newToken(events.AccessKey{AccessKeyID: key.AccessKeyID, SecretAccessKey: "guess"}, now.Add(time.Hour))} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		who, err := checkToken(keys, pullKey, token, now)
		if err != nil {
			return
		}
		payload, _, _ := strings.Cut(token, ".")
		switch {
		case payload == keyPayload && !who.pullOnly && who.key == key.AccessKeyID:
		case payload == pullPayload && who.pullOnly && who.key == "":
		default:
			t.Fatalf("accepted %q as %+v", token, who)
		}
	})
}
