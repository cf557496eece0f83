#!/usr/bin/env bash
# Resident memory of `registryo serve` across policy reloads and a burst of password hashing.
# Writes nothing outside a temporary directory; prints Markdown tables.
#
#   benches/memory.sh                       # 100,000 rules, 100 reloads, 50 users at once
#   RULES=10000 RELOADS=20 USERS=20 benches/memory.sh
#   MODE=store benches/memory.sh            # reloads caused by changes made elsewhere
#   BIN=/tmp/old-build benches/memory.sh    # binaries built elsewhere (no cargo build)
#   MALLOC_ARENA_MAX=1 benches/memory.sh    # the server inherits the environment
#
# 1. Reloads: a fresh store gets RULES rules (written with python's sqlite3 while the server
#    is stopped), the server starts and loads them; then RELOADS policy reloads, each a full
#    rebuild of the snapshot: with MODE=api (default) a rule added through the admin API
#    (the operation reloads before answering, on whichever worker thread took the request);
#    with MODE=store the policy revision bumped in the database, as the CLI or another
#    replica does (the server's watcher reloads within a second). RSS after start, after the
#    reloads, and 10 s and 30 s later.
# 2. Hashing: a fresh server, USERS people created at once through the admin API (an argon2id
#    hash each, 19 MiB of memory apiece); RSS idle, the peak (sampled every 50 ms), and 2 s
#    and 15 s after the burst.
#
# Needs curl and python3. Listens on 127.0.0.1 only; everything is stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
RULES=${RULES:-100000}
RELOADS=${RELOADS:-100}
USERS=${USERS:-50}
MODE=${MODE:-api}

if [ -z "${BIN:-}" ]; then
  cargo build --release -q -p registryo-bin --bin registryo
  BIN=${CARGO_TARGET_DIR:-target}/release
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
wait_http() { for _ in $(seq 300); do curl -fs -o /dev/null "$1" && return 0; sleep 0.1; done; echo "no answer from $1" >&2; return 1; }
mib() { awk '/VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }
export REGISTRYO_ADMIN_PASSWORD=bench-admin-pw REGISTRYO_SERVICE=bench REGISTRYO_LOG=warn

# start DATA -> sets $pid and $port
start() {
  port=$(free_port)
  REGISTRYO_DATA="$1" "$BIN/registryo" serve --listen "127.0.0.1:$port" >>"$1.log" 2>&1 &
  pid=$!
  pids+=("$pid")
  wait_http "http://127.0.0.1:$port/healthz"
}
stop() { kill -TERM "$1"; wait "$1" 2>/dev/null || true; }

# --- 1. reloads ----------------------------------------------------------------------------
data="$work/rules"
start "$data"
stop "$pid"
python3 - "$data/registryo.db" "$RULES" <<'PY'
import sqlite3, sys, time
db, n = sys.argv[1], int(sys.argv[2])
c = sqlite3.connect(db)
now = int(time.time())
rows = []
for i in range(n):
    kind = i % 20
    if kind < 11:
        subject, pattern = f"user:u{i % 3000}", f"ns{i % 997}/app{i}"
    elif kind < 19:
        subject, pattern = f"group:g{i % 300}", f"ns{i % 997}/team{i}/**"
    else:
        subject, pattern = "authenticated", f"shared{i}/*"
    rows.append((subject, pattern, "pull,push" if i % 3 else "pull", now, "bench"))
c.executemany("INSERT INTO acl_rules (subject, pattern, actions, created_at, created_by) VALUES (?,?,?,?,?)", rows)
c.execute("UPDATE policy_revision SET revision = revision + 1, changed_at = ? WHERE id = 1", (now,))
c.commit()
PY
start "$data"
sleep 3
rss_start=$(mib "$pid")
case "$MODE" in
  api)
    for i in $(seq "$RELOADS"); do
      curl -fs -o /dev/null -u admin:bench-admin-pw -H 'Content-Type: application/json' \
        -d "{\"subject\":\"user:u$i\",\"pattern\":\"reload$i/*\",\"actions\":\"pull\"}" \
        "http://127.0.0.1:$port/api/v1/rules"
    done
    ;;
  store)
    for _ in $(seq "$RELOADS"); do
      python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute("UPDATE policy_revision SET revision = revision + 1 WHERE id = 1"); c.commit()' "$data/registryo.db"
      sleep 1.5
    done
    ;;
  *) echo "MODE is api or store" >&2; exit 1 ;;
esac
rss_reloaded=$(mib "$pid")
sleep 10
rss_settled=$(mib "$pid")
sleep 20
rss_settled30=$(mib "$pid")
stop "$pid"

# --- 2. hashing ----------------------------------------------------------------------------
data="$work/hash"
start "$data"
sleep 2
rss_idle=$(mib "$pid")
python3 - "$pid" "$port" "$USERS" >"$work/peak" <<'PY'
import base64, json, sys, threading, time, urllib.request
pid, port, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
auth = "Basic " + base64.b64encode(b"admin:bench-admin-pw").decode()
def rss():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) // 1024
peak, done = 0, False
def sample():
    global peak
    while not done:
        peak = max(peak, rss())
        time.sleep(0.05)
def create(i):
    body = json.dumps({"username": f"burst{i}", "password": f"burst-password-{i}"}).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/v1/users", body, method="POST",
                                 headers={"Authorization": auth, "Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=120).read()
s = threading.Thread(target=sample); s.start()
ts = [threading.Thread(target=create, args=(i,)) for i in range(n)]
for t in ts: t.start()
for t in ts: t.join()
time.sleep(0.2)
done = True; s.join()
print(peak)
PY
rss_peak=$(cat "$work/peak")
sleep 2
rss_after2=$(mib "$pid")
sleep 13
rss_after15=$(mib "$pid")
stop "$pid"

ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }
echo "| $RULES rules, $RELOADS reloads ($MODE) | RSS MiB | × after start |"
echo "|---|---:|---:|"
echo "| after start | $rss_start | 1.00 |"
echo "| after the reloads | $rss_reloaded | $(ratio "$rss_reloaded" "$rss_start") |"
echo "| 10 s later | $rss_settled | $(ratio "$rss_settled" "$rss_start") |"
echo "| 30 s later | $rss_settled30 | $(ratio "$rss_settled30" "$rss_start") |"
echo
echo "| $USERS users created at once | RSS MiB | × idle |"
echo "|---|---:|---:|"
echo "| idle | $rss_idle | 1.00 |"
echo "| peak | $rss_peak | $(ratio "$rss_peak" "$rss_idle") |"
echo "| 2 s after | $rss_after2 | $(ratio "$rss_after2" "$rss_idle") |"
echo "| 15 s after | $rss_after15 | $(ratio "$rss_after15" "$rss_idle") |"
