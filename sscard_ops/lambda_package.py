"""`make package`: the Lambda function zip without what the runtime provides, and a layer.

    python -m sscard_ops.lambda_package [--out dist/lambda] [--from deployment.zip]

Runs `chalice package --stage prod` (which pip-installs requirements.txt for Lambda's
platform), then splits its deployment.zip:

- function.zip: the app, its own dependencies, Chalice's runtime. Without boto3 and
  botocore (PynamoDB depends on botocore, so pip installs it), s3transfer, jmespath,
  python-dateutil, urllib3 and six: Lambda's Python 3.11 runtime provides them, and
  leaving all of them out means boto3 and botocore come from one place, the runtime's,
  and so are versions AWS tested together.
- crypto-layer.zip: cryptography and cffi (PyJWT's [crypto] backend for the mobile
  issuer's ES256/RS256 keys) under python/, as a Lambda layer: the largest dependency
  after botocore, loaded only when a mobile JWT is verified, and upgraded seldom.

Both carry bytecode for every module, compiled here by the same Python 3.11 Chalice packages
for, as checked-hash .pyc files (PEP 552): Lambda's /var/task and /opt are read-only, so without
them every cold container compiles each module it imports again (a holder's first request:
491 ms from source against 254 ms from bytecode, bench_cold_start.py, 2026-12-02). Checked, not
unchecked: an edited source is compiled afresh, never shadowed by stale bytecode; the hash
costs ~1 %. pip's own .pyc are dropped: timestamp-checked, and a zip keeps mtimes only to 2 s.

The function zip must stay under BUDGET_BYTES (tests/test_packaging.py checks it).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import py_compile
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "dist" / "lambda"
FUNCTION_ZIP = "function.zip"
LAYER_ZIP = "crypto-layer.zip"
BUDGET_BYTES = 5 * 1024 * 1024
# Top-level names (packages, modules, their .dist-info and .libs) of what Lambda's Python
# runtime already has: boto3 and everything it depends on.
RUNTIME_PROVIDED = frozenset(
    {"boto3", "botocore", "s3transfer", "jmespath", "dateutil", "python_dateutil", "urllib3", "six"}
)
# Moved to the layer: cryptography and what it loads.
LAYER = frozenset({"cryptography", "cffi", "_cffi_backend", "pycparser"})
# pip's bytecode (timestamp-checked, so not valid after the zip): replaced by our own below.
DROPPED_SUFFIXES = (".pyc",)
# Where Lambda puts the function's and the layer's files: the paths tracebacks show.
TASK_ROOT, LAYER_ROOT = "/var/task", "/opt"


def distribution_of(path: str) -> str:
    """The top-level name a zip entry belongs to: 'botocore/x.py' and 'botocore-1.2.dist-info/..'
    both give 'botocore'; 'six.py' gives 'six'; '_cffi_backend.cpython-311-x86_64-linux-gnu.so'
    gives '_cffi_backend'."""
    top = path.split("/", 1)[0]
    if top.endswith((".dist-info", ".libs", ".data")):
        return top.split("-", 1)[0].lower()
    if top.endswith((".so", ".py")):
        return top.split(".", 1)[0]
    return top


def chalice_package(into: Path) -> Path:
    """`chalice package --stage prod` into `into`; its deployment.zip."""
    chalice = Path(sys.executable).with_name("chalice")
    env = {**os.environ, "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "cn-north-1")}
    subprocess.run(  # noqa: S603  (a fixed command line)
        [str(chalice), "package", "--stage", "prod", str(into)],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return into / "deployment.zip"


def _entries(source: zipfile.ZipFile) -> Iterator[tuple[zipfile.ZipInfo, str]]:
    for info in source.infolist():
        if info.filename.endswith(DROPPED_SUFFIXES) or "/__pycache__/" in info.filename:
            continue
        yield info, distribution_of(info.filename)


def bytecode_path(source: str) -> str:
    """Where the import system looks for a module's bytecode ('a/b.py': 'a/__pycache__/b.cpython-311.pyc')."""
    return importlib.util.cache_from_source(source)


def _compiled(data: bytes, shown_as: str, scratch: Path) -> bytes | None:
    """`data`'s checked-hash bytecode, its tracebacks naming `shown_as`; None if it does not
    compile on this Python (a file for another version): it is then imported from source."""
    source, target = scratch / "module.py", scratch / "module.pyc"
    source.write_bytes(data)
    try:
        py_compile.compile(
            str(source),
            cfile=str(target),
            dfile=shown_as,
            doraise=True,
            invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH,
        )
    except (py_compile.PyCompileError, ValueError):
        return None
    return target.read_bytes()


def _add(
    into: zipfile.ZipFile, name: str, like: zipfile.ZipInfo, data: bytes, root: str, scratch: Path
) -> None:
    entry = zipfile.ZipInfo(name, like.date_time)
    entry.external_attr = like.external_attr
    into.writestr(entry, data, zipfile.ZIP_DEFLATED, 9)
    if name.endswith(".py"):
        code = _compiled(data, f"{root}/{name}", scratch)
        if code is not None:
            into.writestr(zipfile.ZipInfo(bytecode_path(name), like.date_time), code, zipfile.ZIP_DEFLATED, 9)


def split(deployment: Path, out: Path) -> tuple[Path, Path]:
    """deployment.zip into function.zip (without the runtime's and the layer's) and the layer,
    each module with its bytecode."""
    out.mkdir(parents=True, exist_ok=True)
    function_path, layer_path = out / FUNCTION_ZIP, out / LAYER_ZIP
    with (
        tempfile.TemporaryDirectory(prefix="sscard-bytecode-") as scratch,
        zipfile.ZipFile(deployment) as source,
        zipfile.ZipFile(function_path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as function,
        zipfile.ZipFile(layer_path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as layer,
    ):
        for info, name in _entries(source):
            if name in RUNTIME_PROVIDED:
                continue
            data = source.read(info)
            if name in LAYER:
                _add(layer, f"python/{info.filename}", info, data, LAYER_ROOT, Path(scratch))
            else:
                _add(function, info.filename, info, data, TASK_ROOT, Path(scratch))
    return function_path, layer_path


def runtime_libraries(into: Path) -> Path:
    """A copy of what Lambda's Python runtime has besides the standard library (boto3 and its
    dependencies), from this environment: to run the package as Lambda does."""
    import shutil

    import boto3

    site = Path(boto3.__file__).parent.parent
    for entry in site.iterdir():
        if distribution_of(entry.name) in RUNTIME_PROVIDED:
            target = into / entry.name
            if entry.is_dir():
                shutil.copytree(entry, target)
            else:
                shutil.copy2(entry, target)
    return into


def build(out: Path = DEFAULT_OUT, deployment: Path | None = None) -> tuple[Path, Path]:
    if deployment is not None:
        return split(deployment, out)
    with tempfile.TemporaryDirectory(prefix="sscard-chalice-") as tmp:
        return split(chalice_package(Path(tmp)), out)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--from", dest="deployment", type=Path, help="split this deployment.zip instead")
    args = parser.parse_args()
    function, layer = build(args.out, args.deployment)
    mb = 1024 * 1024
    size = function.stat().st_size
    print(f"{function}: {size / mb:.2f} MB zipped (budget {BUDGET_BYTES / mb:.0f} MB)")
    print(f"{layer}: {layer.stat().st_size / mb:.2f} MB zipped (Lambda layer: cryptography, cffi)")
    if size > BUDGET_BYTES:
        raise SystemExit(f"{function} is over the {BUDGET_BYTES / mb:.0f} MB budget")


if __name__ == "__main__":
    main()
