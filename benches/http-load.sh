#!/usr/bin/env bash
# HTTP load benchmark: /token against a bare axum reply, measured in one run with wrk, and the
# resident memory of an idle server. Writes nothing; prints a Markdown table.
#
#   benches/http-load.sh            # 10 s per case, wrk -t1 -c32
#   DURATION=30s benches/http-load.sh
#
# Needs wrk (Debian: apt-get install -y wrk). Everything listens on 127.0.0.1 only and is
# stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}
CONNS=${CONNS:-32}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }

cargo build --release -q -p registryo-bin -p registryo-benches --bin registryo --bin bare-axum
bin=target/release

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

wait_http() { for _ in $(seq 100); do curl -fs -o /dev/null "$1" && return 0; sleep 0.1; done; echo "no answer from $1" >&2; return 1; }

bare_port=$(free_port)
"$bin/bare-axum" "127.0.0.1:$bare_port" >/dev/null &
pids+=($!)

reg_port=$(free_port)
export REGISTRYO_DATA="$work/data" REGISTRYO_ADMIN_PASSWORD=bench-admin-pw REGISTRYO_SERVICE=bench REGISTRYO_LOG=warn
"$bin/registryo" serve --listen "127.0.0.1:$reg_port" >"$work/serve.log" &
serve_pid=$!
pids+=("$serve_pid")
wait_http "http://127.0.0.1:$bare_port/"
wait_http "http://127.0.0.1:$reg_port/healthz"
printf 'bench-user-pw\n' | "$bin/registryo" user add bench --password-stdin >/dev/null
"$bin/registryo" acl add user:bench 'bench/**' pull,push >/dev/null
"$bin/registryo" acl add anonymous 'public/**' pull >/dev/null
sleep 2 # the server reloads the policy within a second

idle_rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
rss_idle_kib=$(idle_rss "$serve_pid")

auth="Authorization: Basic $(printf 'bench:bench-user-pw' | base64)"
scope="service=bench&scope=repository:bench/app:pull,push"
run() { # name url [header]
  local out rps p50
  if [ $# -ge 3 ]; then out=$(wrk -t1 -c"$CONNS" -d"$DURATION" --latency -H "$3" "$2"); else out=$(wrk -t1 -c"$CONNS" -d"$DURATION" --latency "$2"); fi
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  if grep -q "Non-2xx" <<<"$out"; then echo "$1: non-2xx answers:" >&2; echo "$out" >&2; exit 1; fi
  printf '| %s | %s | %s |\n' "$1" "$rps" "$p50"
}
echo "| case | requests/s | p50 latency |"
echo "|---|---:|---:|"
run "bare axum JSON reply (baseline)" "http://127.0.0.1:$bare_port/"
run "/healthz (SQLite ping)" "http://127.0.0.1:$reg_port/healthz"
run "/token anonymous, 1 scope" "http://127.0.0.1:$reg_port/token?service=bench&scope=repository:public/x:pull"
run "/token Basic, known credentials (cached), 1 scope" "http://127.0.0.1:$reg_port/token?$scope" "$auth"
rss_after_kib=$(idle_rss "$serve_pid")
echo
echo "registryo resident memory: idle after start ${rss_idle_kib} KiB, after the load ${rss_after_kib} KiB"
