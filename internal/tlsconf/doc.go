// Package tlsconf builds the TLS configurations Berth's listeners and NATS
// connections use from PEM files: a server configuration from a certificate
// chain and its key (and, optionally, the CA that client certificates must
// chain to), a client configuration that trusts a CA file, and the NATS
// options that make a connection use TLS and verify the server with that
// CA.
//
// The server certificate is read again when its files change (checked at
// each handshake), so a renewed certificate is served without a restart.
package tlsconf
