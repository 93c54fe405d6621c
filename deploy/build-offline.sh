#!/usr/bin/env bash
# Builds what the offline images need, with the Go toolchain only (no base
# image, no Docker Hub): static binaries of every service main, the edge
# load balancer and nats-server into deploy/out/, plus a minimal /etc
# (passwd, group) for the non-root user. Then:
#   docker compose -f compose.yaml -f deploy/compose.offline.yaml up -d --build --wait
set -euo pipefail
cd "$(dirname "$0")/.."
out=deploy/out
mkdir -p "$out/bin" "$out/nats" "$out/etc" "$out/var/lib/berth/aws"
export CGO_ENABLED=0
go build -trimpath -ldflags='-s -w' -o "$out/bin/" ./services/... ./deploy/edge
go build -trimpath -ldflags='-s -w' -o "$out/nats/nats-server" github.com/nats-io/nats-server/v2
printf 'root:x:0:0:root:/:/bin/nologin\nnonroot:x:65532:65532:nonroot:/:/bin/nologin\n' >"$out/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' >"$out/etc/group"
