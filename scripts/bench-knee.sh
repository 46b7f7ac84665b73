#!/bin/bash
# The knees of examples/iris side by side, on this machine, in one run, with `mlship bench`:
#   1. the load generator's own ceiling (a node:http server that does no work, in a process of its own),
#   2. mlship, in-process (--local),
#   3. mlship, in the container `mlship build` makes (skipped, and said, when no Docker engine answers),
#   4. the seed's stack: Flask served by gunicorn with 2 workers, the same model in scikit-learn (--url).
# Every stack gets the same body (bench/peers/iris-one-row.json), the same SLO and the same sweep; the markdown
# table goes to stdout and to the BENCHMARKS.md section "Knee of each stack", the JSON results stay in $BENCH_OUT.
#
# usage: npm run bench:knee            (BENCH_DURATION=5 s per step, BENCH_MAX_DURATION=90 s per sweep)
#        BENCH_DURATION=2 BENCH_MAX_DURATION=30 BENCH_START_RATE=400 npm run bench:knee   (a quick smoke run)
# env:   BENCH_BASE_IMAGE (base image for the container build; default: MLSHIP_TEST_BASE_IMAGE, else model.yaml's),
#        BENCH_OUT (where the JSON results go; default a temporary folder)
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
duration=${BENCH_DURATION:-5}
max_duration=${BENCH_MAX_DURATION:-90}
out=${BENCH_OUT:-$(mktemp -d /tmp/mlship-bench-knee.XXXXXX)}
mkdir -p "$out"
body=bench/peers/iris-one-row.json
start_rate=${BENCH_START_RATE:-50}
sweep=(--payload "$body" --duration "$duration" --warmup 1 --max-duration "$max_duration" --start-rate "$start_rate" --json)
mlship() { "$root/bin/dev.js" "$@"; }
log() { echo "bench-knee: $*" >&2; }
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done; }
trap cleanup EXIT

wait_http() { # url
  for _ in $(seq 100); do
    curl -sf -m 1 -XPOST -H 'content-type: application/json' --data @"$body" "$1" >/dev/null && return 0
    sleep 0.2
  done
  return 1
}

log "results in $out"

log "1/4 generator ceiling (trivial node:http server, separate process)"
node bench/peers/trivial-server.mjs 5310 & pids+=($!)
if wait_http http://127.0.0.1:5310/predict; then
  mlship bench --url http://127.0.0.1:5310/predict "${sweep[@]}" >"$out/ceiling.json"
fi
kill "${pids[-1]}" 2>/dev/null

log "2/4 mlship --local"
mlship bench examples/iris --local "${sweep[@]}" >"$out/local.json"

log "3/4 mlship container"
base=${BENCH_BASE_IMAGE:-${MLSHIP_TEST_BASE_IMAGE:-}}
if docker info >/dev/null 2>&1; then
  mlship bench examples/iris ${base:+--base-image "$base"} "${sweep[@]}" >"$out/container.json"
else
  log "no Docker engine answers: the container row is left out"
  rm -f "$out/container.json"
fi

log "4/4 gunicorn (2 workers) + Flask, the seed's stack"
(cd bench/peers && MODEL_PATH="$root/examples/iris/model.pkl" exec gunicorn -w 2 -b 127.0.0.1:5311 --log-level warning flask_app:app) & pids+=($!)
if wait_http http://127.0.0.1:5311/predict; then
  mlship bench --url http://127.0.0.1:5311/predict "${sweep[@]}" >"$out/gunicorn.json"
else
  log "gunicorn did not answer (needs Debian's gunicorn, python3-flask, python3-sklearn)"
fi
kill "${pids[-1]}" 2>/dev/null

settings=""
for name in BENCH_DURATION BENCH_MAX_DURATION BENCH_START_RATE BENCH_BASE_IMAGE; do
  [ -n "${!name:-}" ] && settings+="$name=${!name} "
done
node --import tsx --no-warnings scripts/bench-knee-report.ts "$out" "${settings}npm run bench:knee"
