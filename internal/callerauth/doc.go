// Package callerauth proves to a service answering an API call over NATS
// which access key signed the call at the gateway.
//
// The gateway checks the SigV4 signature, then sets events.HeaderAccessKey
// to the key id and events.HeaderCaller to an assertion: a timestamp and
// HMAC-SHA256, keyed with the key's secret, over the key id, the NATS
// subject, the timestamp and the SHA-256 of the body it forwards. A service
// that holds the access keys (the registry) recomputes it. A NATS client
// that can set headers but does not hold the secret cannot forge one, and
// an assertion does not carry over to another subject or body; it is
// accepted for MaxAge either way of the verifier's clock. The key owner can
// make assertions for its own key, which gives it nothing it could not get
// from the gateway.
//
// Within MaxAge an assertion can be replayed, with the same subject and
// body, by whoever saw it: that is whoever may subscribe to the API
// subjects, which NATS permissions limit to the services that answer them.
// The secret never leaves the verifiers; the MAC is domain-separated from
// every other MAC Berth makes with a key's secret.
package callerauth
