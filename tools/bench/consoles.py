"""A fleet of console websockets in a process of its own: `python -m tools.bench.consoles`, driven by
`cityloop bench` (tools/bench/scenarios.py).

It reads one JSON line on stdin — {"base", "prefix", "first", "max_tickets", "out", "consoles": [{"token",
"areas", "kind"}]} — connects every console to /ws/console, subscribes (`since` null, so each gets its snapshot),
prints `READY {…}` when all have it, and from then on notes when each console first receives a frame that
carries each bench ticket (a ticket is recognised by its ticket_no, `<prefix><number>`: in the whole case of
its first event, or in the `case.received` event's report — patches of later events need not carry it).
On the line `stop` it closes the consoles, writes the receipts (ticket number, time.monotonic()) to `out`
(.npz) and prints `DONE {…}`: how many consoles connected, were dropped (closed by the hub), and frames.

Frames are not decoded as JSON, only searched for ticket numbers: a thousand consoles in Python would
otherwise spend the CPU the hub needs.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import random
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import orjson


@dataclass(slots=True)
class Fleet:
    base: str
    prefix: str
    max_tickets: int
    first: int  # tickets numbered below are from before the consoles came (in snapshots): ignored
    ticket_re: re.Pattern[str] = field(init=False)
    tickets: array.array[int] = field(default_factory=lambda: array.array("q"))
    times: array.array[float] = field(default_factory=lambda: array.array("d"))
    ready: int = 0
    failed: int = 0  # could not connect or subscribe
    connected: int = 0
    dropped: int = 0
    close_codes: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)  # why consoles could not connect (and gave up)
    retries: Counter[str] = field(default_factory=Counter)  # why consoles reconnected before their snapshot
    # Where each console is until it has its snapshot (for READY: which stage the missing ones are stuck at).
    stages: Counter[str] = field(default_factory=Counter)
    frames: int = 0
    received_bytes: int = 0
    stopping: bool = False
    all_ready: asyncio.Event = field(default_factory=asyncio.Event)
    seen_by_kind: dict[str, list[int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.ticket_re = ticket_pattern(self.prefix)

    def check_ready(self, total: int) -> None:
        if self.ready + self.failed >= total:
            self.all_ready.set()

    def move(self, console: _Console, after: str | None) -> None:
        """A console goes on to stage `after` (None: it has its snapshot, or has given up)."""
        before, console.stage = console.stage, after
        if before is not None:
            self.stages[before] -= 1
            if not self.stages[before]:
                del self.stages[before]
        if after is not None:
            self.stages[after] += 1


def ticket_pattern(prefix: str) -> re.Pattern[str]:
    """A bench ticket's number in a frame: its ticket_no is `<prefix><number>`."""
    return re.compile(r'"ticket_no"\s*:\s*"' + re.escape(prefix) + r'(\d+)"')


def frame_type(frame: str) -> str | None:
    """"snapshot", "event" or "batch" for the feed's frames (told from the frame's head, without decoding
    it), None for the others (subscribed, ping, error)."""
    head = frame[:64]
    for kind in ("snapshot", "batch", "event"):
        if f'"type":"{kind}"' in head.replace(" ", ""):
            return kind
    return None


def new_tickets(frame: str, pattern: re.Pattern[str], first: int, seen: bytearray) -> list[int]:
    """The bench tickets this frame carries that this console had not received yet, marked as received now.
    A ticket shows in the whole case of its first event (`report.ticket_no`) and in its `case.received`
    data; later events' patches need not carry it. Numbers below `first` or beyond `seen` are ignored."""
    found = []
    for match in pattern.finditer(frame):
        index = int(match.group(1))
        if first <= index < len(seen) and not seen[index]:
            seen[index] = 1
            found.append(index)
    return found


@dataclass(slots=True)
class _Console:
    """One console across its connections: the tickets it has seen, and where it is until its snapshot."""

    spec: dict[str, Any]
    seen: bytearray
    distinct: int = 0
    stage: str | None = None  # None once it has had its snapshot
    connected: bool = False


async def _console(fleet: Fleet, http: aiohttp.ClientSession, spec: dict[str, Any], total: int,
                   gate: asyncio.Semaphore) -> None:
    console = _Console(spec, bytearray(fleet.max_tickets))
    fleet.move(console, "waiting to connect")
    retry_s = 0.5
    while not fleet.stopping:
        why = await _connection(fleet, http, console, total, gate)
        if why is None or console.stage is None:
            break
        # Like the consoles' own feed (frontend/shared/feed.js): a connection lost before the snapshot (a 503 at
        # the handshake, a 1013 from a busy hub) is tried again after a jittered, doubling delay. Counted, by why.
        fleet.retries[why] += 1
        fleet.move(console, f"retrying after {why}")
        await asyncio.sleep(retry_s * (0.5 + random.random()))
        retry_s = min(retry_s * 2, 15.0)
    fleet.seen_by_kind.setdefault(spec.get("kind", "console"), []).append(console.distinct)


async def _connection(fleet: Fleet, http: aiohttp.ClientSession, console: _Console, total: int,
                      gate: asyncio.Semaphore) -> str | None:
    """One connection of a console; why it ended before the snapshot (to try again), else None."""
    spec = console.spec
    async with gate:  # connect a few at a time, as consoles coming on shift would
        fleet.move(console, "connecting")
        try:
            ws = await http.ws_connect(f"{fleet.base}/ws/console?token={spec['token']}", max_msg_size=0,
                                       autoping=True)
            await ws.send_str(orjson.dumps({"type": "subscribe", "areas": spec["areas"], "since": None}).decode())
        except Exception as exc:  # noqa: BLE001 — refused, timed out or broken: counted by its kind
            # Not str(exc): a handshake error's text carries the URL, and the URL the console's token.
            why = f"{type(exc).__name__} {getattr(exc, 'status', '')}".strip()
            if getattr(exc, "status", None) in (401, 403):  # no retry helps: counted as failed
                fleet.move(console, None)
                fleet.failed += 1
                fleet.errors[why] += 1
                fleet.check_ready(total)
                return None
            return why
    fleet.move(console, "subscribe sent")
    if not console.connected:
        console.connected = True
        fleet.connected += 1
    error: object = None  # what aiohttp reported when it saw a broken frame (a WSMsgType.ERROR message)
    try:
        async for msg in ws:
            now = time.monotonic()
            if msg.type == aiohttp.WSMsgType.TEXT:
                data: str = msg.data
            elif msg.type == aiohttp.WSMsgType.BINARY:  # JSON sent as bytes would do as well
                data = msg.data.decode("utf-8", errors="replace")
            else:
                if msg.type == aiohttp.WSMsgType.ERROR:
                    error = msg.data
                continue
            fleet.frames += 1
            fleet.received_bytes += len(data)
            kind = frame_type(data)
            if console.stage is not None:
                if kind is not None:
                    fleet.move(console, None)
                    fleet.ready += 1
                    fleet.check_ready(total)
                elif console.stage == "subscribe sent" and '"subscribed"' in data[:40]:
                    fleet.move(console, "subscribed, no snapshot yet")
            if kind == "snapshot":
                continue  # cases from before the measured tickets
            for index in new_tickets(data, fleet.ticket_re, fleet.first, console.seen):
                console.distinct += 1
                fleet.tickets.append(index)
                fleet.times.append(now)
    except Exception as exc:  # noqa: BLE001 — a console that fails is counted, not lost in a task nobody awaits
        fleet.errors[f"{type(exc).__name__} while reading"] += 1
        raise
    finally:
        await ws.close()
    if fleet.stopping:
        return None
    if console.stage is not None:  # closed before its snapshot: by the hub, or a broken stream the client saw
        error = error or ws.exception()
        return f"closed {ws.close_code or 0} before the snapshot" + (f" ({error!s:.80})" if error else "")
    fleet.dropped += 1  # closed by the hub after its snapshot (e.g. 4008): a console missing from the measure
    fleet.close_codes[ws.close_code or 0] += 1
    return None


async def main() -> None:
    spec = orjson.loads(await asyncio.to_thread(sys.stdin.readline))
    consoles: list[dict[str, Any]] = spec["consoles"]
    fleet = Fleet(spec["base"], spec["prefix"], int(spec["max_tickets"]), int(spec.get("first", 0)))
    started = time.monotonic()
    gate = asyncio.Semaphore(20)
    # No connection limit: aiohttp's default of 100 would hold the other consoles back.
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0),
                                     timeout=aiohttp.ClientTimeout(total=None, sock_connect=30)) as http:
        tasks = [asyncio.create_task(_console(fleet, http, c, len(consoles), gate)) for c in consoles]
        with contextlib.suppress(TimeoutError):  # READY says how many are; the bench judges
            await asyncio.wait_for(fleet.all_ready.wait(), timeout=float(spec.get("ready_timeout_s", 300)))
        _say("READY", {"ready": fleet.ready, "connected": fleet.connected, "dropped": fleet.dropped,
                       "failed": fleet.failed, "errors": dict(fleet.errors),
                       "retries": dict(fleet.retries), "stuck": dict(fleet.stages),
                       "seconds": round(time.monotonic() - started, 2)})
        while (await asyncio.to_thread(sys.stdin.readline)).strip() not in ("stop", ""):
            pass
        fleet.stopping = True
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    np.savez(Path(spec["out"]), tickets=np.frombuffer(fleet.tickets, dtype=np.int64),
             times=np.frombuffer(fleet.times, dtype=np.float64))
    _say("DONE", {"consoles": len(consoles), "connected": fleet.connected, "ready": fleet.ready,
                  "failed": fleet.failed, "errors": dict(fleet.errors), "retries": dict(fleet.retries),
                  "dropped": fleet.dropped, "close_codes": {str(k): v for k, v in fleet.close_codes.items()},
                  "frames": fleet.frames, "bytes": fleet.received_bytes, "receipts": len(fleet.tickets),
                  "min_seen": {k: min(v) for k, v in fleet.seen_by_kind.items() if v},
                  "cpu_s": round(time.process_time(), 2)})


def _say(word: str, data: dict[str, Any]) -> None:
    sys.stdout.write(f"{word} {orjson.dumps(data).decode()}\n")
    sys.stdout.flush()


if __name__ == "__main__":
    asyncio.run(main())
