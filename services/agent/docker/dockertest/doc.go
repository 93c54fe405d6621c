// Package dockertest holds helpers for tests that need a real Docker daemon:
// connecting (skipping when no daemon answers, failing instead when
// BERTH_REQUIRE_DOCKER=1 or CI=true), building a busybox test image from the host's
// static busybox without any registry, and removing what a test created.
package dockertest
