// Package testenv builds the end-to-end test environment Berth's API tests
// share: an embedded JetStream server, the root access key, the real gateway
// on a loopback port, AWS SDK for Go v2 clients and the Debian `aws` CLI
// pointed at it. Services under test are started by the test with Go, so each
// test runs exactly the services it needs.
//
// Tools a test needs (aws, docker, podman) are found with RequireTool: when
// missing, the test is skipped, unless CI=true or BERTH_REQUIRE_DOCKER=1, in
// which case it fails.
package testenv
