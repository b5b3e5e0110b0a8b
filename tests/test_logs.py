"""chalicelib.logs: one redacted JSON object a line on the stdout of the moment, never through
the root logger, and every call site's extra fields loggable."""

from __future__ import annotations

import ast
import io
import json
import logging
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from chalicelib.logs import KEYS, get_logger
from chalicelib.services.contributions import Outcome

ROOT = Path(__file__).resolve().parent.parent
SSN, CARD = "11010519491231002X", "6217001234567890123"
LEVELS = {"debug", "info", "warning", "error", "exception", "critical"}


def _lines(out: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.splitlines()]


def test_a_line_is_one_json_object_with_the_keys_operators_query(capsys):
    get_logger("sscard.api").warning("jwt_rejected", extra={"error_type": "DecodeError", "status": 401})
    out = capsys.readouterr().out
    [line] = _lines(out)
    assert line["event"] == "jwt_rejected" and line["level"] == "warning"
    assert line["logger"] == "sscard.api"
    assert line["error_type"] == "DecodeError" and line["status"] == 401
    stamp = datetime.fromisoformat(str(line["timestamp"]))
    assert stamp.utcoffset() == UTC.utcoffset(None)
    assert abs((datetime.now(UTC) - stamp).total_seconds()) < 60
    assert '"event": "jwt_rejected", "level": "warning"' in out  # json's default separators


def test_an_exceptions_traceback_is_logged_redacted(capsys):
    try:
        raise ValueError(f"no card {CARD} for {SSN}")
    except ValueError:
        get_logger("test").exception("unhandled_error", extra={"error_type": "ValueError"})
    out = capsys.readouterr().out
    [line] = _lines(out)
    assert line["level"] == "error"
    trace = str(line["exception"])
    assert trace.startswith("Traceback") and "ValueError: no card 621700******0123 for 1101" in trace
    assert CARD not in out and SSN not in out


def test_lines_follow_sys_stdout_when_it_is_replaced(capsys, monkeypatch):
    log = get_logger("test")
    log.info("first")
    assert _lines(capsys.readouterr().out)[-1]["event"] == "first"
    swapped = io.StringIO()
    monkeypatch.setattr(sys, "stdout", swapped)
    log.info("second")
    assert _lines(swapped.getvalue())[-1]["event"] == "second"


@pytest.mark.parametrize("name", ["test", "sscard.api"])
def test_lines_reach_neither_the_root_logger_nor_chalices_app_logger(name, capsys):
    seen: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    collect = Collect(logging.DEBUG)
    # The Lambda runtime's handler sits on the root; Chalice's app logger is named "sscard".
    watched = [logging.getLogger(), logging.getLogger("sscard")]
    for logger in watched:
        logger.addHandler(collect)
    try:
        get_logger(name).error("contribution_batch_failed")
    finally:
        for logger in watched:
            logger.removeHandler(collect)
    assert [line["event"] for line in _lines(capsys.readouterr().out)] == ["contribution_batch_failed"]
    assert seen == []


def _written(code: str) -> list[str]:
    """The events a fresh interpreter writes running `code` (configure() takes its first call only)."""
    done = subprocess.run(
        [sys.executable, "-c", "from chalicelib.logs import configure, get_logger\n" + code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert done.stderr == ""
    return [str(line["event"]) for line in _lines(done.stdout)]


def test_configure_sets_the_least_level_written_once():
    each = (
        "log = get_logger('x')\n"
        "for level in ('debug', 'info', 'warning', 'error'):\n"
        "    getattr(log, level)(level)\n"
    )
    assert _written(each) == ["info", "warning", "error"]  # INFO before any configure()
    assert _written("configure('warning')\n" + each) == ["warning", "error"]
    assert _written("configure('DEBUG')\n" + each) == ["debug", "info", "warning", "error"]
    assert _written("configure('loud')\n" + each) == ["info", "warning", "error"]
    # A second call changes nothing, and adds no second handler (a line written twice).
    assert _written("configure('error')\nconfigure('debug')\n" + each) == ["error"]


def _call_sites() -> list[tuple[str, int, ast.Dict]]:
    """Every log call with extra fields in the runtime and ops code: file, line, the dict."""
    found = []
    for path in sorted([ROOT / "app.py", *ROOT.glob("chalicelib/**/*.py"), *ROOT.glob("sscard_ops/**/*.py")]):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            if node.func.attr not in LEVELS:
                continue
            for keyword in node.keywords:
                if keyword.arg == "extra":
                    where = f"{path.relative_to(ROOT)}:{node.lineno}"
                    assert isinstance(keyword.value, ast.Dict), f"{where}: extra is not a dict literal"
                    found.append((str(path.relative_to(ROOT)), node.lineno, keyword.value))
    return found


def _keys(path: str, lineno: int, extra: ast.Dict) -> set[str]:
    keys = set()
    for key, value in zip(extra.keys, extra.values, strict=True):
        if key is None:  # **splat: only the batch's outcome counts, whose keys are Outcome's values
            assert (path, ast.unparse(value)) == ("chalicelib/services/contributions.py", "counts"), (
                f"{path}:{lineno}: check the keys of **{ast.unparse(value)} here"
            )
            keys |= {o.value for o in Outcome}
        else:
            assert isinstance(key, ast.Constant) and isinstance(key.value, str), f"{path}:{lineno}"
            keys.add(key.value)
    return keys


def test_every_call_sites_extra_fields_can_be_logged(capsys):
    sites = _call_sites()
    assert len(sites) >= 13, "the walk finds the call sites"
    log = get_logger("test")
    for path, lineno, extra in sites:
        keys = _keys(path, lineno, extra)
        assert not keys & set(KEYS), f"{path}:{lineno} overwrites a key every line has"
        # A LogRecord attribute's name (name, message, args, module...) raises KeyError here.
        log.info("call_site", extra=dict.fromkeys(keys, 7))
        [line] = _lines(capsys.readouterr().out)
        assert line["event"] == "call_site" and all(line[k] == 7 for k in keys), f"{path}:{lineno}"
