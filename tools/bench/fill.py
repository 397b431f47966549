"""A store of a million events, filled fast and realistically for the rebuild and start-up scenarios.

A few hundred sample cases are made the way the hub makes them — realistic tickets (TicketFactory) placed by
the hub's own Locator on the demo boundaries, decided by the domain (`receive`, then `decide` for accept,
resolve, callback), so every event has its real shape and size (~0.5 KB received, ~1.6 KB dispatched with
its SLA schedule). Each sample is then repeated under new case ids and ticket numbers and COPYed straight
into `events` with correct versions, interleaved as a live store is: a case's later events come blocks of
cases after its intake, days later. 15 % of the cases stop at dispatched, 15 % at accepted, 20 % at
resolved, half are closed after the callback (~4.5 events a case). Deadlines in the data are those of the
samples (in the future), so no SLA timer fires when a hub starts on the store. Idempotency keys are
written too; `cases` is left empty: `cityloop projections rebuild` makes it.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import orjson

from connectors.hotline import HotlineTicket
from dispatch.case import Intake, area_codes, fold, receive
from dispatch.commands import Accept, Callback, Command, Resolve
from dispatch.fold import fold_onto
from dispatch.lifecycle import decide
from dispatch.permissions import Actor, Refusal
from dispatch.policy import Policy
from geo.gazetteer import Gazetteer
from hub.data import DEMO_POLICY_FILE
from hub.services.boundaries import Boundaries
from hub.services.locator import Locator
from tools.router import CountyRouter
from tools.simulation.channels import TicketFactory

Append = list[tuple[str, str, str]]  # one append: (type, data JSON, metadata JSON) per event
# How many of a case's appends (intake, accept, resolve, callback) a replica keeps, and how often.
_LENGTHS = (1, 2, 3, 4)
_WEIGHTS = (0.15, 0.15, 0.20, 0.50)
# How many blocks of cases later an append comes after the case's intake (accept at once, resolve two
# blocks later, the callback four): a live store interleaves cases like this.
_LAG = (0, 0, 2, 4)
BLOCK = 1_000  # cases per block; a block is a day of the store's history
_COLUMNS = ["stream_id", "version", "type", "data", "metadata", "occurred_at"]


@dataclass(frozen=True, slots=True)
class SampleCase:
    ticket_no: str
    appends: list[Append]  # intake first; then accept, resolve, callback while the domain allowed them
    # When the sample's report says it was made (`report.reported_at` in its received event, as written there):
    # each copy is dated on its own day instead. Early warning counts reports by this time, so a store whose
    # copies all kept the sample's moment would hold its whole history as reports of the last day.
    reported_at: str | None = None


async def sample_cases(pool: asyncpg.Pool, n: int, seed: int = 7) -> list[SampleCase]:
    """`n` cases decided by the domain on the demo boundaries (the pool's database must have them)."""
    boundaries = Boundaries(pool, 200.0)
    await boundaries.refresh()
    locator = Locator(boundaries, await asyncio.to_thread(Gazetteer.from_data_dir))
    policy = Policy.model_validate_json(DEMO_POLICY_FILE.read_bytes())
    factory = TicketFactory(CountyRouter.nanning(), seed=seed)
    staff = Actor("bench", "admin")
    steps: list[Command] = [Accept(), Resolve(note="已到现场处理完毕，设施已恢复正常，请市民核实。"),
                            Callback(contacted=True, solved=True, satisfaction="satisfied")]
    samples = []
    for _ in range(n):
        ticket = HotlineTicket.model_validate(factory.ticket())
        submission = ticket.submission()
        placed = locator.place(submission.point, submission.address, submission.content)
        now = datetime.now(UTC)
        events = receive(Intake(submission.source, submission.report, placed.wgs84), placed.routing(),
                         now=now, policy=policy)
        case = fold(str(uuid.uuid4()), [(e.type, e.data, i + 1, now) for i, e in enumerate(events)])
        assert case is not None
        meta = {"actor": "hotline:bench", "source": "hotline", "idempotency_key": ticket.idempotency_key(),
                "scope": area_codes(case)}
        appends = [_append(events, meta)]
        for command in steps:
            decision = decide(case, command, staff, now, policy)
            if isinstance(decision, Refusal):
                break
            case = fold_onto(case, decision, now)
            appends.append(_append(decision, {"actor": "admin:bench", "action": command.action,
                                              "scope": area_codes(case)}))
        samples.append(SampleCase(ticket.ticket_no, appends, events[0].data["report"].get("reported_at")))
    return samples


def _append(events: Any, metadata: dict[str, Any]) -> Append:
    meta = orjson.dumps(metadata).decode()
    return [(e.type, orjson.dumps(e.data).decode(), meta) for e in events]


@dataclass(frozen=True, slots=True)
class _Planned:
    case: int
    sample: SampleCase
    appends: int  # how many of the sample's appends this replica keeps


def _plan(samples: list[SampleCase], events: int, seed: int) -> list[_Planned]:
    rng = random.Random(seed)
    planned: list[_Planned] = []
    total = 0
    while total < events:
        sample = samples[len(planned) % len(samples)]
        keep = min(rng.choices(_LENGTHS, _WEIGHTS)[0], len(sample.appends))
        planned.append(_Planned(len(planned), sample, keep))
        total += sum(len(a) for a in sample.appends[:keep])
    return planned


def rows(samples: list[SampleCase], events: int, *, seed: int = 11,
         now: datetime | None = None) -> Iterator[tuple[Any, ...]]:
    """The events, in the order a live store would have them, as COPY rows (about `events` of them)."""
    planned = _plan(samples, events, seed)
    blocks = (len(planned) + BLOCK - 1) // BLOCK
    last = blocks + max(_LAG)
    start = (now or datetime.now(UTC)) - timedelta(days=last)
    ids = [uuid.uuid4() for _ in planned]
    versions = [0] * len(planned)
    for block in range(last + 1):
        day = start + timedelta(days=block)
        for step, lag in enumerate(_LAG):
            first = (block - lag) * BLOCK
            if first < 0 or first >= len(planned):
                continue
            at = day + timedelta(minutes=20 * step)
            for p in planned[first:first + BLOCK]:
                if step >= p.appends:
                    continue
                for kind, data, meta in p.sample.appends[step]:
                    if step == 0:  # the intake: the received event's report and the idempotency key
                        new_no = f"{p.sample.ticket_no}-{p.case}"
                        data = data.replace(f'"{p.sample.ticket_no}"', f'"{new_no}"')
                        meta = meta.replace(p.sample.ticket_no, new_no)
                        if p.sample.reported_at is not None:
                            data = data.replace(f'"reported_at":"{p.sample.reported_at}"',
                                                f'"reported_at":"{at.isoformat()}"')
                    versions[p.case] += 1
                    yield ids[p.case], versions[p.case], kind, data, meta, at


async def fill(url: str, samples: list[SampleCase], events: int, chunk: int = 50_000) -> int:
    """COPY about `events` events into the store at `url` (with their idempotency keys); how many."""
    conn = await asyncpg.connect(url)  # no codecs: jsonb goes in as JSON text
    written = 0
    try:
        batch: list[tuple[Any, ...]] = []
        for row in rows(samples, events):
            batch.append(row)
            if len(batch) >= chunk:
                await conn.copy_records_to_table("events", records=batch, columns=_COLUMNS)
                written += len(batch)
                batch = []
        if batch:
            await conn.copy_records_to_table("events", records=batch, columns=_COLUMNS)
            written += len(batch)
        # The intake append is the case's first two events (received, then dispatched or triaged).
        await conn.execute(
            "INSERT INTO idempotency_keys (key, stream_id, first_position, last_position) "
            "SELECT metadata->>'idempotency_key', stream_id, position, position + 1 FROM events "
            "WHERE version = 1 AND metadata ? 'idempotency_key' ON CONFLICT DO NOTHING")
        await conn.execute("ANALYZE events")
    finally:
        await conn.close()
    return written
