"""HTTP load from Python, for what wrk cannot do: a fixed rate with each ticket's send time kept (for the
ingest → console delay), per-request status, latency and Retry-After under overload, and a fixed number of
tickets. One process, raw aiohttp, bodies built from pre-encoded bytes: as little per-request work as we can."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field

import aiohttp
import numpy as np
import orjson

from tools.bench.stats import Answers
from tools.bench.wrk import BATCH_PATH, SINGLE_PATH, shifted


class TicketStream:
    """Unique tickets from templates (tools.bench.wrk.ticket_templates): ticket number i is
    `<prefix><i>`, so a console can tell which ticket a frame carries from its ticket_no alone."""

    def __init__(self, templates: list[tuple[str, str]], prefix: str | None = None) -> None:
        self.prefix = prefix or f"P{secrets.token_hex(4)}-"
        self._parts = [(b.encode() + self.prefix.encode(), a.encode()) for b, a in templates]

    def ticket(self, i: int) -> bytes:
        before, after = self._parts[i % len(self._parts)]
        return before + str(i).encode() + shifted(after, i, len(self._parts))

    def batch(self, start: int, n: int) -> bytes:
        return b'{"tickets":[' + b",".join(self.ticket(i) for i in range(start, start + n)) + b"]}"


def _session(base: str, key: str, clients: int, timeout_s: float) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        base, connector=aiohttp.TCPConnector(limit=clients, force_close=False),
        headers={"X-API-Key": key, "Content-Type": "application/json"},
        timeout=aiohttp.ClientTimeout(total=timeout_s), skip_auto_headers=("User-Agent",))


@dataclass(slots=True)
class Paced:
    answers: Answers
    sent_at: np.ndarray  # time.monotonic() each ticket was sent, by ticket number (NaN: not sent)
    elapsed_s: float


async def paced(base: str, key: str, stream: TicketStream, *, rate: float, seconds: float, first: int = 0,
                max_in_flight: int = 2_000) -> Paced:
    """Open-loop load: ticket i is sent at start + i/rate whether or not earlier ones were answered (as
    callers phone in), each on the single-ticket endpoint. Ticket numbers first … first + rate·seconds."""
    n = int(rate * seconds)
    sent_at = np.full(first + n, np.nan)
    answers = Answers()
    room = asyncio.Semaphore(max_in_flight)
    async with _session(base, key, 256, 30.0) as http:

        async def one(i: int) -> None:
            body = stream.ticket(i)
            started = sent_at[i] = time.monotonic()
            try:
                async with http.post(SINGLE_PATH, data=body) as resp:
                    await resp.read()
                    status = resp.status
            except (aiohttp.ClientError, TimeoutError):
                status = 0
            answers.add(time.monotonic() - started, status)
            room.release()

        tasks: set[asyncio.Task[None]] = set()
        begin = time.monotonic()
        for k in range(n):
            delay = begin + k / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await room.acquire()
            task = asyncio.create_task(one(first + k))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)
        elapsed = time.monotonic() - begin
    return Paced(answers, sent_at, elapsed)


@dataclass(slots=True)
class Closed:
    answers: Answers
    elapsed_s: float
    item_statuses: Counter[int] = field(default_factory=Counter)  # batch answers: per-ticket statuses
    item_codes: Counter[str] = field(default_factory=Counter)  # … and the error codes of those not stored


# With `until_accepted`: how many times the target a run may send before it gives up (under admission by expected
# wait, 8 concurrent batches of 100 had 42 % of their tickets accepted on a loaded box).
UNTIL_ACCEPTED_TRIES = 5


async def closed_loop(base: str, key: str, stream: TicketStream, *, clients: int, seconds: float | None = None,
                      total_tickets: int | None = None, per_request: int = 1, honour_retry_after: bool = True,
                      timeout_s: float = 10.0, until_accepted: bool = False) -> Closed:
    """`clients` callers, each sending its next request as soon as the last was answered (after the
    Retry-After of a 503, when `honour_retry_after`), until `seconds` pass or `total_tickets` were sent — or,
    with `until_accepted`, were accepted (tickets refused 503 are made up by new ones, as a client resending
    after Retry-After would; at most UNTIL_ACCEPTED_TRIES times as many are sent, so a hub that refuses
    everything ends the run). A request not answered within `timeout_s` counts as status 0."""
    answers = Answers()
    result = Closed(answers, 0.0)
    path = SINGLE_PATH if per_request == 1 else BATCH_PATH
    counter = iter(range(0, 1 << 62, per_request))
    begin = time.monotonic()
    deadline = begin + seconds if seconds is not None else float("inf")
    async with _session(base, key, clients, timeout_s) as http:

        async def caller() -> None:
            while time.monotonic() < deadline:
                start = next(counter)
                done = result.answers.tickets_accepted if until_accepted else start
                if total_tickets is not None and (done >= total_tickets
                                                  or start >= UNTIL_ACCEPTED_TRIES * total_tickets):
                    return
                body = stream.ticket(start) if per_request == 1 else stream.batch(start, per_request)
                started = time.monotonic()
                retry_after = 0.0
                try:
                    async with http.post(path, data=body) as resp:
                        payload = await resp.read()
                        status = resp.status
                        if status == 503:
                            header = resp.headers.get("Retry-After")
                            if header is None:
                                answers.no_retry_after += 1
                            else:
                                retry_after = _seconds(header)
                except (aiohttp.ClientError, TimeoutError):
                    status = 0
                answers.add(time.monotonic() - started, status)
                if 200 <= status < 300:
                    _count_tickets(result, payload, per_request)
                if honour_retry_after and retry_after > 0:
                    await asyncio.sleep(min(retry_after, 5.0))

        await asyncio.gather(*(caller() for _ in range(clients)))
    result.elapsed_s = time.monotonic() - begin
    return result


def _seconds(header: str) -> float:
    try:
        return max(0.0, float(header))
    except ValueError:  # an HTTP date: not what the hub sends, but a valid Retry-After
        return 1.0


def _count_tickets(result: Closed, payload: bytes, per_request: int) -> None:
    if per_request == 1:
        result.answers.tickets_accepted += 1
        return
    try:
        items = orjson.loads(payload)["results"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return
    for item in items:
        status = int(item.get("status", 0))
        result.item_statuses[status] += 1
        if 200 <= status < 300:
            result.answers.tickets_accepted += 1
        elif isinstance(item.get("error"), dict):
            result.item_codes[str(item["error"].get("code"))] += 1
