package callerauth_test

import (
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/berth-project/berth/events"
	"github.com/berth-project/berth/internal/callerauth"
)

type keys map[string]events.AccessKey

func (k keys) Lookup(id string) (events.AccessKey, bool) {
	v, ok := k[id]
	return v, ok
}

var (
	alice = events.AccessKey{AccessKeyID: "AKIAALICE", SecretAccessKey: "alice-secret", Status: "Active"}
	bob   = events.AccessKey{AccessKeyID: "AKIABOB", SecretAccessKey: "bob-secret", Status: "Active"}
	store = keys{alice.AccessKeyID: alice, bob.AccessKeyID: bob}
)

const subj = "berth.api.ecr.GetAuthorizationToken"

// Only an assertion made with the key's secret, for the same subject and
// body, within MaxAge of the verifier's clock, proves the caller.
func TestVerify(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{}`)
	good := callerauth.Assert(alice, subj, body, now)
	forged := callerauth.Assert(events.AccessKey{AccessKeyID: alice.AccessKeyID, SecretAccessKey: "guess"}, subj, body, now)
	for _, tc := range []struct {
		name      string
		keyID     string
		assertion string
		subject   string
		body      string
		now       time.Time
		want      error
	}{
		{name: "valid", keyID: alice.AccessKeyID, assertion: good, subject: subj, body: "{}", now: now},
		{name: "valid at max age", keyID: alice.AccessKeyID, assertion: good, subject: subj, body: "{}", now: now.Add(callerauth.MaxAge)},
		{name: "valid, verifier clock behind", keyID: alice.AccessKeyID, assertion: good, subject: subj, body: "{}", now: now.Add(-callerauth.MaxAge)},
		{name: "header only", keyID: alice.AccessKeyID, subject: subj, body: "{}", now: now, want: callerauth.ErrMissing},
		{name: "no key id", assertion: good, subject: subj, body: "{}", now: now, want: callerauth.ErrMissing},
		{name: "forged with a guessed secret", keyID: alice.AccessKeyID, assertion: forged, subject: subj, body: "{}", now: now, want: callerauth.ErrBadMAC},
		{name: "another key's id", keyID: bob.AccessKeyID, assertion: good, subject: subj, body: "{}", now: now, want: callerauth.ErrBadMAC},
		{name: "unknown key", keyID: "AKIANOBODY", assertion: good, subject: subj, body: "{}", now: now, want: callerauth.ErrUnknownKey},
		{name: "other subject", keyID: alice.AccessKeyID, assertion: good, subject: "berth.api.ecr.PutImage", body: "{}", now: now, want: callerauth.ErrBadMAC},
		{name: "other body", keyID: alice.AccessKeyID, assertion: good, subject: subj, body: `{"registryIds":["1"]}`, now: now, want: callerauth.ErrBadMAC},
		{name: "too old", keyID: alice.AccessKeyID, assertion: good, subject: subj, body: "{}", now: now.Add(callerauth.MaxAge + time.Second), want: callerauth.ErrStale},
		{name: "too new", keyID: alice.AccessKeyID, assertion: good, subject: subj, body: "{}", now: now.Add(-callerauth.MaxAge - time.Second), want: callerauth.ErrStale},
		{name: "other version", keyID: alice.AccessKeyID, assertion: "v2" + good[2:], subject: subj, body: "{}", now: now, want: callerauth.ErrMalformed},
		{name: "garbage", keyID: alice.AccessKeyID, assertion: "v1.x.y", subject: subj, body: "{}", now: now, want: callerauth.ErrMalformed},
		{name: "padded time", keyID: alice.AccessKeyID, assertion: "v1.0" + good[3:], subject: subj, body: "{}", now: now, want: callerauth.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := callerauth.Verify(store, tc.keyID, tc.assertion, tc.subject, []byte(tc.body), tc.now)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify: %v, want %v", err, tc.want)
			}
			if err == nil && k.AccessKeyID != alice.AccessKeyID {
				t.Fatalf("Verify returned key %q", k.AccessKeyID)
			}
		})
	}
}

// Set puts both headers, and they verify.
func TestSet(t *testing.T) {
	now := time.Now()
	hdr := nats.Header{}
	callerauth.Set(hdr, bob, subj, nil, now)
	if _, err := callerauth.Verify(store, hdr.Get(events.HeaderAccessKey), hdr.Get(events.HeaderCaller), subj, nil, now); err != nil {
		t.Fatalf("Verify: %v", err)
	}
}
