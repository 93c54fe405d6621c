package callerauth_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/callerauth"
)

// FuzzVerify: any assertion is refused, never a panic, unless it is
// exactly the one the key makes for this subject and body at its time,
// and that time is within MaxAge.
func FuzzVerify(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	good := callerauth.Assert(alice, subj, []byte("{}"), now)
	for _, s := range []string{good, "", "v1", "v1..", "v1.1800000000.", good + "A", good[:len(good)-1] + "B", "v1.-1." + good[14:], "v2" + good[2:]} {
		f.Add(alice.AccessKeyID, s, subj, []byte("{}"))
	}
	f.Fuzz(func(t *testing.T, keyID, assertion, subject string, body []byte) {
		k, err := callerauth.Verify(store, keyID, assertion, subject, body, now)
		if err != nil {
			return
		}
		parts := strings.Split(assertion, ".")
		if len(parts) != 3 || k.AccessKeyID != keyID {
			t.Fatalf("accepted %q for %q as %+v", assertion, keyID, k)
		}
		ts, err := strconv.ParseInt(parts[1], 10, 64)
		if err != nil {
			t.Fatalf("accepted %q: time %v", assertion, err)
		}
		at := time.Unix(ts, 0)
		if callerauth.Assert(k, subject, body, at) != assertion || now.Sub(at).Abs() > callerauth.MaxAge {
			t.Fatalf("accepted %q for %s %q %q", assertion, keyID, subject, body)
		}
	})
}
