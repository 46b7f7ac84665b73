#!/bin/bash
# Serving throughput of `mlship serve --local` on examples/iris beside the Node ceiling and the seed's own stack, one
# after the other in one run on one machine, and /health latency while /predict is saturated. Prints a markdown table.
#
# usage: scripts/bench-serving.sh [SECONDS]        (default 10 s per stack; 3 s makes a smoke run)
#
# Load: wrk, closed loop, 1 thread, 16 connections, POST /predict of one iris row (bench/peers/post.lua): the same as
# the peers' own measurement. Needs Debian's wrk; gunicorn + python3-flask + python3-sklearn for the seed's stack
# (skipped with a note when missing). Only 127.0.0.1 is loaded; every server started here is stopped on exit.
# Env: MLSHIP_BENCH_PORT (first port, default 5200), MLSHIP_BENCH_SKIP_BUILD=1 to use dist/ as it is.
set -u
cd "$(dirname "$0")/.."
ROOT=$(pwd)
D=${1:-10}
PORT=${MLSHIP_BENCH_PORT:-5200}
PEERS=$ROOT/bench/peers
MODEL_DIR=$ROOT/examples/iris
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; }
trap cleanup EXIT

command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 2; }
if [ "${MLSHIP_BENCH_SKIP_BUILD:-0}" != 1 ]; then
  if [ ! -f dist/serving/server.js ] || [ -n "$(find src -newer dist/serving/server.js -name '*.ts' -print -quit)" ]; then
    echo "building dist/ (npm run build)..." >&2
    npm run build >/dev/null || exit 1
  fi
fi

wait_up() { # port
  for _ in $(seq 150); do curl -sf -m 1 "http://127.0.0.1:$1/health" >/dev/null && return 0; sleep 0.2; done
  return 1
}

# measure NAME PORT: warm-up, then D seconds of wrk; prints "rps p50 p99 non2xx"
measure() {
  local port=$2
  curl -sf -m 2 -XPOST -H 'content-type: application/json' -d '{"features": [[5.1, 3.5, 1.4, 0.2]]}' "http://127.0.0.1:$port/predict" >/dev/null ||
    { echo "$1: POST /predict failed" >&2; echo "- - - -"; return; }
  wrk -t1 -c16 -d2s -s "$PEERS/post.lua" "http://127.0.0.1:$port/predict" >/dev/null 2>&1
  wrk -t1 -c16 -d"${D}s" --latency -s "$PEERS/post.lua" "http://127.0.0.1:$port/predict" 2>&1 |
    awk '/Requests\/sec/{r=$2} /^ +50%/{p50=$2} /^ +99%/{p99=$2} /Non-2xx/{e=$NF} END{printf "%s %s %s %d\n", r, p50, p99, e+0}'
}

# stop PID: the server and its children (gunicorn's workers)
stop() { pkill -TERM -P "$1" 2>/dev/null; kill -TERM "$1" 2>/dev/null; wait "$1" 2>/dev/null; }

declare -A RESULT
HEALTH="-"

# 1. mlship serve --local (the product, as a user runs it: default model.yaml settings, JSON logs on)
P1=$PORT
node bin/run.js serve "$MODEL_DIR" --local --host 127.0.0.1 --port "$P1" >/tmp/mlship-bench-serve.log 2>&1 &
S1=$!; PIDS+=("$S1")
if wait_up "$P1"; then
  RESULT[mlship]=$(measure mlship "$P1")
  # /health while /predict is saturated: the probe runs beside a second wrk of the same shape.
  wrk -t1 -c16 -d"$((D + 1))s" -s "$PEERS/post.lua" "http://127.0.0.1:$P1/predict" >/dev/null 2>&1 &
  W=$!
  sleep 0.5
  HEALTH=$(node "$PEERS/health-probe.mjs" "http://127.0.0.1:$P1/health" "$((D - 1 > 1 ? D - 1 : 1))")
  wait "$W"
else
  echo "mlship serve did not come up; its log:" >&2; tail -20 /tmp/mlship-bench-serve.log >&2
  RESULT[mlship]="- - - -"
fi
stop "$S1"

# 2. the ceiling: bare node:http + onnxruntime-node in-process, no validation
P2=$((PORT + 1))
node "$PEERS/ceiling.mjs" "$ROOT" "$MODEL_DIR/model.onnx" "$P2" >/dev/null 2>&1 &
S2=$!; PIDS+=("$S2")
if wait_up "$P2"; then RESULT[ceiling]=$(measure ceiling "$P2"); else RESULT[ceiling]="- - - -"; fi
stop "$S2"

# 3. the seed's stack: gunicorn, 2 workers, + Flask + scikit-learn
P3=$((PORT + 2))
if command -v gunicorn >/dev/null && /usr/bin/python3 -c 'import flask, sklearn' 2>/dev/null; then
  (cd "$PEERS" && MODEL_PATH=$MODEL_DIR/model.pkl exec gunicorn -w 2 -b "127.0.0.1:$P3" flask_app:app >/dev/null 2>&1) &
  S3=$!; PIDS+=("$S3")
  if wait_up "$P3"; then RESULT[gunicorn]=$(measure gunicorn "$P3"); else RESULT[gunicorn]="- - - -"; fi
  stop "$S3"
else
  echo "gunicorn, python3-flask or python3-sklearn missing: the seed's stack is skipped" >&2
  RESULT[gunicorn]="- - - -"
fi

read -r R1 A1 B1 E1 <<<"${RESULT[mlship]}"
read -r R2 A2 B2 E2 <<<"${RESULT[ceiling]}"
read -r R3 A3 B3 E3 <<<"${RESULT[gunicorn]}"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a+0 > 0 && b+0 > 0) printf "%.2f", a/b; else printf "-" }'; }

echo
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), wrk -t1 -c16 -d${D}s, POST /predict of one iris row"
echo
echo "| stack | req/s | p50 | p99 | non-2xx | mlship / this |"
echo "| --- | ---: | ---: | ---: | ---: | ---: |"
echo "| mlship serve --local | $R1 | $A1 | $B1 | $E1 | 1.00 |"
echo "| ceiling: node:http + onnxruntime-node in-process | $R2 | $A2 | $B2 | $E2 | $(ratio "$R1" "$R2") |"
echo "| seed: gunicorn 2 workers + Flask + scikit-learn | $R3 | $A3 | $B3 | $E3 | $(ratio "$R1" "$R3") |"
echo
echo "GET /health on mlship while /predict is saturated (one probe every 5 ms beside wrk -c16): $HEALTH"
echo "Targets: mlship >= 0.90 x ceiling, >= 2.5 x gunicorn+Flask, /health p99 < 10 ms."
