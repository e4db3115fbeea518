#!/usr/bin/env bash
# The test command (README's, and the last step of .ci/run): installs what the
# tests need when it is missing, then runs `cargo test` with the arguments given
# (`scripts/test.sh --test clients`).
#   - Claude Code and Codex, the real CLI assistants tests/clients drives, pinned in
#     tests/clients/package-lock.json: `npm ci` into tests/clients/node_modules
#     (about 660 MB, once; again only when the lock file changes).
#   - The openai and anthropic Python SDKs tests/sdks drives, pinned in
#     tests/sdks/requirements.txt: a venv in tests/sdks/.venv (about 110 MB;
#     again only when the requirements change).
#   - Prometheus for tests/prometheus.rs, Node.js with npm and Python with venv when missing:
#     apt-get, only as root (CI's fresh Debian machine).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
{ command -v prometheus && command -v promtool; } >/dev/null 2>&1 || missing+=(prometheus)
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3 python3-venv)
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

sdks=tests/sdks
stamp=$sdks/.venv/.installed-requirements.txt
if ! cmp -s "$sdks/requirements.txt" "$stamp"; then
  if ! command -v python3 >/dev/null 2>&1; then
    echo "scripts/test.sh: python3 is missing: install Python 3.9 or newer with venv (tests/sdks runs the openai and anthropic SDKs)" >&2
    exit 1
  fi
  echo "== pip install -r $sdks/requirements.txt into $sdks/.venv (openai, anthropic)"
  rm -rf "$sdks/.venv"
  python3 -m venv "$sdks/.venv"
  "$sdks/.venv/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$sdks/requirements.txt"
  cp "$sdks/requirements.txt" "$stamp"
fi

echo "== cargo test $*"
exec cargo test "$@"
