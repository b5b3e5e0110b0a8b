"""Cold start: importing app.py in a fresh interpreter, against a bare Chalice app that imports
boto3; and the size of the deployment package `chalice package` builds.

    .venv/bin/python bench/bench_cold_start.py [--runs 15] [--no-package]

Each import is timed inside a fresh `python -c` (interpreter start-up excluded), wall clock
and CPU, the kinds interleaved, and medians compared. The Lambda package has no `rich` (a
development tool that a console log renderer would import when installed), so the app is also
timed with `rich` made unimportable, which is what Lambda sees. Prints markdown.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import zipfile
from collections import Counter
from pathlib import Path

import common

TIMER = """
import sys, time
{block}
t, cpu = time.perf_counter(), time.process_time()
{body}
print(time.perf_counter() - t, time.process_time() - cpu)
"""
BARE = "from chalice import Chalice\nimport boto3\napp = Chalice(app_name='bare')"
APP = "import app"
NO_RICH = "sys.modules['rich'] = None  # as in the Lambda package: not installed"
# app.py defers PynamoDB (and with it botocore) and PyJWT to first use: the first request pays
# for them. Its first step builds the container's stores as here (bootstrap.deps(): every storage
# module, PynamoDB and botocore, no client yet); an institution's token then needs the hashing
# key, whose Secrets Manager client imports boto3. A payment handled by a fresh interpreter loads
# these modules and no others (but the HTTP connection's: idna and the like).
STORAGE = "from chalicelib.bootstrap import deps\ndeps()\nimport boto3\n"
# A holder's first request verifies a mobile JWT: PyJWT, and cryptography parsing the issuer's key.
FIRST_REQUEST = "import app\n" + STORAGE + "import jwt, jwt.algorithms, cryptography.hazmat.backends.openssl"
# A terminal's or a bank's first request verifies no JWT: PyJWT and cryptography stay unloaded.
FIRST_TERMINAL_REQUEST = "import app\n" + STORAGE
# The floor: the bare app plus only the libraries the stack fixes (pydantic with one model built on
# first use, PynamoDB, the structured-log library; a holder's request adds PyJWT and cryptography),
# with the collector off as app.py builds (chalicelib/long_lived.py), and no line of ours. What a
# first request costs above this line is our own code.
LIBRARIES = (
    "import gc\ngc.disable()\n" + BARE + "\nfrom pydantic import BaseModel, ConfigDict\n"
    "class Answer(BaseModel):\n    model_config = ConfigDict(defer_build=True)\n    ok: bool\n"
    "import pynamodb.models, pynamodb.attributes\nfrom pythonjsonlogger.json import JsonFormatter\n"
)
HOLDER_LIBRARIES = LIBRARIES + "import jwt, jwt.algorithms, cryptography.hazmat.backends.openssl\n"
# Lambda's Python runtime provides these (boto3 and its dependencies).
PROVIDED = {"boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six"}
TARGET_RATIO, FIRST_REQUEST_RATIO, TARGET_MB = 1.5, 1.8, 5.0


def timed(body: str, block: str = "") -> tuple[float, float]:
    """Seconds of wall clock and of this interpreter's CPU: on a shared machine the CPU time
    leaves out the time spent waiting for a core, which the wall clock does not."""
    out = subprocess.run(
        [sys.executable, "-c", TIMER.format(block=block, body=body)],
        cwd=common.ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "0"},
    )
    wall, cpu = out.stdout.strip().splitlines()[-1].split()
    return float(wall), float(cpu)


def imports(runs: int) -> None:
    kinds = {
        "bare": (BARE, ""),
        "app": (APP, ""),
        "app, no rich": (APP, NO_RICH),
        "app, no rich, + what the first request imports": (FIRST_REQUEST, NO_RICH),
        "app, no rich, + what a terminal's first request imports (no JWT)": (FIRST_TERMINAL_REQUEST, NO_RICH),
        "floor: the stack's libraries alone, a holder's first request": (HOLDER_LIBRARIES, NO_RICH),
        "floor: the stack's libraries alone, a terminal's first request": (LIBRARIES, NO_RICH),
    }
    for body, block in kinds.values():
        timed(body, block)  # bytecode compiled, files in the page cache
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in kinds}
    for _ in range(runs):
        for name, (body, block) in kinds.items():
            samples[name].append(timed(body, block))
    bare_wall = statistics.median(w for w, _ in samples["bare"])
    bare_cpu = statistics.median(c for _, c in samples["bare"])
    load = os.getloadavg()[0]
    print(f"Median of {runs} fresh interpreters each, interleaved (interpreter start-up excluded), ")
    print(f"load average {load:.1f} at the end:\n")
    print("| import | median ms | ratio to bare Chalice + boto3 | CPU ms | CPU ratio | target |")
    print("|---|---:|---:|---:|---:|---|")
    for name, values in samples.items():
        wall = statistics.median(w for w, _ in values)
        cpu = statistics.median(c for _, c in values)
        ratio = wall / bare_wall
        target = FIRST_REQUEST_RATIO if "first request" in name else TARGET_RATIO
        verdict = "" if name == "bare" else ("met" if ratio <= target else f"missed by {ratio - target:.2f}")
        if name.startswith("floor"):
            verdict = f"leaves {(target - ratio) * bare_wall * 1000:.0f} ms for our code"
        print(
            f"| {name} | {wall * 1000:.0f} | {ratio:.2f} | {cpu * 1000:.0f} | {cpu / bare_cpu:.2f} "
            f"| {'' if name == 'bare' else target} {verdict} |"
        )
    print(
        "\n'app, no rich' is what Lambda runs (the deployment package carries no `rich`, a development "
        "dependency); nothing the app imports reaches for it now, so the two lines differ only by noise. "
        "app.py imports PynamoDB (and so botocore) and PyJWT only on first use: the last two lines add "
        "what a first request imports, the cost a cold container pays on top of the import (the bare app "
        "imports boto3 but makes no client either). The verdict reads the wall clock; on a loaded machine "
        "the CPU ratio is the steadier one. The floor lines import only the libraries the stack fixes, "
        "built like app.py (collector off), and no code of ours: the target minus a floor is what all "
        "of our own modules, routes and models may cost in that request."
    )
    top = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import sys; sys.modules['rich'] = None; import app"],
        cwd=common.ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    heavy: list[tuple[int, str]] = []
    children: list[tuple[int, str]] = []  # -X importtime lists an import's children before it
    for line in top.splitlines():
        if not line.startswith("import time:") or line.count("|") != 2:
            continue
        _, cumulative, raw = line.removeprefix("import time:").split("|")
        depth = (len(raw) - len(raw.lstrip()) - 1) // 2
        if not cumulative.strip().isdigit():
            continue
        if depth == 0:
            if raw.strip() == "app":
                heavy = children
            children = []
        elif depth == 1:
            children.append((int(cumulative), raw.strip()))
    heavy.sort(reverse=True)
    print("\nWhat app.py imports, the largest first (cumulative, one run of `-X importtime`, no rich): ")
    print(", ".join(f"{name} {us / 1000:.0f} ms" for us, name in heavy[:8]))


# The package as Lambda runs it: `python -B -I -S` (no bytecode written, as on Lambda's read-only
# /var/task; no site-packages), the function's directory, the layer's, then the runtime's boto3.
PACKAGE_PATHS = "sys.path[:0] = sys.argv[1:4]  # the function, the layer, the runtime's libraries"


def packaged(function: Path, layer: Path, runs: int) -> None:
    """A holder's first request and the bare app from the unpacked package, with the bytecode the
    package ships and with it removed (what every cold container compiled before it shipped)."""
    import shutil

    from sscard_ops import lambda_package

    with tempfile.TemporaryDirectory(prefix="sscard-unpacked-") as tmp:
        root = Path(tmp)
        runtime = lambda_package.runtime_libraries(root / "runtime")
        trees = {}
        for kind in ("shipped bytecode", "source only"):
            task, opt = root / kind / "task", root / kind / "opt"
            zipfile.ZipFile(function).extractall(task)
            zipfile.ZipFile(layer).extractall(opt)
            if kind == "source only":
                for cache in [*task.rglob("__pycache__"), *opt.rglob("__pycache__")]:
                    shutil.rmtree(cache)
            trees[kind] = (task, opt / "python")
        env = {**os.environ, "AWS_DEFAULT_REGION": "cn-north-1"}
        cases = {
            (kind, what): body
            for kind in trees
            for what, body in (("bare Chalice + boto3", BARE), ("a holder's first request", FIRST_REQUEST))
        }
        samples: dict[tuple[str, str], list[float]] = {case: [] for case in cases}
        for _ in range(runs):
            for (kind, what), body in cases.items():
                task, opt = trees[kind]
                out = subprocess.run(
                    [
                        sys.executable,
                        "-B",
                        "-I",
                        "-S",
                        "-c",
                        TIMER.format(block=PACKAGE_PATHS, body=body),
                        str(task),
                        str(opt),
                        str(runtime),
                    ],
                    cwd=root,
                    capture_output=True,
                    text=True,
                    check=True,
                    env=env,
                )
                samples[(kind, what)].append(float(out.stdout.split()[-2]))
    print(f"\nThe package as Lambda runs it (unpacked, read-only: `python -B -I -S`; median of {runs}, ")
    print(f"load average {os.getloadavg()[0]:.1f}):\n")
    print("| package | bare Chalice + boto3 ms | a holder's first request ms | ratio |")
    print("|---|---:|---:|---:|")
    for kind in trees:
        bare = statistics.median(samples[(kind, "bare Chalice + boto3")])
        first = statistics.median(samples[(kind, "a holder's first request")])
        print(f"| {kind} | {bare * 1000:.0f} | {first * 1000:.0f} | {first / bare:.2f} |")
    print(
        "\nLambda cannot write bytecode next to the package, so a module shipped without it is "
        "compiled by every cold container; `make package` ships checked-hash bytecode for every "
        "module (sscard_ops/lambda_package.py). The runtime's boto3 is timed with its bytecode."
    )


def package(runs: int) -> None:
    with tempfile.TemporaryDirectory(prefix="sscard-package-") as out:
        subprocess.run(
            [str(Path(sys.executable).with_name("chalice")), "package", "--stage", "prod", out],
            cwd=common.ROOT,
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "AWS_DEFAULT_REGION": "cn-north-1"},
        )
        zip_path = Path(out) / "deployment.zip"
        total = zip_path.stat().st_size
        by_top: Counter[str] = Counter()
        with zipfile.ZipFile(zip_path) as z:
            for info in z.infolist():
                top = info.filename.split("/", 1)[0]
                top = top.split("-", 1)[0] if top.endswith((".dist-info", ".libs")) else top
                top = top.split(".", 1)[0] if top.endswith(".so") else top.removesuffix(".py")
                by_top[top] += info.compress_size + 30 + len(info.filename)  # data + local header
        from sscard_ops import lambda_package

        function, layer = lambda_package.split(zip_path, Path(out) / "split")
        built = (function.stat().st_size, layer.stat().st_size)
        packaged(function, layer, runs)
    mb = 1024 * 1024
    provided = sum(n for k, n in by_top.items() if k in PROVIDED)
    crypto = sum(n for k, n in by_top.items() if k in ("cryptography", "cffi", "_cffi_backend", "pycparser"))
    ours = total - provided
    print(f"\n`chalice package --stage prod` deployment.zip: **{total / mb:.1f} MB** zipped.\n")
    print("| part of the zip | MB zipped |")
    print("|---|---:|")
    for name, n in by_top.most_common(10):
        print(f"| {name}{' (Lambda provides)' if name in PROVIDED else ''} | {n / mb:.2f} |")
    verdict = "met" if ours / mb <= TARGET_MB else f"missed by {ours / mb - TARGET_MB:.1f} MB"
    print(
        f"\nWithout what Lambda's runtime provides (boto3, botocore, s3transfer, jmespath, dateutil, "
        f"urllib3): **{ours / mb:.1f} MB** (target {TARGET_MB:.0f} MB: {verdict})."
    )
    rest = ours - crypto
    print(
        f"Without cryptography and cffi too (moved to a Lambda layer, or PyJWT without [crypto] "
        f"if the issuer signs HS256, which it does not): **{rest / mb:.1f} MB**."
    )
    verdict = "met" if built[0] <= lambda_package.BUDGET_BYTES else "NOT met"
    print(
        f"\n`make package` (sscard_ops/lambda_package.py) builds exactly that split from the same zip: "
        f"function.zip **{built[0] / mb:.2f} MB** (target {TARGET_MB:.0f} MB: {verdict}) and the "
        f"cryptography layer {built[1] / mb:.2f} MB. PynamoDB depends on botocore, so pip puts botocore "
        "(and urllib3, jmespath, dateutil) into chalice's zip although Lambda's runtime has them; the "
        "split leaves all of them out, so boto3 and botocore both come from the runtime."
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--no-package", action="store_true")
    args = parser.parse_args()
    imports(args.runs)
    if not args.no_package:
        package(args.runs)


if __name__ == "__main__":
    main()
