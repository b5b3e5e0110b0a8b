"""The local stack under load: payments a second over HTTP with 1, 8 and 32 concurrent clients,
with p50 and p99 latency. Informational only.

    .venv/bin/python bench/bench_http_load.py [--requests 400] [--clients 1,8,32]

Starts the real local stack (`sscard serve --api-port 0 --moto-port 0`) in a subprocess,
gives every client its own funded holder and card (so clients do not contend for one
account), and has each client send POST /v1/payments with a fresh Idempotency-Key, as a
pharmacy terminal does. The stack's moto server serves one request at a time behind a
lock (DESIGN.md section 5: moto is not atomic otherwise), in a process of its own, so the
API's work and moto's run on two cores; past a few clients the lock is the bottleneck and
latency grows with the number of clients. Target: at least 50 payments a second at 8
clients on 2 cores. On AWS the same requests go to DynamoDB, which has no such lock.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import common
import requests

PROVISION = """
import json, sys
from datetime import UTC, datetime
from sscard_ops.cli import connect
from tests.payment_helpers import funded_holder
ops = connect()
key = ops.hashing_key()
now = datetime.now(UTC)
out = [funded_holder(ops.store, key, now, 10**12, seq=900 + i) for i in range(int(sys.argv[1]))]
json.dump([card for _, card in out], sys.stdout)
"""


def start(state: Path) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    sscard = Path(sys.executable).with_name("sscard")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["SSCARD_LOCAL_DIR"] = str(state)
    log = (state / "serve.log").open("w")
    proc = subprocess.Popen(
        [str(sscard), "serve", "--api-port", "0", "--moto-port", "0", "--state-dir", str(state)],
        cwd=common.ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 180  # a loaded 2-core machine starts it slowly
    seed_file = state / "seed.json"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"sscard serve exited:\n{(state / 'serve.log').read_text()[-3000:]}")
        if seed_file.exists():
            seed: dict[str, Any] = json.loads(seed_file.read_text())
            try:
                if requests.get(seed["api_url"] + "/health", timeout=2).status_code == 200:
                    return proc, seed
            except requests.ConnectionError:
                pass
        time.sleep(0.2)
    proc.terminate()
    raise SystemExit("sscard serve did not start in 180 s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop `sscard serve` as Ctrl-C would, and for good if it does not stop in 15 s."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def provision(seed: dict[str, Any], state: Path, count: int) -> list[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        {
            "AWS_ENDPOINT_URL": seed["aws_endpoint"],
            "SSCARD_API_URL": seed["api_url"],
            "SSCARD_LOCAL_DIR": str(state),
        }
    )
    done = subprocess.run(
        [sys.executable, "-c", PROVISION, str(count)],
        cwd=common.ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    cards: list[str] = json.loads(done.stdout)
    return cards


def load(api: str, token: str, cards: list[str], clients: int, total: int) -> dict[str, float]:
    per_client = max(1, total // clients)
    latencies: list[float] = []
    failures: list[int] = []
    lock = threading.Lock()
    go = threading.Event()

    def client(card_no: str) -> None:
        session = requests.Session()
        mine, bad = [], []
        go.wait()
        for _ in range(per_client):
            started = time.perf_counter()
            r = session.post(
                f"{api}/v1/payments",
                json={"card_no": card_no, "amount_fen": 1},
                headers={"Authorization": f"Bearer {token}", "Idempotency-Key": uuid.uuid4().hex},
                timeout=60,
            )
            mine.append(time.perf_counter() - started)
            if r.status_code != 201:
                bad.append(r.status_code)
        with lock:
            latencies.extend(mine)
            failures.extend(bad)

    threads = [threading.Thread(target=client, args=(cards[i],)) for i in range(clients)]
    for t in threads:
        t.start()
    started = time.perf_counter()
    go.set()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": len(latencies),
        "rate": len(latencies) / wall,
        "p50": statistics.median(latencies) * 1000,
        "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        "failed": len(failures),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=400, help="payments per level, shared by its clients")
    parser.add_argument("--clients", default="1,8,32")
    args = parser.parse_args()
    levels = [int(c) for c in args.clients.split(",")]
    with tempfile.TemporaryDirectory(prefix="sscard-load-") as tmp:
        state = Path(tmp)
        proc, seed = start(state)
        try:
            cards = provision(seed, state, max(levels))
            api, token = seed["api_url"], seed["tokens"]["pharmacy"]
            load(api, token, cards, 1, 10)  # warm: token cache, connections
            rows = [(c, load(api, token, cards, c, args.requests)) for c in levels]
        finally:
            stop(proc)
    print("| concurrent clients | payments | payments/s | p50 ms | p99 ms | not 201 |")
    print("|---:|---:|---:|---:|---:|---:|")
    for clients, r in rows:
        print(
            f"| {clients} | {r['requests']:.0f} | {r['rate']:.0f} | {r['p50']:.1f} | {r['p99']:.1f} | "
            f"{r['failed']:.0f} |"
        )
    eight = next((r["rate"] for c, r in rows if c == 8), None)
    if eight is not None:
        print(f"\nAt 8 clients: {eight:.0f} payments/s (target 50: {'met' if eight >= 50 else 'NOT met'}).")
    print(
        "\n`sscard serve` runs moto's server in a process of its own behind a lock that serves one "
        "request at a time (moto is not atomic otherwise), with its parsing memoized "
        "(sscard_ops/moto_speedups.py) and connections kept alive; the API and the poller share the "
        "other process. A payment costs about 10 ms of moto's CPU and 11 ms of the API's, so on 2 "
        "cores the rate depends on what else runs: give the load average with the figure. It says "
        "nothing about AWS, where each Lambda runs alone and DynamoDB serves requests in parallel."
    )


if __name__ == "__main__":
    main()
