#!/usr/bin/env bash
# Profiles tollgate under wrk at 32 connections: builds it in release with
# symbols (line tables; same optimisation), runs `perf record` on it during
# the load, and prints the top symbols by self and by inclusive time.
#   scripts/bench-profile.sh [--profile-secs N]
# Needs perf (Debian: apt-get install linux-perf). The recording is kept
# where BENCH_PERF_DATA says (default: $CARGO_TARGET_DIR/bench/perf.data).
set -euo pipefail
cd "$(dirname "$0")/.."
target="$(realpath -m "${CARGO_TARGET_DIR:-target}")"
command -v perf >/dev/null || { echo "perf is not installed (apt-get install linux-perf)" >&2; exit 1; }
CARGO_PROFILE_RELEASE_STRIP=none CARGO_PROFILE_RELEASE_DEBUG=line-tables-only \
  CARGO_TARGET_DIR="$target/profiling" cargo build --release --bin tollgate
mkdir -p "$target/bench"
export BENCH_PERF_DATA="${BENCH_PERF_DATA:-$target/bench/perf.data}"
exec cargo bench --bench gateway -- --only profile --tollgate "$target/profiling/release/tollgate" \
  --out "$target/bench/profile.json" "$@"
