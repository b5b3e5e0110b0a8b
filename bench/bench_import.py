"""A contribution file through the local stack: `sscard contributions import FILE`, queued and
posted, timed end to end.

    .venv/bin/python bench/bench_import.py [--rows 2000] [--holders 200]

Starts `sscard serve` on free ports (as bench_http_load.py does), enrolls `holders` holders
(one in four a freelancer), writes a CSV of `rows` monthly contributions for them (the mix of
bench_contributions.py, unique contribution ids), and runs the import command with its
progress bar following the posting to the end. Reports the time to queue, the time until the
last row posted, and rows a second, with the import's own posted/duplicate/rejected counts,
and the CPU time the import cost each process of the stack a row (moto's process, the one
serving the API and feeding the queue to the handler, the import command): CPU time does not
count the other load of a shared machine, and moto's share is what caps the rate, since it
serves one request at a time.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import bench_contributions as contrib
import bench_http_load as http
import common

ENROLL = """
import os, sys
from datetime import UTC, datetime
sys.path.insert(0, "bench")
endpoint = os.environ["AWS_ENDPOINT_URL"]
import bench_contributions as contrib  # its common module drops AWS_ENDPOINT_URL: the stack's again
os.environ["AWS_ENDPOINT_URL"] = endpoint
from chalicelib.domain.holders import Participation
from chalicelib.services import admin
from sscard_ops.cli import connect
ops = connect()
key = ops.hashing_key()
for ssn, participation in contrib.holders_list(int(sys.argv[1])):
    admin.enroll_holder(ops.store, key, ssn, "Bench", Participation(participation), datetime.now(UTC))
"""


def stack_env(seed: dict[str, str], state: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        {
            "AWS_ENDPOINT_URL": seed["aws_endpoint"],
            "SSCARD_API_URL": seed["api_url"],
            "SSCARD_LOCAL_DIR": str(state),
        }
    )
    return env


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a live process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def moto_process(serve: int) -> int:
    """The process `sscard serve` spawned for moto (sscard_ops/motoserver.py), not its
    multiprocessing resource tracker."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                command = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == serve and b"resource_tracker" not in command:
                return int(entry.name)
    raise SystemExit("no moto process under sscard serve")


def write_file(path: Path, holders: int, rows: int) -> None:
    messages = contrib.messages_for(contrib.holders_list(holders), rows)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["contribution_id", *contrib_columns()])
        writer.writeheader()
        for m in messages:
            writer.writerow({**m, "employer_id": m.get("employer_id", "")})


def contrib_columns() -> list[str]:
    return ["ssn", "period", "insurance", "payer", "employer_id", "amount_fen", "paid_at"]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--holders", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sscard-import-") as tmp:
        state = Path(tmp)
        proc, seed = http.start(state)
        try:
            env = stack_env(seed, state)
            subprocess.run(
                [sys.executable, "-c", ENROLL, str(args.holders)],
                cwd=common.ROOT,
                env=env,
                check=True,
                timeout=1800,  # 2,000 holders took over 600 s at load 10
            )
            path = state / "run.csv"
            write_file(path, args.holders, args.rows)
            sscard = Path(sys.executable).with_name("sscard")
            moto = moto_process(proc.pid)
            before = {"moto": cpu_seconds(moto), "serve": cpu_seconds(proc.pid)}
            load_before = os.getloadavg()[0]
            waited = resource.getrusage(resource.RUSAGE_CHILDREN)
            children_before = waited.ru_utime + waited.ru_stime
            started = time.perf_counter()
            importing = subprocess.Popen(
                [str(sscard), "contributions", "import", str(path)],
                cwd=common.ROOT,
                env={**env, "COLUMNS": "100"},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            out, err = importing.communicate(timeout=3600)
            seconds = time.perf_counter() - started
            reaped = resource.getrusage(resource.RUSAGE_CHILDREN)  # the import, now waited for
            cpu = {
                "import": reaped.ru_utime + reaped.ru_stime - children_before,
                "moto": cpu_seconds(moto) - before["moto"],
                "serve": cpu_seconds(proc.pid) - before["serve"],
            }
            load_after = os.getloadavg()[0]
            done = subprocess.CompletedProcess(importing.args, importing.returncode, out, err)
        finally:
            http.stop(proc)
    counts = dict(
        re.findall(
            r"│ (rows|queued|posted|duplicate \(posted before\)|rejected|seconds until queued)\s+│\s+(\d+)",
            done.stdout,
        )
    )
    print(
        f"`sscard contributions import` of {args.rows:,} rows for {args.holders} holders, `sscard serve`:\n"
    )
    print("| rows | queued in s | queued and posted in s | rows/s | posted | duplicate | rejected | exit |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {args.rows:,} | {counts.get('seconds until queued', '?')} | {seconds:.0f} | "
        f"{args.rows / seconds:.1f} | {counts.get('posted', '?')} | "
        f"{counts.get('duplicate (posted before)', '?')} | {counts.get('rejected', '?')} | "
        f"{done.returncode} |"
    )
    print(
        "\nCPU ms a row: "
        + ", ".join(f"{name} {seconds_ * 1000 / args.rows:.1f}" for name, seconds_ in cpu.items())
        + f" (moto serves one request at a time: at most {args.rows / cpu['moto']:.0f} rows/s on its share); "
        f"load average {load_before:.1f} before, {load_after:.1f} after"
    )
    print(
        f"\nAt this rate 50,000 rows take {50_000 / (args.rows / seconds) / 60:.1f} minutes "
        "(target: under 10)."
    )
    if done.returncode != 0:
        print("\n```\n" + (done.stdout + done.stderr)[-2000:] + "\n```")


if __name__ == "__main__":
    main()
