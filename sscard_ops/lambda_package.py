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

The function zip must stay under BUDGET_BYTES (tests/test_packaging.py checks it).
"""

from __future__ import annotations

import argparse
import os
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
# No Lambda needs these: pip's and the interpreter's caches.
DROPPED_SUFFIXES = (".pyc",)


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


def split(deployment: Path, out: Path) -> tuple[Path, Path]:
    """deployment.zip into function.zip (without the runtime's and the layer's) and the layer."""
    out.mkdir(parents=True, exist_ok=True)
    function_path, layer_path = out / FUNCTION_ZIP, out / LAYER_ZIP
    with (
        zipfile.ZipFile(deployment) as source,
        zipfile.ZipFile(function_path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as function,
        zipfile.ZipFile(layer_path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as layer,
    ):
        for info, name in _entries(source):
            if name in RUNTIME_PROVIDED:
                continue
            data = source.read(info)
            if name in LAYER:
                moved = zipfile.ZipInfo(f"python/{info.filename}", info.date_time)
                moved.external_attr = info.external_attr
                layer.writestr(moved, data, zipfile.ZIP_DEFLATED, 9)
            else:
                function.writestr(info, data, zipfile.ZIP_DEFLATED, 9)
    return function_path, layer_path


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
