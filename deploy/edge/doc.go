// Command edge is the small TCP load balancer in front of the gateway and
// registry replicas of a compose deployment: Docker publishes a host port to
// one container only, so edge owns the published ports and spreads each
// accepted connection over every address the target name resolves to
// (Docker's DNS answers a service name with all its replicas), trying the
// next address when one refuses. It holds no state; kill it and compose
// restarts it.
//
//	edge --route 0.0.0.0:4566=gateway:4566 --route 0.0.0.0:5000=registry:5000
//
// `edge healthcheck --http URL` is its container health check.
package main
