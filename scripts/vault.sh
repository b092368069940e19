#!/usr/bin/env bash
# Builds the HashiCorp Vault server from the Go module proxy (there is no Vault binary in
# the package registries this project may use) and caches it outside the repository,
# keyed by version. Prints the binary's path. Cold: about 17 minutes and 8 GB of Go
# caches on a 2-core machine; cached: instant.
#
#   scripts/vault.sh            build (or reuse) and print the path
#   scripts/vault.sh start      also start `vault server -dev` on 127.0.0.1 at a free port,
#                               wait until KV v2 is mounted, and print shell exports for
#                               GOVGATE_VAULT_ADDR, GOVGATE_VAULT_TOKEN, GOVGATE_VAULT_PID
set -euo pipefail

VERSION=1.21.1 # 1.21.2–1.21.4 do not compile from the proxy; 1.21.0 and 1.21.1 do
cache="${XDG_CACHE_HOME:-$HOME/.cache}/govgate/vault-$VERSION"
bin="$cache/vault"

build() {
  [ -x "$bin" ] && return
  mkdir -p "$cache"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  cat > "$work/go.mod" <<MOD
module govgate.local/vaultbuild

go 1.25

require github.com/hashicorp/vault v$VERSION

replace github.com/99designs/keyring => github.com/Jeffail/keyring v1.2.3

replace github.com/ma314smith/signedxml v1.1.1 => github.com/moov-io/signedxml v1.1.1
MOD
  echo "building vault $VERSION (cold: ~17 minutes)…" >&2
  (cd "$work" && GOFLAGS=-mod=mod go build -ldflags='-s -w' -o "$bin.tmp" github.com/hashicorp/vault) >&2
  mv "$bin.tmp" "$bin"
}

start() {
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  token="govgate-dev-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  log=$(mktemp)
  "$bin" server -dev -dev-listen-address="127.0.0.1:$port" -dev-root-token-id="$token" -dev-no-store-token >"$log" 2>&1 &
  pid=$!
  addr="http://127.0.0.1:$port"
  # /v1/sys/health answers before the KV v2 mount exists; wait for the mount itself.
  for _ in $(seq 1 300); do
    if curl -sf -H "X-Vault-Token: $token" "$addr/v1/sys/mounts/secret" >/dev/null 2>&1; then
      echo "export GOVGATE_VAULT_ADDR=$addr GOVGATE_VAULT_TOKEN=$token GOVGATE_VAULT_PID=$pid"
      return
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      cat "$log" >&2
      echo "vault exited before it was ready" >&2
      exit 1
    fi
    sleep 0.1
  done
  kill "$pid"
  cat "$log" >&2
  echo "vault did not become ready in 30 s" >&2
  exit 1
}

build
case "${1:-}" in
  start) start ;;
  "") echo "$bin" ;;
  *) echo "usage: $0 [start]" >&2; exit 2 ;;
esac
