"""Synthesize the stack of one Chalice stage into a CDK cloud assembly, offline.

    python infra/synth.py [--stage prod] [--outdir cdk.out]

Needs AWS_DEFAULT_REGION (any region: the template is region-agnostic) and no
credentials. Writes <outdir>/<stage>.template.json and the Lambda code asset; the cdk
CLI deploys that directory (`make deploy`). Not named app.py: Chalice imports the
top-level module `app` and would find this one.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, this file's folder leads sys.path: infra's modules must not shadow others.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "infra"]


def synth(stage: str, outdir: Path) -> Path:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    # jsii's banner about the machine's Node version (20) says nothing about the template.
    os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "18,20")
    if not (os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION")):
        raise SystemExit("Set AWS_DEFAULT_REGION (the template does not depend on it)")

    from infra import stage as stages

    if stage in stages.LOCAL_ONLY_STAGES:
        raise SystemExit(
            f"Stage {stage!r} runs on the local stand-in only; deploy one of {stages.deployable_stages()}"
        )
    stages.apply_stage_environment(stage)  # before app.py and the models load

    import aws_cdk as cdk

    from infra.stack import SscardStack

    outdir = outdir.resolve()
    cwd = Path.cwd()
    # Chalice's construct packages into ./chalice.out; keep that scratch out of the tree.
    with tempfile.TemporaryDirectory(prefix="sscard-chalice-") as scratch:
        os.chdir(scratch)
        try:
            app = cdk.App(outdir=str(outdir))
            SscardStack(app, stage, source_dir=ROOT)
            app.synth()
        finally:
            os.chdir(cwd)
    return outdir / f"{stage}.template.json"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", default="prod")
    parser.add_argument("--outdir", type=Path, default=ROOT / "cdk.out")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    template = synth(args.stage, args.outdir)
    print(f"{template} ({time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    main()
