#!/usr/bin/env bash
# Instructions tollgate executes per request and per streamed chunk, for
# chat passthrough, Anthropic passthrough, and Messages / Responses
# translated for a chat-only upstream: counted by valgrind's callgrind, so
# other work on the machine cannot skew them (the gateway bench's CPU times
# can be). Same config and mock as the gateway bench's translation section.
#   scripts/bench-callgrind.sh [REQUESTS] [STREAMS]
# Needs valgrind, and the release binaries `cargo bench --bench gateway`
# builds (run scripts/bench.sh --only translation first, or cargo bench
# --bench gateway --no-run).
set -euo pipefail
cd "$(dirname "$0")/.."
requests="${1:-2000}"
streams="${2:-60}"
target="$(realpath -m "${CARGO_TARGET_DIR:-target}")"
tollgate="$target/release/tollgate"
bench="$(ls -t "$target"/release/deps/gateway-* 2>/dev/null | grep -v '\.d$' | head -n1)"
[ -x "$tollgate" ] && [ -x "$bench" ] || { echo "build first: cargo bench --bench gateway --no-run" >&2; exit 1; }
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 1; }

dir="$(mktemp -d /tmp/tollgate-callgrind-XXXXXX)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_ok() {
  for _ in $(seq 1 600); do
    curl -fsS -o /dev/null "http://127.0.0.1:$1$2" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing answered on port $1" >&2; return 1
}

mock_port="$(free_port)"
"$bench" mock --port "$mock_port" >"$dir/mock.log" 2>&1 &
pids+=($!)
wait_ok "$mock_port" /ready

# The translation section's config: each behaviour as a chat-only openai/
# entry and as an anthropic/ entry.
{
  echo "model_list:"
  for b in "fast /json" "ttfc /sse/2/1" "short /sse/10/1" "long /sse/100/1"; do
    set -- $b
    printf '  - model_name: %s\n    litellm_params:\n      model: openai/mock-%s\n      api_base: http://127.0.0.1:%s%s/v1\n      api_key: sk-upstream-bench\n' "$1" "$1" "$mock_port" "$2"
    printf '  - model_name: anthropic-%s\n    litellm_params:\n      model: anthropic/claude-mock-%s\n      api_base: http://127.0.0.1:%s%s\n      api_key: sk-upstream-bench\n' "$1" "$1" "$mock_port" "$2"
  done
  echo "general_settings:"
  echo "  master_key: sk-bench-master"
} >"$dir/proxy_config.yaml"

# Instructions (Ir) of everything tollgate did while `client ARGS` ran,
# after a warm-up with the same client.
count() {
  local name="$1"; shift
  local port out pid
  port="$(free_port)"
  out="$dir/callgrind.$name"
  valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out" \
    "$tollgate" --config "$dir/proxy_config.yaml" --port "$port" --drain-seconds 1 >"$dir/$name.log" 2>&1 &
  pid=$!
  pids+=($pid)
  wait_ok "$port" /health/liveliness
  local url="http://127.0.0.1:$port$1"; shift
  "$bench" "$@" --url "$url" --warmup 0 >/dev/null
  callgrind_control -i on "$pid" >/dev/null
  "$bench" "$@" --url "$url" --warmup 0 >"$dir/$name.client"
  callgrind_control -i off "$pid" >/dev/null
  kill -TERM "$pid"
  wait "$pid" 2>/dev/null || true
  # The totals line of every dump (one per thread), summed.
  cat "$out"* | awk '/^totals:/ { s += $2 } END { print s }'
}

n="$requests"
printf '| case | Ir per request (%s requests) |\n|---|---:|\n' "$n"
for c in "chat_passthrough /v1/chat/completions chat fast" \
         "anthropic_passthrough /v1/messages anthropic anthropic-fast" \
         "anthropic_to_chat /v1/messages anthropic fast" \
         "responses_to_chat /v1/responses responses fast"; do
  set -- $c
  ir="$(count "$1-json" "$2" load --model "$4" --format "$3" --requests "$n")"
  printf '| %s | %s |\n' "$1" "$(( ir / n ))"
done

s="$streams"
printf '\n| case | Ir per stream of 10 | of 100 | Ir per added chunk |\n|---|---:|---:|---:|\n'
for c in "chat_passthrough /v1/chat/completions chat" \
         "anthropic_passthrough /v1/messages anthropic anthropic-" \
         "anthropic_to_chat /v1/messages anthropic" \
         "responses_to_chat /v1/responses responses"; do
  set -- $c
  entry="${4:-}"
  short="$(count "$1-short" "$2" ttfc --model "${entry}short" --format "$3" --n "$s")"
  long="$(count "$1-long" "$2" ttfc --model "${entry}long" --format "$3" --n "$s")"
  printf '| %s | %s | %s | %s |\n' "$1" "$(( short / s ))" "$(( long / s ))" "$(( (long - short) / s / 90 ))"
done
