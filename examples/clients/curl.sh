#!/bin/sh
# Calling tollgate with curl. Every call is plain OpenAI API.
#
#   TOLLGATE_URL  where tollgate listens (default http://127.0.0.1:4000)
#   TOLLGATE_KEY  your client key or the master key; leave unset when the
#                 gateway has no key configured (loopback, sidecar)
#   MODEL         a model_name from the config (default: mock, from
#                 examples/local-dev.yaml)
#
# Run:  tollgate --config examples/local-dev.yaml &  sh examples/clients/curl.sh
set -eu

URL="${TOLLGATE_URL:-http://127.0.0.1:4000}"
MODEL="${MODEL:-mock}"
KEY="${TOLLGATE_KEY:-unused}" # ignored by a gateway without keys

echo "== the models this key may use"
curl -sS "$URL/v1/models" -H "Authorization: Bearer $KEY"
echo

echo "== one chat completion"
curl -sS "$URL/v1/chat/completions" \
  -H "Authorization: Bearer $KEY" \
  -H 'Content-Type: application/json' \
  -d "{\"model\": \"$MODEL\", \"messages\": [{\"role\": \"user\", \"content\": \"Say hello in five words.\"}]}"
echo

echo "== the same, streamed (-N: print each event as it arrives)"
curl -sSN "$URL/v1/chat/completions" \
  -H "Authorization: Bearer $KEY" \
  -H 'Content-Type: application/json' \
  -d "{\"model\": \"$MODEL\", \"stream\": true, \"messages\": [{\"role\": \"user\", \"content\": \"Count to five.\"}]}"
echo

echo "== is it up? (no key needed)"
curl -sS "$URL/health/readiness"
echo
