#!/usr/bin/env bash
# Builds the Docker Compose v2+ CLI plugin from its Go module (Debian ships
# only docker-compose 1.29) into ~/.docker/cli-plugins/docker-compose, unless
# `docker compose` already works. The build is cached under
# ${BERTH_CACHE:-$HOME/.cache/berth}, so it runs once per machine.
set -euo pipefail
version=${COMPOSE_VERSION:-v5.6.0} # the newest that builds with Go 1.26.8
cache=${BERTH_CACHE:-$HOME/.cache/berth}
plugin=$HOME/.docker/cli-plugins/docker-compose
if docker compose version >/dev/null 2>&1; then
	exit 0
fi
mkdir -p "$cache/compose-$version" "$(dirname "$plugin")"
if [ ! -x "$cache/docker-compose-$version" ]; then
	cd "$cache/compose-$version"
	[ -f go.mod ] || go mod init berth-compose-build >/dev/null 2>&1
	GOTOOLCHAIN=local go get "github.com/docker/compose/v5/cmd@$version"
	GOTOOLCHAIN=local CGO_ENABLED=0 go build -trimpath -o "$cache/docker-compose-$version.tmp" github.com/docker/compose/v5/cmd
	mv "$cache/docker-compose-$version.tmp" "$cache/docker-compose-$version"
fi
install -m 0755 "$cache/docker-compose-$version" "$plugin"
docker compose version
