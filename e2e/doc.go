// Package e2e holds Berth's black-box deployment tests: they build the
// offline images (deploy/build-offline.sh), start compose.yaml with
// deploy/compose.offline.yaml under a unique project name and free ports,
// and drive it only with the tools a user has: the docker CLI (compose,
// login, push, kill), the aws CLI and `berth events`. It is its own module,
// standard library only, so compose tooling never enters the shipped one.
//
// The tests need docker with the compose plugin (built by
// deploy/build-compose.sh when missing), the aws CLI and Go; they fail
// instead of skipping when CI=true or BERTH_REQUIRE_DOCKER=1.
package e2e
