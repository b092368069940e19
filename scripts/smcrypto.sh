#!/usr/bin/env bash
# Installs the JavaScript sm-crypto package from the npm registry into a cache outside the
# repository, for the interoperability tests in crypto (smcrypto_test.go). Prints the
# directory to export as GOVGATE_SMCRYPTO_DIR. Needs node and npm; without them it prints
# nothing and the tests skip, saying so.
set -euo pipefail

VERSION=0.3.13 # the sm-crypto most departments' Node.js and browser systems use
dir="${XDG_CACHE_HOME:-$HOME/.cache}/govgate/smcrypto-$VERSION"

if ! command -v npm >/dev/null 2>&1; then
  echo "smcrypto.sh: no npm; the sm-crypto interoperability tests will skip" >&2
  exit 0
fi
if [ ! -f "$dir/node_modules/sm-crypto/package.json" ]; then
  mkdir -p "$dir"
  (cd "$dir" && [ -f package.json ] || echo '{"private":true}' >"$dir/package.json")
  (cd "$dir" && npm install --no-audit --no-fund --silent "sm-crypto@$VERSION" >&2)
fi
echo "$dir"
