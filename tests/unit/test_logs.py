"""The plain-text log (CITYLOOP_LOG_JSON=false) says as much as the JSON one: the fields a call passes in `extra`
follow the message, so "append failed" says why."""

from __future__ import annotations

import logging

import orjson

from hub.infra.db import describe
from hub.infra.logs import JsonFormatter, PlainFormatter


def record(message: str, **extra: object) -> logging.LogRecord:
    entry = logging.makeLogRecord({"name": "hub.store.committer", "levelno": logging.WARNING,
                                   "levelname": "WARNING", "msg": message})
    entry.__dict__.update(extra)
    return entry


def test_the_plain_line_carries_the_extra_fields_as_key_value() -> None:
    line = PlainFormatter().format(record("append failed", error=describe(TimeoutError()), items=3,
                                          database_unavailable=True, tasks=["a", "b"]))
    assert line.endswith('WARNING hub.store.committer: append failed error="TimeoutError: PostgreSQL did not '
                         'answer in time (a statement, a connect or a wait for a pooled connection)" items=3 '
                         'database_unavailable=true tasks=["a","b"]')
    assert PlainFormatter().format(record("plain")).endswith("hub.store.committer: plain")


def test_the_json_line_has_the_same_fields() -> None:
    entry = orjson.loads(JsonFormatter().format(record("append failed", error="OSError: refused", items=3)))
    assert (entry["msg"], entry["error"], entry["items"]) == ("append failed", "OSError: refused", 3)
