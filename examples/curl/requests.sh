#!/usr/bin/env bash
# The gateway with nothing but curl. GATEWAY_URL defaults to http://127.0.0.1:8000;
# GATEWAY_TOKEN is sent when set.
set -euo pipefail
URL="${GATEWAY_URL:-http://127.0.0.1:8000}"
AUTH=()
if [ -n "${GATEWAY_TOKEN:-}" ]; then AUTH=(-H "Authorization: Bearer $GATEWAY_TOKEN"); fi

echo "== health"
curl -sS "$URL/health"; echo

echo "== OpenAI chat completion"
curl -sS "$URL/v1/chat/completions" "${AUTH[@]}" -H 'content-type: application/json' \
  -d '{"model": "gpt-4o", "messages": [{"role": "user", "content": "Say hello."}]}'
echo

echo "== Anthropic message, streamed"
curl -sSN "$URL/v1/messages" "${AUTH[@]}" -H 'content-type: application/json' \
  -H 'anthropic-version: 2023-06-01' \
  -d '{"model": "sonnet", "max_tokens": 100, "stream": true, "messages": [{"role": "user", "content": "Say hello."}]}'
echo

echo "== POST /api/chat (a custom endpoint from routes.yaml)"
curl -sS "$URL/api/chat" "${AUTH[@]}" -H 'content-type: application/json' \
  -d '{"prompt": "Say hello.", "max_tokens": 100}'
echo
