"""What a cold Lambda container imports: app.py leaves storage and PyJWT to first use,
and every import left to first use still resolves (a broken one fails here, not on the first
request of a deployed function)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Modules whose imports run inside functions (on first use) rather than at import.
DEFERRING = sorted([*ROOT.glob("chalicelib/api/*.py"), ROOT / "chalicelib/bootstrap.py"])


def _fresh(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True, timeout=120
    )
    return done.stdout.strip().splitlines()[-1]


def _deferred_imports(path: Path) -> set[str]:
    """The modules `path` imports inside its functions."""
    names: set[str] = set()
    for func in ast.walk(ast.parse(path.read_text())):
        if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(func):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                package = "chalicelib.api" if path.parent.name == "api" else "chalicelib"
                names.add(f"{package}.{node.module}" if node.level else node.module)
    return names


def test_importing_the_app_leaves_storage_and_jwt_to_first_use():
    loaded = json.loads(
        _fresh(
            "import json, sys; import app; print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
        )
    )
    assert not {"pynamodb", "botocore", "boto3", "jwt", "cryptography"} & set(loaded)
    assert "chalicelib" in loaded


def test_every_import_left_to_first_use_resolves():
    deferred = set().union(*(_deferred_imports(p) for p in DEFERRING))
    assert {"jwt", "chalicelib.storage.dynamo", "chalicelib.api.openapi"} <= deferred  # the walk finds them
    imported = _fresh(
        "import importlib, app\n"
        f"for name in {sorted(deferred)!r}:\n"
        "    importlib.import_module(name)\n"
        "print('ok')"
    )
    assert imported == "ok"
