#!/usr/bin/env bash
# The test command (README's, and the last step of .ci/run): installs what the
# tests need when it is missing, then runs `cargo test` with the arguments given
# (`scripts/test.sh --test clients`).
#   - Claude Code and Codex, the real CLI assistants tests/clients drives, pinned in
#     tests/clients/package-lock.json: `npm ci` into tests/clients/node_modules
#     (about 660 MB, once; again only when the lock file changes).
#   - Prometheus for tests/prometheus.rs, and Node.js with npm when missing:
#     apt-get, only as root (CI's fresh Debian machine).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
{ command -v prometheus && command -v promtool; } >/dev/null 2>&1 || missing+=(prometheus)
if [ ${#missing[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "== apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

clients=tests/clients
stamp=$clients/node_modules/.installed-package-lock.json
if ! cmp -s "$clients/package-lock.json" "$stamp"; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "scripts/test.sh: npm is missing: install Node.js 18 or newer with npm (tests/clients runs Claude Code and Codex from npm)" >&2
    exit 1
  fi
  echo "== npm ci --prefix $clients (Claude Code, Codex)"
  npm ci --prefix "$clients" --no-audit --no-fund --loglevel=error
  cp "$clients/package-lock.json" "$stamp"
fi

echo "== cargo test $*"
exec cargo test "$@"
