#!/usr/bin/env python3
"""How fast can someone guess one account's password through `GET /token`?

Starts `registryo serve` (the binary given, on a fresh data directory), adds the user `alice`,
then for DURATION seconds fires wrong Basic passwords at her from one client address and from
twenty (127.0.0.2, 127.0.0.3, ...: all of 127/8 is loopback), with CONNS concurrent clients,
and prints how many guesses were *checked* (401: the server looked at the password) and how
many were *refused unchecked* (429), per minute. It then checks that the owner's right password
from her usual address still gets a token. Measures counts, not timings; stdlib only.

    python3 benches/guess-rate.py target/release/registryo            # 20 s per case
    DURATION=60 python3 benches/guess-rate.py /path/to/old/registryo  # another build

A binary without guessing limits answers 401 to every guess: its "checked per minute" is the
rate an attacker gets.
"""

import base64
import http.client
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

DURATION = float(os.environ.get("DURATION", "20"))
CONNS = int(os.environ.get("CONNS", "8"))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def token(port, source, user, password):
    """The status of one GET /token with Basic credentials, sent from `source`."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(source, 0))
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    conn.request("GET", "/token?service=bench&scope=repository:alice/x:pull",
                 headers={"Authorization": f"Basic {auth}"})
    status = conn.getresponse().status
    conn.close()
    return status


def attack(port, sources):
    counts = {}
    lock = threading.Lock()
    deadline = time.monotonic() + DURATION
    serial = [0]

    def worker(i):
        while time.monotonic() < deadline:
            with lock:
                serial[0] += 1
                n = serial[0]
            source = sources[n % len(sources)]
            status = token(port, source, "alice", f"guess-{i}-{n}")
            with lock:
                counts[status] = counts.get(status, 0) + 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(CONNS)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    minutes = (time.monotonic() - started) / 60
    return counts, minutes


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    binary = os.path.abspath(sys.argv[1])
    work = tempfile.mkdtemp(prefix="guess-rate-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRYO_")}
    env.update(REGISTRYO_DATA=f"{work}/data", REGISTRYO_ADMIN_PASSWORD="bench-admin-pw",
               REGISTRYO_SERVICE="bench", REGISTRYO_LOG="error")
    port = free_port()
    server = subprocess.Popen([binary, "serve", "--listen", f"127.0.0.1:{port}"], env=env,
                              cwd=work, stdout=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        subprocess.run([binary, "user", "add", "alice", "--password-stdin"], env=env, cwd=work,
                       input=b"alice-password", check=True, stdout=subprocess.DEVNULL)
        time.sleep(1.5)
        # The owner signs in once from home: her usual address.
        home = "127.0.0.254"
        assert token(port, home, "alice", "alice-password") == 200
        print(f"binary: {binary}; {DURATION:.0f} s per case, {CONNS} concurrent clients")
        print()
        print("| attacker | guesses checked (401) / min | refused unchecked (429) / min | "
              "owner from home after |")
        print("|---|---:|---:|---|")
        cases = [("one address", ["127.0.0.2"]),
                 ("20 addresses", [f"127.0.1.{i}" for i in range(1, 21)])]
        for n, (name, sources) in enumerate(cases):
            if n > 0:
                time.sleep(125)  # let the two-minute window of the limits pass
            counts, minutes = attack(port, sources)
            checked = counts.get(401, 0) / minutes
            refused = counts.get(429, 0) / minutes
            other = {k: v for k, v in counts.items() if k not in (401, 429)}
            owner = token(port, home, "alice", "alice-password")
            print(f"| {name} | {checked:,.0f} | {refused:,.0f} | {owner}"
                  f"{'' if not other else f' (other answers: {other})'} |", flush=True)
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
