"""`sscard serve` answers at once while it seeds: a 503 problem with Retry-After, then the API."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import requests
from chalice.config import Config

PROJECT = Path(__file__).resolve().parents[1]


def test_an_early_request_gets_503_until_the_stack_is_ready(fake_world):
    import app as app_module
    from sscard_ops.local_http import create_server, mark_ready

    config = Config(
        chalice_stage="local",
        config_from_disk=json.loads((PROJECT / ".chalice" / "config.json").read_text()),
    )
    http = create_server(app_module.app, config, "127.0.0.1", 0, ready=False)
    threading.Thread(target=http.server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{http.server.server_address[1]}/health"
    try:
        early = requests.get(url, timeout=10)
        mark_ready(http)
        ready = requests.get(url, timeout=10)
    finally:
        http.server.shutdown()
        http.server.server_close()

    assert early.status_code == 503
    assert early.headers["Content-Type"].startswith("application/problem+json")
    assert early.headers["Retry-After"]
    assert early.json()["type"].endswith("temporarily-unavailable")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok"}
