#!/usr/bin/env python3
"""Does a burst of registry notifications slow `/token`?

Starts `registryo serve` (the binary given, on a fresh SQLite data directory), adds a user
with a rule, reads the notification secret from `registryo registry-config`, then:

1. baseline: `wrk -t1 -cCONNS -dDURATION --latency` on `GET /token` (Basic, remembered);
2. burst: the same wrk run, and during it SENDERS threads POST EVENTS push events to
   `/registry/events` (one event per envelope, as distribution v3 sends them; a fresh
   keep-alive connection per sender), counting the answers (200, 503 sent again, others);
3. checks that every event was recorded once (the activity API, paged) and that sending them
   all again records none.

Prints a Markdown table: /token requests/s, p50 and p99 latency in both runs, and how long the
burst took to be absorbed. Measures; asserts nothing about timings. Needs wrk
(`apt-get install -y wrk`); stdlib only; everything on 127.0.0.1, stopped at the end.

    cargo build --release -p registryo-bin
    python3 benches/notify-burst.py target/release/registryo
    EVENTS=10000 SENDERS=4 DURATION=20 CONNS=8 python3 benches/notify-burst.py BINARY
"""

import base64
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time

EVENTS = int(os.environ.get("EVENTS", "10000"))
SENDERS = int(os.environ.get("SENDERS", "4"))
DURATION = int(os.environ.get("DURATION", "20"))
CONNS = int(os.environ.get("CONNS", "8"))
DIGEST = "sha256:" + "ab" * 32


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_http(port):
    for _ in range(300):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/healthz")
            if c.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    sys.exit("registryo did not answer /healthz")


def wrk(url, auth):
    out = subprocess.run(
        ["wrk", "-t1", f"-c{CONNS}", f"-d{DURATION}s", "--latency", "-H", auth, url],
        capture_output=True, text=True, check=True,
    ).stdout
    if "Non-2xx" in out:
        sys.exit("wrk saw non-2xx answers:\n" + out)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", out, re.M))
    return rps, lat.get("50", "?"), lat.get("99", "?")


def envelope(i):
    return json.dumps({"events": [{
        "id": f"bench-{i}", "timestamp": "2026-11-29T07:26:57Z", "action": "push",
        "target": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": 525,
                   "digest": DIGEST, "repository": f"bench/app{i % 50}", "tag": f"t{i}",
                   "url": f"http://r/v2/bench/app{i % 50}/manifests/{DIGEST}"},
        "request": {"addr": "127.0.0.1:40000", "method": "PUT", "useragent": "bench"},
        "actor": {"name": "bench"},
    }]})


def burst(port, secret, counts):
    """POSTs every event once (503s sent again, as the registry does), SENDERS at a time."""
    lock = threading.Lock()
    next_i = [0]

    def sender():
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while True:
            with lock:
                i = next_i[0]
                next_i[0] += 1
            if i >= EVENTS:
                return
            while True:
                c.request("POST", "/registry/events", body=envelope(i), headers={
                    "Authorization": f"Bearer {secret}",
                    "Content-Type": "application/vnd.docker.distribution.events.v1+json"})
                r = c.getresponse()
                body = r.read()
                with lock:
                    counts[r.status] = counts.get(r.status, 0) + 1
                if r.status == 503:
                    time.sleep(0.05)
                    continue
                if r.status != 200:
                    sys.exit(f"event {i}: {r.status} {body[:200]!r}")
                break

    threads = [threading.Thread(target=sender) for _ in range(SENDERS)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.monotonic() - t0


def recorded(port, admin):
    """How many events the activity API lists, page by page."""
    n, after = 0, ""
    while True:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        c.request("GET", f"/api/v1/activity?limit=1000{after}", headers={"Authorization": admin})
        page = json.loads(c.getresponse().read())
        n += len(page["events"])
        if not page.get("next"):
            return n
        after = f"&after={page['next']}"


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    binary = os.path.abspath(sys.argv[1])
    work = tempfile.mkdtemp(prefix="notify-burst-")
    port = free_port()
    env = dict(os.environ, REGISTRYO_DATA=f"{work}/data", REGISTRYO_ADMIN_PASSWORD="bench-admin-pw",
               REGISTRYO_SERVICE="bench", REGISTRYO_LOG="warn")
    log = open(f"{work}/serve.log", "w")
    server = subprocess.Popen([binary, "serve", "--listen", f"127.0.0.1:{port}"],
                              env=env, cwd=work, stdout=log, stderr=log)
    try:
        wait_http(port)
        subprocess.run([binary, "user", "add", "bench", "--password-stdin"], env=env, cwd=work,
                       input="bench-user-pw\n", text=True, check=True, capture_output=True)
        subprocess.run([binary, "acl", "add", "user:bench", "bench/**", "pull,push"], env=env,
                       cwd=work, check=True, capture_output=True)
        config = subprocess.run([binary, "registry-config", "--realm",
                                 f"http://127.0.0.1:{port}/token"], env=env, cwd=work,
                                check=True, capture_output=True, text=True).stdout
        secret = re.search(r'Authorization: \["Bearer ([^"]+)"\]', config).group(1)
        time.sleep(2)  # the server reloads the policy within a second
        auth = "Authorization: Basic " + base64.b64encode(b"bench:bench-user-pw").decode()
        admin = "Basic " + base64.b64encode(b"admin:bench-admin-pw").decode()
        url = f"http://127.0.0.1:{port}/token?service=bench&scope=repository:bench/app:pull,push"

        base = wrk(url, auth)
        counts = {}
        result = {}
        loaded = threading.Thread(target=lambda: result.update(wrk=wrk(url, auth)))
        loaded.start()
        time.sleep(1)
        took = burst(port, secret, counts)
        loaded.join()
        during = result["wrk"]
        n = recorded(port, admin)
        again = {}
        burst(port, secret, again)
        n_again = recorded(port, admin)

        print(f"| `/token` (wrk -t1 -c{CONNS} -d{DURATION}s) | requests/s | p50 | p99 |")
        print("|---|---:|---:|---:|")
        print(f"| alone | {base[0]:.0f} | {base[1]} | {base[2]} |")
        print(f"| during the burst | {during[0]:.0f} | {during[1]} | {during[2]} |")
        print()
        inside = "inside" if took + 1 < DURATION else "NOT inside (raise DURATION)"
        print(f"{EVENTS} events from {SENDERS} senders absorbed in {took:.1f} s "
              f"({EVENTS / took:.0f} events/s, {inside} the loaded wrk run); answers: {counts}; "
              f"recorded: {n}; all sent again: answers {again}, recorded afterwards: {n_again}")
        if n != EVENTS or n_again != EVENTS:
            sys.exit("not every event was recorded exactly once")
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
