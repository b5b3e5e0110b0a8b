"""The tables' connections share their thread's botocore session (storage/models.py): DynamoDB's
service model is loaded once per thread, not once per table, and no two threads share one
(botocore's client creation is not thread-safe)."""

from __future__ import annotations

import threading

from moto import mock_aws

from chalicelib.storage.models import ALL_MODELS, create_tables, use_endpoint


def _sessions_of_every_table() -> set[int]:
    return {id(model._get_connection().connection.session) for model in ALL_MODELS}


def test_every_table_in_one_thread_uses_one_session_and_another_thread_its_own():
    with mock_aws():
        use_endpoint(None)
        create_tables()
        here = _sessions_of_every_table()
        there: set[int] = set()
        thread = threading.Thread(target=lambda: there.update(_sessions_of_every_table()))
        thread.start()
        thread.join()
        use_endpoint(None)
    assert len(ALL_MODELS) > 10
    assert len(here) == 1
    assert len(there) == 1
    assert here != there
