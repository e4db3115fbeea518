#!/usr/bin/env bash
# The gateway benchmark in one command: direct to a loopback mock, through
# nginx proxy_pass (the practical limit) and through tollgate, side by side.
# Installs wrk and nginx when missing (as root, through apt-get), builds
# tollgate in release, runs, prints the tables and writes
# $CARGO_TARGET_DIR/bench/gateway.json (see BENCHMARKS.md).
#
#   scripts/bench.sh                 # everything (about 7 minutes)
#   scripts/bench.sh --quick         # a short pass to try the harness
#   scripts/bench.sh --only latency,throughput --rounds 5
#   scripts/bench.sh --only translation --rounds 5   # Anthropic / Responses vs chat
#   scripts/bench.sh --only default --rounds 5       # issue 15: default flags, nothing
#                                                    # pinned, nginx with 2 workers
#   scripts/bench.sh --only default --default-variant "--worker-threads 2" \
#                    --peer agentgateway=/path/to/agentgateway
#                                    # plus a tollgate with extra flags and a peer
#                                    # gateway column (the peer joins floor too)
#   scripts/bench.sh --help          # every option
#
# The criterion benches of the pure hot path: cargo bench --bench hot_path
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "== installing ${missing[*]}" >&2
    apt-get update -qq >/dev/null
    # nginx-light where it exists (Debian), nginx otherwise (Ubuntu 24.04+).
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
      || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]/nginx-light/nginx}" >/dev/null
    # The package may start a system nginx on port 80; the bench runs its own.
    if command -v systemctl >/dev/null 2>&1; then systemctl disable --now nginx >/dev/null 2>&1 || true; fi
  else
    echo "note: ${missing[*]} missing and not root: the Rust load client stands in for wrk; no nginx column" >&2
  fi
fi

# Descriptors: tollgate needs two per held HTTP/1.1 stream.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# cargo bench builds tollgate with the bench profile, which inherits release.
exec cargo bench --bench gateway -- "$@"
