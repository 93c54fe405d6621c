// Command gateway runs Berth's AWS API gateway alone, against an external
// NATS server: every AWS JSON 1.1 call on one HTTP port, forwarded over NATS.
package main
