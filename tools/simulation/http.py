"""The simulator's HTTP: bounded concurrency, back-off on 429/503 and connection errors."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final

import aiohttp
import orjson

from tools.simulation.report import Summary

log = logging.getLogger(__name__)


# ---- HTTP with bounded concurrency and back-off ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: Any  # parsed JSON, or None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


Body = Callable[[], Any]  # a fresh request body per attempt: a multipart form can be sent only once


class Http:
    """Every request of the run: at most `max_in_flight` on the wire; 503/429 and connection errors pause all
    senders (the hub said it is overloaded) with exponential back-off, then the request is retried — every
    write the simulator makes is idempotent (ticket_no, Idempotency-Key, report_id, device seq, expected_version)."""

    RETRIES: Final = 3

    def __init__(self, session: aiohttp.ClientSession, summary: Summary, max_in_flight: int) -> None:
        self._session = session
        self._summary = summary
        self._slots = asyncio.Semaphore(max_in_flight)
        self._resume_at = 0.0
        self._delay = 0.5

    async def call(self, channel: str, method: str, path: str, *, token: str | None = None, key: str | None = None,
                   json: Any = None, body: Body | None = None, params: dict[str, Any] | None = None,
                   headers: dict[str, str] | None = None, benign: Iterable[int] = ()) -> Answer | None:
        """The final answer, or None when the hub could not be reached (after the retries). Answers in
        `benign` (e.g. 409 for an action) count neither as accepted nor as failed."""
        stats = self._summary.channel(channel)
        stats.sent += 1
        sent_headers = dict(headers or {})
        if token:
            sent_headers["Authorization"] = f"Bearer {token}"
        if key:
            sent_headers["X-API-Key"] = key
        for _attempt in range(self.RETRIES + 1):
            await self._wait_out_backoff()
            try:
                async with self._slots, self._session.request(
                        method, path, json=json, data=body() if body else None, params=params,
                        headers=sent_headers) as resp:
                    status = resp.status
                    retry_after = resp.headers.get("Retry-After")
                    payload = await _read_json(resp)
            except (aiohttp.ClientError, TimeoutError) as exc:
                stats.statuses["error"] += 1
                log.warning("simulator: %s %s failed: %s", method, path, exc or type(exc).__name__)
                self._back_off(None)
                continue
            stats.statuses[str(status)] += 1
            if status in (429, 503):
                self._back_off(retry_after)
                continue
            self._delay = 0.5
            if status >= 500:
                self._summary.unexpected_5xx += 1
                log.error("simulator: %s %s answered %s: %s", method, path, status, payload)
            if 200 <= status < 300:
                stats.accepted += 1
            elif status not in benign:
                stats.failed += 1
            return Answer(status, payload)
        stats.failed += 1
        return None

    def _back_off(self, retry_after: str | None) -> None:
        try:
            delay = min(float(retry_after), 10.0) if retry_after else self._delay
        except ValueError:
            delay = self._delay
        self._delay = min(self._delay * 2, 8.0)
        loop = asyncio.get_running_loop()
        self._resume_at = max(self._resume_at, loop.time() + delay * random.uniform(1.0, 1.3))

    async def _wait_out_backoff(self) -> None:
        loop = asyncio.get_running_loop()
        # A moment in time, not an event: another failure meanwhile may push it further.
        while (wait := self._resume_at - loop.time()) > 0:  # noqa: ASYNC110
            await asyncio.sleep(wait)


async def _read_json(resp: aiohttp.ClientResponse) -> Any:
    raw = await resp.read()
    if "json" not in (resp.content_type or ""):
        return raw.decode("utf-8", "replace") or None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw.decode("utf-8", "replace")


def error_text(answer: Answer | None) -> str:
    if answer is None:
        return "no answer"
    body = answer.body
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return f"{answer.status} {body['error'].get('message')}"
    return f"{answer.status} {str(body)[:200]}"
