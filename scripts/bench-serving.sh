#!/bin/bash
# Serving throughput of `mlship serve --local` on examples/iris beside the bare Node ceilings and the seed's own stack,
# in interleaved rounds on one machine, and /health latency while /predict is saturated. Writes the BENCHMARKS.md
# section "Serving throughput" (scripts/write-bench-section.ts) and prints it.
#
# usage: scripts/bench-serving.sh [SECONDS] [ROUNDS]    (default 10 s per stack, 3 rounds; `3 2` makes a smoke run)
#
# Stacks: mlship serve --local (in the layout it picks at start-up: for iris, one HTTP process per CPU); the
# single-process ceiling (bench/peers/ceiling.mjs: node:http + onnxruntime-node in-process, one thread); the
# two-process ceiling (bench/peers/ceiling-cluster.mjs: one such server per CPU behind node:cluster, every core busy);
# the seed's stack
# (gunicorn, 2 workers, + Flask + scikit-learn). All four are started once; each round measures each of them, in an
# order that rotates from round to round, so slow drifts of a shared machine fall on every stack alike. The ratios
# are taken within each round and the table reports their medians.
#
# Load: wrk, closed loop, 1 thread, 16 connections, POST /predict of one iris row (bench/peers/post.lua), 2 s of
# warm-up before each measurement. Needs Debian's wrk; gunicorn + python3-flask + python3-sklearn for the seed's stack
# (skipped with a note when missing). Only 127.0.0.1 is loaded; every server started here is stopped on exit.
# Env: MLSHIP_BENCH_PORT (first port, default 5200), MLSHIP_BENCH_SKIP_BUILD=1 to use dist/ as it is.
set -u
cd "$(dirname "$0")/.."
ROOT=$(pwd)
D=${1:-10}
ROUNDS=${2:-3}
PORT=${MLSHIP_BENCH_PORT:-5200}
PEERS=$ROOT/bench/peers
MODEL_DIR=$ROOT/examples/iris
OUT=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do pkill -TERM -P "$p" 2>/dev/null; kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$OUT"
}
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

# cpu_ticks PID: CPU time (user + system, clock ticks, every thread) of PID and its descendants (cluster processes,
# gunicorn workers).
cpu_ticks() {
  local total=0 p times
  for p in $(descendants "$1"); do
    times=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null) && total=$((total + times))
  done
  echo "$total"
}
descendants() { echo "$1"; local c; for c in $(pgrep -P "$1"); do descendants "$c"; done; }
TICK_US=$((1000000 / $(getconf CLK_TCK)))

# measure PORT PID: warm-up, then D seconds of wrk; prints "rps p50 p99 non2xx cpu_us_per_request". The CPU the
# server spent per request is the figure a shared, noisy machine disturbs least (wrk's own CPU is not in it).
measure() {
  local port=$1 pid=$2 before after
  wrk -t1 -c16 -d2s -s "$PEERS/post.lua" "http://127.0.0.1:$port/predict" >/dev/null 2>&1
  before=$(cpu_ticks "$pid")
  wrk -t1 -c16 -d"${D}s" --latency -s "$PEERS/post.lua" "http://127.0.0.1:$port/predict" >"$OUT/wrk.txt" 2>&1
  after=$(cpu_ticks "$pid")
  awk -v cpu="$(((after - before) * TICK_US))" '/requests in/{n=$1} /Requests\/sec/{r=$2} /^ +50%/{p50=$2}
    /^ +99%/{p99=$2} /Non-2xx/{e=$NF}
    END{printf "%s %s %s %d %s\n", r, p50, p99, e+0, (n > 0 ? sprintf("%.1f", cpu / n) : "-")}' "$OUT/wrk.txt"
}

STACKS=(mlship ceiling cluster gunicorn)
declare -A NAME=(
  [mlship]='mlship serve --local'
  [ceiling]='ceiling, 1 process (node:http + onnxruntime-node)'
  [cluster]="ceiling, $(nproc) processes (node:cluster)"
  [gunicorn]='seed: gunicorn 2 workers + Flask + scikit-learn'
)
declare -A SERVER_PORT=([mlship]=$PORT [ceiling]=$((PORT + 1)) [cluster]=$((PORT + 2)) [gunicorn]=$((PORT + 3)))
declare -A UP
declare -A STACK_PID

start() { # stack
  local port=${SERVER_PORT[$1]}
  case $1 in
    mlship) node bin/run.js serve "$MODEL_DIR" --local --host 127.0.0.1 --port "$port" >"$OUT/mlship.log" 2>&1 & ;;
    ceiling) node "$PEERS/ceiling.mjs" "$ROOT" "$MODEL_DIR/model.onnx" "$port" >/dev/null 2>&1 & ;;
    cluster) node "$PEERS/ceiling-cluster.mjs" "$ROOT" "$MODEL_DIR/model.onnx" "$port" >/dev/null 2>&1 & ;;
    gunicorn)
      if ! command -v gunicorn >/dev/null || ! /usr/bin/python3 -c 'import flask, sklearn' 2>/dev/null; then
        echo "gunicorn, python3-flask or python3-sklearn missing: the seed's stack is skipped" >&2
        return 1
      fi
      (cd "$PEERS" && MODEL_PATH=$MODEL_DIR/model.pkl exec gunicorn -w 2 -b "127.0.0.1:$port" flask_app:app \
        >/dev/null 2>&1) &
      ;;
  esac
  PIDS+=("$!")
  STACK_PID[$1]=$!
  if ! wait_up "$port"; then
    echo "$1 did not come up on port $port" >&2
    [ "$1" = mlship ] && tail -20 "$OUT/mlship.log" >&2
    return 1
  fi
  curl -sf -m 5 -XPOST -H 'content-type: application/json' -d '{"features": [[5.1, 3.5, 1.4, 0.2]]}' \
    "http://127.0.0.1:$port/predict" >/dev/null || { echo "$1: POST /predict failed" >&2; return 1; }
}

for s in "${STACKS[@]}"; do if start "$s"; then UP[$s]=1; else UP[$s]=0; fi; done
# The layout mlship chose at start-up (README, "How the server uses the CPUs"), from its 'serving layout' log line.
LAYOUT=$(grep -m1 '"serving layout"' "$OUT/mlship.log" 2>/dev/null | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{try{const l=JSON.parse(s).layout;console.log(l.kind+(l.processes?", "+l.processes+" processes":""))}catch{}})')
LAYOUT_REASON=$(grep -m1 '"serving layout"' "$OUT/mlship.log" 2>/dev/null | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{try{console.log(JSON.parse(s).layout.reason)}catch{}})')

# Rounds: results in $OUT/STACK.ROUND ("rps p50 p99 non2xx cpu"), /health probes in $OUT/health.ROUND.
for r in $(seq 1 "$ROUNDS"); do
  order=("${STACKS[@]:$(((r - 1) % 4))}" "${STACKS[@]:0:$(((r - 1) % 4))}")
  echo "round $r of $ROUNDS: ${order[*]}" >&2
  for s in "${order[@]}"; do
    if [ "${UP[$s]}" = 1 ]; then measure "${SERVER_PORT[$s]}" "${STACK_PID[$s]}" >"$OUT/$s.$r"
    else echo "- - - - -" >"$OUT/$s.$r"; fi
  done
  if [ "${UP[mlship]}" = 1 ]; then
    # /health while /predict is saturated: the probe runs beside a second wrk of the same shape.
    wrk -t1 -c16 -d"$((D + 1))s" -s "$PEERS/post.lua" "http://127.0.0.1:${SERVER_PORT[mlship]}/predict" >/dev/null 2>&1 &
    W=$!
    sleep 0.5
    node "$PEERS/health-probe.mjs" "http://127.0.0.1:${SERVER_PORT[mlship]}/health" "$((D - 1 > 1 ? D - 1 : 1))" \
      >"$OUT/health.$r"
    wait "$W"
  fi
done

# field STACK ROUND NAME: one figure of a measurement (rps, p50, p99, errors or cpu)
field() { awk -v name="$3" '{ split("rps p50 p99 errors cpu", names, " "); for (i = 1; i <= 5; i++) if (names[i] == name) print $i }' "$OUT/$1.$2"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a+0 > 0 && b+0 > 0) printf "%.2f", a/b; else printf "-" }'; }
median() { tr ' ' '\n' | grep -v '^-\?$' | sort -g | awk '{v[NR]=$1} END{ if (NR == 0) print "-"; else if (NR % 2) print v[(NR+1)/2]; else printf "%.2f\n", (v[NR/2]+v[NR/2+1])/2 }'; }
fmt() { awk -v v="$1" 'BEGIN{ if (v+0 > 0) printf "%d", v + 0.5; else printf "-" }' | sed ':a;s/\B[0-9]\{3\}\>/,&/;ta'; }
health_p99() { [ -f "$OUT/health.$1" ] && node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).p99_ms)' "$OUT/health.$1" || echo -; }

BODY=$OUT/body.md
{
  echo "wrk closed loop, 1 thread, 16 connections, POST /predict of one iris row, 2 s warm-up + ${D} s per stack and"
  echo "round; ${ROUNDS} interleaved rounds (the order rotates), ratios taken within each round. The single-process ceiling"
  echo "runs on one thread; mlship picked the ${LAYOUT:-?} layout (${LAYOUT_REASON:-see its log}); the $(nproc)-process ceiling"
  echo "(one bare server per CPU, node:cluster) is the fair bound for what this machine can serve."
  echo
  echo "| round | ${NAME[mlship]} | ${NAME[ceiling]} | ${NAME[cluster]} | ${NAME[gunicorn]} | mlship / 1-process ceiling | mlship / ${NAME[cluster]%% (*} | mlship / gunicorn | /health p99 under saturation | CPU per request: mlship, ${NAME[cluster]%% (*} (µs) | CPU: ${NAME[cluster]%% (*} / mlship |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
  R_CEIL=() R_CLUSTER=() R_GUNI=() HEALTH=() RPS_M=() RPS_C=() RPS_K=() RPS_G=() CPU_M=() CPU_K=() R_CPU=()
  for r in $(seq 1 "$ROUNDS"); do
    cells=()
    for s in "${STACKS[@]}"; do
      rps=$(field "$s" "$r" rps)
      cells+=("$(fmt "$rps")$([ "$rps" != - ] && echo ", p99 $(field "$s" "$r" p99)")")
    done
    m=$(field mlship "$r" rps)
    c1=$(ratio "$m" "$(field ceiling "$r" rps)"); c2=$(ratio "$m" "$(field cluster "$r" rps)"); g=$(ratio "$m" "$(field gunicorn "$r" rps)")
    h=$(health_p99 "$r")
    R_CEIL+=("$c1"); R_CLUSTER+=("$c2"); R_GUNI+=("$g"); HEALTH+=("$h")
    RPS_M+=("$m"); RPS_C+=("$(field ceiling "$r" rps)"); RPS_K+=("$(field cluster "$r" rps)"); RPS_G+=("$(field gunicorn "$r" rps)")
    cm=$(field mlship "$r" cpu); ck=$(field cluster "$r" cpu); rc=$(ratio "$ck" "$cm")
    CPU_M+=("$cm"); CPU_K+=("$ck"); R_CPU+=("$rc")
    echo "| $r | ${cells[0]} | ${cells[1]} | ${cells[2]} | ${cells[3]} | $c1 | $c2 | $g | $h ms | $cm, $ck | $rc |"
  done
  echo "| **median** | **$(fmt "$(echo "${RPS_M[*]}" | median)")** | **$(fmt "$(echo "${RPS_C[*]}" | median)")** | **$(fmt "$(echo "${RPS_K[*]}" | median)")** | **$(fmt "$(echo "${RPS_G[*]}" | median)")** | **$(echo "${R_CEIL[*]}" | median)** | **$(echo "${R_CLUSTER[*]}" | median)** | **$(echo "${R_GUNI[*]}" | median)** | **$(echo "${HEALTH[*]}" | median) ms** | **$(echo "${CPU_M[*]}" | median), $(echo "${CPU_K[*]}" | median)** | **$(echo "${R_CPU[*]}" | median)** |"
  echo
  echo "req/s, p99 latency; CPU per request: the server's processes (every thread, user + system) over the measured"
  echo "seconds, divided by the requests answered: a ratio above 1 means mlship spends less CPU on a request than the bare"
  echo "ceiling, a figure a shared machine disturbs less than req/s. Non-2xx answers: $(for s in "${STACKS[@]}"; do for r in $(seq 1 "$ROUNDS"); do field "$s" "$r" errors; done; done | awk '{ if ($1 != "-") n += $1 } END { print n + 0 }')."
  [ "${UP[gunicorn]}" = 1 ] || echo "The seed's stack was not measured: gunicorn, python3-flask or python3-sklearn is missing."
  echo "Targets: mlship >= 1.0 x the $(nproc)-process ceiling, >= 2.5 x gunicorn + Flask, /health p99 < 10 ms."
} >"$BODY"

cat "$BODY"
COMMAND="npm run bench:serving"
[ $# -gt 0 ] && COMMAND="bash scripts/bench-serving.sh $*"
npx tsx scripts/write-bench-section.ts --id serving --title "Serving throughput" --command "$COMMAND" <"$BODY"
