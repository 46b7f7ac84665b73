#!/usr/bin/env bash
# The main job on the embedded default, from a fresh clone: install, scaffold the iris teaching example, check it,
# serve it in-process (no Docker), ask it for predictions the three ways a user would, read its metrics, stop it.
set -euo pipefail
cd "$(dirname "$0")/.."

export ONNXRUNTIME_NODE_INSTALL=skip
# .npmrc's ignore-scripts=true also skips this package's own prepare step: build explicitly.
[ -x node_modules/.bin/tsc ] || npm ci --no-audit --no-fund
[ -f dist/commands/serve.js ] || npm run build
mlship() { node bin/run.js "$@"; }

port="${PORT:-8080}"
lab="$(mktemp -d)/iris-lab"
echo "== mlship init --example iris $lab"
mlship init --example iris "$lab"
echo "== mlship validate"
mlship validate "$lab"

echo "== mlship serve --local (port $port)"
# node itself in the background, not the mlship function: `func &` forks a subshell, and $! would be the subshell's
# PID, so the SIGTERM below would miss the server and leave it holding the port.
node bin/run.js serve "$lab" --local --host 127.0.0.1 --port "$port" > "$lab/server.log" 2>&1 &
server=$!
trap 'kill -TERM $server 2>/dev/null || true; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$port/ready" > /dev/null && break
  kill -0 $server 2>/dev/null || { cat "$lab/server.log"; exit 1; }
  sleep 0.2
done

echo "== GET /health"
curl -s "http://127.0.0.1:$port/health"; echo
echo "== POST /predict (the seed's JSON contract)"
curl -s -XPOST "http://127.0.0.1:$port/predict" -H 'content-type: application/json' \
  -d '{"features": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]}'; echo
echo "== POST /predict with a bad request (a 400 that names the input)"
curl -s -XPOST "http://127.0.0.1:$port/predict" -H 'content-type: application/json' -d '{"features": [[5.1, 3.5]]}'; echo
echo "== mlship predict --url (the example input of model.yaml)"
mlship predict "$lab" --url "http://127.0.0.1:$port" --example
echo "== GET /metrics (excerpt)"
curl -s "http://127.0.0.1:$port/metrics" | grep -E '^mlship_(http_requests_total|predictions_total|inference_duration_seconds_count)' | head -8 || true

echo "== stop (SIGTERM: in-flight requests finish)"
kill -TERM $server
status=0
wait $server || status=$?
trap - EXIT
[ "$status" -eq 0 ] || { echo "the server exited with status $status:"; tail -20 "$lab/server.log"; exit 1; }
echo "Done. The server's JSON log is in $lab/server.log"
