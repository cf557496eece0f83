#!/usr/bin/env bash
# HTTP load benchmark: /token against a bare axum reply, measured in one run with wrk, in
# interleaved rounds, with the ratios of each round; and the resident memory of the server.
# Writes nothing; prints Markdown tables.
#
#   benches/http-load.sh                  # 3 rounds, 10 s per case, wrk -t1 -c32
#   ROUNDS=5 DURATION=30s benches/http-load.sh
#   BIN=/tmp/old-build benches/http-load.sh   # binaries built elsewhere (no cargo build)
#
# Cases: the bare axum reply (baseline); `GET /token` with Basic credentials (remembered
# after the first request); `POST /token` with a refresh token (docker's request after
# `docker login`: grant_type=refresh_token); the Basic case again on a second server with
# `metrics = false` (no recorder: what recording the metrics costs, same binary, same round);
# once, /healthz and anonymous /token. Server CPU
# per request is the server's user+system time over the run divided by the requests wrk
# counted (wrk shares the 2 cores, so requests/s and CPU/request are both shown).
#
# Needs wrk (Debian: apt-get install -y wrk), curl, python3. Everything listens on 127.0.0.1
# only and is stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}
CONNS=${CONNS:-32}
ROUNDS=${ROUNDS:-3}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }

if [ -z "${BIN:-}" ]; then
  cargo build --release -q -p registryo-bin -p registryo-benches --bin registryo --bin bare-axum
  BIN=${CARGO_TARGET_DIR:-target}/release
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

wait_http() { for _ in $(seq 100); do curl -fs -o /dev/null "$1" && return 0; sleep 0.1; done; echo "no answer from $1" >&2; return 1; }

bare_port=$(free_port)
"$BIN/bare-axum" "127.0.0.1:$bare_port" >/dev/null &
bare_pid=$!
pids+=("$bare_pid")

reg_port=$(free_port)
export REGISTRYO_DATA="$work/data" REGISTRYO_ADMIN_PASSWORD=bench-admin-pw REGISTRYO_SERVICE=bench REGISTRYO_LOG=warn
"$BIN/registryo" serve --listen "127.0.0.1:$reg_port" >"$work/serve.log" &
serve_pid=$!
pids+=("$serve_pid")
off_port=$(free_port)
REGISTRYO_DATA="$work/data-off" REGISTRYO_METRICS=false \
  "$BIN/registryo" serve --listen "127.0.0.1:$off_port" >"$work/serve-off.log" &
off_pid=$!
pids+=("$off_pid")
wait_http "http://127.0.0.1:$bare_port/"
wait_http "http://127.0.0.1:$reg_port/healthz"
wait_http "http://127.0.0.1:$off_port/healthz"
for data in "$work/data" "$work/data-off"; do
  printf 'bench-user-pw\n' | REGISTRYO_DATA=$data "$BIN/registryo" user add bench --password-stdin >/dev/null
  REGISTRYO_DATA=$data "$BIN/registryo" acl add user:bench 'bench/**' pull,push >/dev/null
  REGISTRYO_DATA=$data "$BIN/registryo" acl add anonymous 'public/**' pull >/dev/null
done
sleep 2 # the server reloads the policy within a second

rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_idle_kib=$(rss_kib "$serve_pid")

auth="Authorization: Basic $(printf 'bench:bench-user-pw' | base64)"
scope="scope=repository:bench/app:pull,push"
# docker login: a password grant asking for a refresh token.
refresh=$(curl -fs -X POST "http://127.0.0.1:$reg_port/token" \
  --data-urlencode grant_type=password --data-urlencode username=bench \
  --data-urlencode password=bench-user-pw --data-urlencode client_id=docker \
  --data-urlencode service=bench --data-urlencode access_type=offline \
  --data-urlencode "scope=repository:bench/app:pull,push" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["refresh_token"])')
cat >"$work/refresh.lua" <<EOF
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.body = "grant_type=refresh_token&refresh_token=$refresh&client_id=docker&service=bench&scope=repository%3Abench%2Fapp%3Apull%2Cpush"
EOF
# The case must answer 200 before it is measured.
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$reg_port/token" \
  -H 'Content-Type: application/x-www-form-urlencoded' \
  --data "grant_type=refresh_token&refresh_token=$refresh&client_id=docker&service=bench&$scope")
[ "$code" = 200 ] || { echo "the refresh-token request answered $code" >&2; exit 1; }

# run NAME PID URL [wrk args...]: adds a line to the table, prints "requests/s cpu-µs".
run() {
  local name=$1 pid=$2 url=$3 out rps p50 n t0 t1 cpu
  shift 3
  t0=$(cpu_ticks "$pid")
  out=$(wrk -t1 -c"$CONNS" -d"$DURATION" --latency "$@" "$url")
  t1=$(cpu_ticks "$pid")
  if grep -q "Non-2xx" <<<"$out"; then echo "$name: non-2xx answers:" >&2; echo "$out" >&2; exit 1; fi
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  n=$(awk '/requests in/ {print $1}' <<<"$out")
  cpu=$(python3 -c "print(f'{($t1-$t0)/$(getconf CLK_TCK)/$n*1e6:.1f}')")
  printf '| %s | %s | %s | %s |\n' "$name" "$rps" "$p50" "$cpu" >>"$work/table"
  echo "$rps $cpu"
}

run "/healthz (a SQLite ping)" "$serve_pid" "http://127.0.0.1:$reg_port/healthz" >/dev/null
run "/token anonymous, 1 scope" "$serve_pid" \
  "http://127.0.0.1:$reg_port/token?service=bench&scope=repository:public/x:pull" >/dev/null
: >"$work/ratios"
for r in $(seq "$ROUNDS"); do
  read -r bare_rps bare_cpu < <(run "round $r: bare axum JSON reply" "$bare_pid" "http://127.0.0.1:$bare_port/")
  read -r basic_rps basic_cpu < <(run "round $r: GET /token, Basic (remembered), 1 scope" "$serve_pid" \
    "http://127.0.0.1:$reg_port/token?service=bench&$scope" -H "$auth")
  read -r refresh_rps refresh_cpu < <(run "round $r: POST /token, refresh token, 1 scope" "$serve_pid" \
    "http://127.0.0.1:$reg_port/token" -s "$work/refresh.lua")
  read -r off_rps off_cpu < <(run "round $r: GET /token, Basic (remembered), 1 scope, metrics = false" "$off_pid" \
    "http://127.0.0.1:$off_port/token?service=bench&$scope" -H "$auth")
  python3 - "$r" "$bare_rps" "$basic_rps" "$refresh_rps" "$basic_cpu" "$refresh_cpu" "$off_rps" "$off_cpu" >>"$work/ratios" <<'PY'
import sys
r, bare, basic, refresh, basic_cpu, refresh_cpu, off, off_cpu = sys.argv[1], *map(float, sys.argv[2:])
print(f"| {r} | {basic / bare:.2f} | {refresh / bare:.2f} | {refresh / basic:.2f} | {refresh_cpu / basic_cpu:.2f} | {basic / off:.2f} | {basic_cpu / off_cpu:.2f} |")
PY
done
rss_after_kib=$(rss_kib "$serve_pid")

echo "| case | requests/s | p50 latency | server CPU µs/request |"
echo "|---|---:|---:|---:|"
cat "$work/table"
echo
echo "| round | Basic / bare (req/s) | refresh / bare (req/s) | refresh / Basic (req/s) | refresh / Basic (CPU per request) | Basic / Basic without metrics (req/s) | Basic / Basic without metrics (CPU per request) |"
echo "|---:|---:|---:|---:|---:|---:|---:|"
cat "$work/ratios"
python3 - "$work/ratios" <<'PY'
import sys
rows = [[float(c) for c in l.strip().strip("|").split("|")[1:]] for l in open(sys.argv[1]) if l.strip()]
cols = list(zip(*rows))
print("| range | " + " | ".join(f"{min(c):.2f}–{max(c):.2f}" for c in cols) + " |")
PY
echo
echo "registryo resident memory: idle after start ${rss_idle_kib} KiB, after the load ${rss_after_kib} KiB"
