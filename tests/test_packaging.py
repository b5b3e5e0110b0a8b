"""The Lambda package `make package` builds: under budget, and it runs on the runtime's libraries alone.

Skipped unless dist/lambda/ holds a package: building one runs `chalice package`, which
downloads Lambda's wheels (about two minutes), too slow for every test run. `make package`
builds it; `make test-package` builds it and runs this file.
"""

from __future__ import annotations

import importlib.util
import json
import marshal
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from sscard_ops import lambda_package

ROOT = Path(__file__).resolve().parent.parent
FUNCTION = lambda_package.DEFAULT_OUT / lambda_package.FUNCTION_ZIP
LAYER = lambda_package.DEFAULT_OUT / lambda_package.LAYER_ZIP

pytestmark = pytest.mark.skipif(not FUNCTION.exists(), reason="no package built: run `make package`")

# Run with -I -S: no site-packages, no PYTHONPATH, only the paths given; as Lambda's runtime:
# the function in /var/task, the layer in /opt/python, then the runtime's own boto3.
HEALTH = """
import json, os, sys
task, layer, runtime = sys.argv[1:4]
sys.path[:0] = [task, layer, runtime]
os.environ.update(json.loads(sys.argv[4]))
import builtins
compile_source, compiled = builtins.compile, []
def recording_compile(source, filename, *args, **kwargs):  # the import system's source_to_code
    compiled.append(str(filename))
    return compile_source(source, filename, *args, **kwargs)
builtins.compile = recording_compile
import app
event = {
    "resource": "/health", "path": "/health", "httpMethod": "GET",
    "headers": {"Host": "api"}, "multiValueHeaders": {"Host": ["api"]},
    "queryStringParameters": None, "multiValueQueryStringParameters": None,
    "pathParameters": None, "stageVariables": None, "body": None, "isBase64Encoded": False,
    "requestContext": {"resourcePath": "/health", "httpMethod": "GET", "path": "/v1/health",
                       "stage": "v1", "requestId": "r-1", "identity": {"sourceIp": "127.0.0.1"}},
}
answer = app.app(event, None)
import pynamodb.connection, boto3, jwt.algorithms, botocore
from chalicelib.bootstrap import deps
deps()
print(json.dumps({
    "compiled": [f for f in compiled if f.startswith((task, layer))],
    "status": answer["statusCode"], "body": answer["body"],
    "botocore": botocore.__file__, "boto3": boto3.__file__,
    "pynamodb": pynamodb.__file__, "crypto": jwt.algorithms.has_crypto,
}))
"""


def test_the_function_zip_is_under_budget_and_leaves_out_what_the_runtime_provides():
    assert FUNCTION.stat().st_size <= lambda_package.BUDGET_BYTES
    with zipfile.ZipFile(FUNCTION) as z:
        tops = {lambda_package.distribution_of(n) for n in z.namelist()}
    assert "app" in tops and "chalicelib" in tops and "pynamodb" in tops
    assert not tops & lambda_package.RUNTIME_PROVIDED
    assert not tops & lambda_package.LAYER


def test_the_packaged_app_answers_health_with_only_the_runtime_libraries(tmp_path):
    task, layer = tmp_path / "task", tmp_path / "opt"
    zipfile.ZipFile(FUNCTION).extractall(task)
    zipfile.ZipFile(LAYER).extractall(layer)
    runtime = lambda_package.runtime_libraries(tmp_path / "runtime")
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    env = {
        **config["stages"]["prod"]["environment_variables"],
        "AWS_DEFAULT_REGION": "cn-north-1",
        "AWS_ACCESS_KEY_ID": "none",
        "AWS_SECRET_ACCESS_KEY": "none",
    }

    done = subprocess.run(
        [
            sys.executable,
            "-I",
            "-S",
            "-c",
            HEALTH,
            str(task),
            str(layer / "python"),
            str(runtime),
            json.dumps(env),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["status"] == 200
    assert json.loads(seen["body"]) == {"status": "ok"}
    # boto3 and botocore from one place, the runtime's; PynamoDB from the package; crypto from the layer.
    assert Path(seen["botocore"]).is_relative_to(runtime)
    assert Path(seen["boto3"]).is_relative_to(runtime)
    assert Path(seen["pynamodb"]).is_relative_to(task)
    assert seen["crypto"] is True
    # Lambda's /var/task and /opt are read-only: a module without bytecode in the package would
    # be compiled again by every cold container. None was: the import used the shipped .pyc.
    assert seen["compiled"] == []


def test_every_module_ships_checked_hash_bytecode_naming_its_lambda_path():
    for archive, root in ((FUNCTION, "/var/task"), (LAYER, "/opt")):
        with zipfile.ZipFile(archive) as z:
            names = set(z.namelist())
            sources = [n for n in names if n.endswith(".py")]
            missing = [s for s in sources if lambda_package.bytecode_path(s) not in names]
            assert not missing, f"{archive.name}: no bytecode for {missing[:5]}"
            app_pyc = z.read(lambda_package.bytecode_path(sources[0]))
        assert app_pyc[:4] == importlib.util.MAGIC_NUMBER  # this Python's, the runtime's 3.11
        assert int.from_bytes(app_pyc[4:8], "little") == 0b11  # hash-based, checked against the source
        code = marshal.loads(app_pyc[16:])
        assert code.co_filename == f"{root}/{sources[0]}"  # tracebacks name the file where it runs
