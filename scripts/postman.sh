#!/usr/bin/env bash
# Runs the Postman walkthrough (postman/) with the newman pinned in postman/package-lock.json
# against a fresh quick start on spare ports, twice (the second run proves the collection
# holds on a suite that already has data), then stops the quick start with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

npm ci --prefix postman --no-audit --no-fund --loglevel=error >/dev/null

work=$(mktemp -d)
qs_pid=""
cleanup() {
  if [ -n "$qs_pid" ] && kill -0 "$qs_pid" 2>/dev/null; then
    kill -INT "$qs_pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$qs_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$qs_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/tccsuite" ./cmd/tccsuite
export TCC_DATA_DIR="$work/data"
export ORDER_ADDR=127.0.0.1:28080 INVENTORY_ADDR=127.0.0.1:28081 PAYMENT_ADDR=127.0.0.1:28082
export TCC_COORDINATOR_ADDR=127.0.0.1:27070 TCC_ETCD_CLIENT_ADDR=127.0.0.1:22379 TCC_ETCD_PEER_ADDR=127.0.0.1:22380
"$work/tccsuite" >"$work/quickstart.log" 2>&1 &
qs_pid=$!

ready=""
for _ in $(seq 1 600); do
  if curl -sf http://$ORDER_ADDR/readyz >/dev/null && curl -sf http://$TCC_COORDINATOR_ADDR/readyz >/dev/null \
     && curl -sf http://$INVENTORY_ADDR/api/v1/stock/WIDGET >/dev/null; then
    ready=1; break
  fi
  kill -0 "$qs_pid" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$ready" ]; then
  echo "postman: the quick start did not become ready:" >&2
  cat "$work/quickstart.log" >&2
  exit 1
fi

for run in 1 2; do
  echo "postman: walkthrough run $run"
  npx --prefix postman newman run postman/tccsuite.postman_collection.json \
    -e postman/quickstart.postman_environment.json \
    --env-var order=http://$ORDER_ADDR --env-var inventory=http://$INVENTORY_ADDR \
    --env-var payment=http://$PAYMENT_ADDR --env-var coordinator=http://$TCC_COORDINATOR_ADDR \
    --reporters cli --color off
done
