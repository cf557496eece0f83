#!/usr/bin/env python3
"""The cost of a policy change at scale, and /token with double-wildcard rules, for one or
more `registryo` binaries measured in the same run, in interleaved rounds.

    cargo build --release -p registryo-bin -p registryo-benches --bin registryo --bin bare-axum
    python3 benches/policy-scale.py OLD_BINARY NEW_BINARY        # e.g. a build of main, then this one
    ROUNDS=3 SIZES=1000,10000,100000 WRK_SECS=5 python3 benches/policy-scale.py BIN...

For each round, each size and each binary: a fresh data directory seeded straight into SQLite
with N rules (or N users) — the API would take hours to load 100k rules on a build that
rebuilds the policy for every change — then two servers over the same file (a replica), and:

- `rule`: the median time of `POST /api/v1/rules` (5 changes) at N rules;
- `user`: the median time of `PATCH /api/v1/users/uK` (5 changes) at N users;
- `replica`: the CPU the *other* server spent per change to apply it (its CPU over the
  changes, each given 1.5 s to be applied, less its idle CPU over as long);
- `token`: `wrk -t1 -c32` on `/token` (Basic, remembered credentials) with 100k ordinary rules
  and with 100k `authenticated` rules like `p7-*/*-7` (`double`) or `*7x*/*3y*` (`inner`: no
  literal at either end), and their ratios, per round.
- `bulk` (binaries that have it): one `POST /api/v1/rules/bulk` of 10,000 rules.

Prints one line per measurement and a Markdown summary with the range over the rounds.
Everything listens on 127.0.0.1 and is stopped at the end.
"""

import base64
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROUNDS = int(os.environ.get("ROUNDS", "3"))
SIZES = [int(s) for s in os.environ.get("SIZES", "1000,10000,100000").split(",")]
WRK_SECS = os.environ.get("WRK_SECS", "5")
CHANGES = int(os.environ.get("CHANGES", "4"))
ADMIN_PW = "bench-admin-pw"
USER_PW = "bench-user-pw"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def env_for(data):
    env = dict(os.environ)
    env.update(REGISTRYO_DATA=data, REGISTRYO_ADMIN_PASSWORD=ADMIN_PW,
               REGISTRYO_SERVICE="bench", REGISTRYO_LOG="warn")
    return env


class Server:
    def __init__(self, binary, data):
        self.port = free_port()
        self.log = open(os.path.join(os.path.dirname(data), f"serve-{self.port}.log"), "w")
        self.proc = subprocess.Popen([binary, "serve", "--listen", f"127.0.0.1:{self.port}"],
                                     env=env_for(data), stdout=self.log, stderr=self.log)
        self.url = f"http://127.0.0.1:{self.port}"
        for _ in range(1200):
            try:
                urllib.request.urlopen(self.url + "/healthz", timeout=2)
                return
            except Exception:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{binary} serve exited; see {self.log.name}")
                time.sleep(0.1)
        raise RuntimeError("no answer from " + self.url)

    def cpu(self):
        fields = open(f"/proc/{self.proc.pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def call(server, method, path, body=None, auth=("admin", ADMIN_PW)):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(server.url + path, data=data, method=method)
    req.add_header("Authorization", "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode())
    if data is not None:
        req.add_header("Content-Type", "application/json")
    t = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=600) as r:
            r.read()
            status = r.status
    except urllib.error.HTTPError as e:
        status = e.code
        print(f"  {method} {path}: {status} {e.read()[:300]!r}", file=sys.stderr)
    except urllib.error.URLError as e:  # a build without the route may cut a large body
        status = 0
        print(f"  {method} {path}: {e}", file=sys.stderr)
    return time.perf_counter() - t, status


def normal_rule(i):
    """The criterion bench's mix: user, group, authenticated and anonymous rules."""
    k = i % 100
    if k < 55:
        subject = f"user:u{i % 3000}"
    elif k < 95:
        subject = f"group:g{i % 300}"
    elif k < 98:
        subject = "authenticated"
    else:
        subject = "anonymous"
    pats = [f"ns{i % 997}/app{i}", f"ns{i % 997}/*", f"ns{i % 997}/**", f"ns{i}/**/app3",
            f"ns{i % 997}/app{i}-*", "${account}/app%d" % i, f"ns{i % 997}/${{account}}/**"]
    return subject, pats[i % len(pats)], "pull"


def double_rule(i):
    return "authenticated", f"p{i % 1000}-*/*-{i // 1000}", "pull"


def inner_rule(i):
    """No literal at either end of the pattern, only inside: `*7x*/*3y*`."""
    return "authenticated", f"*{i % 1000}x*/*{i // 1000}y*", "pull"


RULE_KINDS = {"normal": normal_rule, "double": double_rule, "inner": inner_rule}


def fresh_store(binary, work):
    """A data directory with the admin and `bench` (password USER_PW, rule bench/**)."""
    data = os.path.join(work, "data")
    s = Server(binary, data)
    env = env_for(data)
    subprocess.run([binary, "user", "add", "bench", "--password-stdin"], input=USER_PW + "\n",
                   env=env, check=True, capture_output=True, text=True)
    subprocess.run([binary, "acl", "add", "user:bench", "bench/**", "pull,push"], env=env,
                   check=True, capture_output=True)
    s.stop()
    return data


def seed(data, rules=(), users=0):
    db = sqlite3.connect(os.path.join(data, "registryo.db"))
    now = int(time.time())
    db.executemany("INSERT INTO acl_rules (subject, pattern, actions, created_at, created_by) "
                   "VALUES (?, ?, ?, ?, 'seed')", [(s, p, a, now) for s, p, a in rules])
    db.executemany("INSERT INTO users (username, kind, created_at, updated_at) "
                   "VALUES (?, 'human', ?, ?)", [(f"u{i}", now, now) for i in range(users)])
    db.execute("UPDATE policy_revision SET revision = revision + 1")
    db.commit()
    db.close()


def change_cost(binary, work, kind, n, label):
    data = fresh_store(binary, work)
    if kind == "rule":
        seed(data, rules=[normal_rule(i) for i in range(n)])
    else:
        seed(data, users=n)
    a, b = Server(binary, data), Server(binary, data)
    try:
        call(a, "GET", "/api/v1/explain?user=bench&scope=repository:bench/x:pull")  # argon2 once
        time.sleep(1.5)
        idle0 = b.cpu()
        time.sleep(1.5 * CHANGES)
        idle = b.cpu() - idle0
        times = []
        cpu0 = b.cpu()
        for k in range(CHANGES):
            if kind == "rule":
                t, st = call(a, "POST", "/api/v1/rules",
                             {"subject": f"user:new{k}", "pattern": f"new{k}/**", "actions": "pull"})
            else:
                t, st = call(a, "PATCH", f"/api/v1/users/u{k + 1}", {"first_name": f"F{k}"})
            assert st in (200, 201), st
            times.append(t)
            time.sleep(1.5)
        replica = max(0.0, (b.cpu() - cpu0 - idle) / CHANGES)
        bulk = None
        if kind == "rule" and n == SIZES[-1]:
            rules = [{"subject": f"user:bulk{i}", "pattern": f"bulk{i}/**", "actions": "pull"}
                     for i in range(10_000)]
            t, st = call(a, "POST", "/api/v1/rules/bulk", {"rules": rules})
            bulk = t if st in (200, 201) else None
    finally:
        a.stop()
        b.stop()
        shutil.rmtree(data, ignore_errors=True)
    return statistics.median(times), replica, bulk


def wrk(url, auth):
    out = subprocess.run(["wrk", "-t1", "-c32", f"-d{WRK_SECS}s", "-H", auth, url],
                         capture_output=True, text=True, check=True).stdout
    if "Non-2xx" in out:
        raise RuntimeError("non-2xx answers:\n" + out)
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def token_rate(binary, work, kind):
    data = fresh_store(binary, work)
    n = 100_000
    seed(data, rules=[RULE_KINDS[kind](i) for i in range(n)])
    s = Server(binary, data)
    try:
        auth = "Authorization: Basic " + base64.b64encode(f"bench:{USER_PW}".encode()).decode()
        url = s.url + "/token?service=bench&scope=repository:bench/app:pull,push"
        subprocess.run(["curl", "-fs", "-o", "/dev/null", "-H", auth, url], check=True)
        return wrk(url, auth)
    finally:
        s.stop()
        shutil.rmtree(data, ignore_errors=True)


def rng(xs, fmt):
    return f"{fmt(min(xs))}–{fmt(max(xs))}" if len(xs) > 1 else fmt(xs[0])


def main():
    bins = sys.argv[1:]
    if not bins:
        sys.exit(__doc__)
    results = {}  # (binary, what) -> [values]
    work = tempfile.mkdtemp(prefix="policy-scale-")
    try:
        for r in range(ROUNDS):
            for kind in ("rule", "user"):
                for n in SIZES:
                    for b in bins:
                        t, replica, bulk = change_cost(b, work, kind, n, b)
                        results.setdefault((b, f"{kind} {n}"), []).append(t)
                        results.setdefault((b, f"replica {kind} {n}"), []).append(replica)
                        if bulk is not None:
                            results.setdefault((b, "bulk 10000 rules"), []).append(bulk)
                        print(f"round {r + 1} {b}: {kind} change at {n}: {t * 1000:.1f} ms, "
                              f"replica CPU {replica * 1000:.1f} ms"
                              + (f", bulk 10k rules {bulk * 1000:.0f} ms" if bulk else ""),
                              flush=True)
            for b in bins:
                normal = token_rate(b, work, "normal")
                results.setdefault((b, "token normal"), []).append(normal)
                for kind in ("double", "inner"):
                    rate = token_rate(b, work, kind)
                    results.setdefault((b, f"token {kind}"), []).append(rate)
                    results.setdefault((b, f"token ratio {kind}"), []).append(rate / normal)
                    print(f"round {r + 1} {b}: /token 100k normal {normal:.0f}/s, "
                          f"100k {kind} {rate:.0f}/s, ratio {rate / normal:.2f}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ms = lambda x: f"{x * 1000:.1f} ms"
    print()
    print("| measurement | " + " | ".join(bins) + " |")
    print("|---|" + "---:|" * len(bins))
    whats = sorted({w for _, w in results}, key=lambda w: (w.split()[0], w))
    for w in whats:
        fmt = (lambda x: f"{x:.2f}×") if w.startswith("token ratio") else \
            (lambda x: f"{x:,.0f}/s") if w.startswith("token") else ms
        cells = [rng(results[(b, w)], fmt) if (b, w) in results else "—" for b in bins]
        print(f"| {w} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
