#!/usr/bin/env bash
# Lints api/openapi.yaml with the Redocly CLI pinned in api/lint/package-lock.json and
# the rules in api/lint/redocly.yaml (its recommended set). Exits non-zero on any error.
set -euo pipefail
cd "$(dirname "$0")/../api/lint"
npm ci --no-audit --no-fund --loglevel=error >/dev/null
rc=0
out=$(npx --no-install redocly lint ../openapi.yaml --config redocly.yaml 2>&1) || rc=$?
# Redocly prints a boxed notice about Node.js 20's end of life; keep the log to the result.
printf '%s\n' "$out" | grep -v '[║╔╚]' | sed '/^$/d'
exit "$rc"
