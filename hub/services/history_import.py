"""History import (数据平滑迁移): tickets of an earlier 12345 system, recorded with their original times.

Each line of the file is a ticket in the push API's schema with, optionally, what became of it
(connectors.history). A ticket goes through the live intake's understanding, routing and decision, at its own
`reported_at`, so that its area and category are what a live ticket would get; then its outcome is replayed
through the domain's own decisions (`dispatch.lifecycle.decide`: 改派 to the unit named, 签收, 办结, 回访), each at
the time the old system recorded. Every event's `occurred_at` is that time and its metadata says `imported`.

What imported history does and does not do:
- the case document says `imported` (the `case.received` event carries it), so the domain never runs its SLA
  clocks (`dispatch.sla.next_due_at` is None), the outbox never calls the hotline back, live tickets never merge
  into it, and the consoles' live feed skips its events (hub.live.frames);
- the KPI projection counts it at its historical times, and the cases table keeps its `reported_at` for early
  warning and analysis.

Idempotent by `ticket_no` (the hotline endpoint's idempotency key): a ticket already in the store, imported or
pushed live, is counted "already there" and left alone. The appends go straight to the store in batches of a
few hundred tickets, one transaction each, with the same projectors the hub's committer runs (cases, KPIs).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import asyncpg
import orjson
from pydantic import ValidationError

from connectors.history import HistoricalTicket, Outcome, order_problem
from connectors.submission import Submission
from dispatch import commands as c
from dispatch.case import Intake, area_codes, new_case, receive
from dispatch.events import Case, DomainEvent
from dispatch.fold import fold_onto
from dispatch.lifecycle import decide
from dispatch.permissions import Actor, Refusal
from dispatch.policy import Policy
from dispatch.sla import next_due_at
from dispatch.understanding import Learned, Understander, Understanding
from geo.gazetteer import Gazetteer
from hub.infra.db import Connection
from hub.services.boundaries import Boundaries
from hub.services.intake import place_all, understand_all
from hub.services.learned import LearnedCategories
from hub.services.locator import Locator, Placed
from hub.services.understanding import build_understander
from hub.store.events import Accepted, AppendRequest, AppendResult, append_batch
from hub.store.kpi_projection import KpiProjection
from hub.store.projection import CaseProjection

# Who did what the old system recorded: an admin may take every step of the loop (the domain's role rules),
# and the metadata's `actor` says it was the import.
IMPORTER: Final = Actor("import", "admin")
RESOLVED_NOTE: Final = "历史工单（导入）：原系统已办结"
RETURN_NOTE: Final = "历史工单（导入）：原系统退回"


@dataclass(frozen=True, slots=True)
class Rejected:
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.message}"


@dataclass(slots=True)
class ImportSummary:
    imported: int = 0
    already_there: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def lines(self) -> int:
        return self.imported + self.already_there + len(self.rejected)


@dataclass(frozen=True, slots=True)
class Step:
    """One append of a ticket's history: events that happened at one moment, and the case after them."""

    at: datetime
    events: list[DomainEvent]
    case: Case


class StepRefused(ValueError):
    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name


def replay(case_id: str, ticket: HistoricalTicket, submission: Submission, placed: Placed,
           understood: Understanding | None, policy: Policy) -> list[Step]:
    """The ticket's history as the domain decides it, one Step per moment the old system recorded. Raises
    StepRefused (naming the outcome's field) when the domain refuses a step (e.g. a unit unknown to the matrix
    without unit_name, or a ticket that went to triage and names no unit that handled it)."""
    outcome = ticket.outcome or Outcome()
    reported = ticket.reported_at
    dispatched = outcome.dispatched_at or reported
    intake = Intake(source=submission.source, report=submission.report, location=placed.wgs84, imported=True)
    # The clocks start when it was dispatched, so that the KPIs judge it against the deadlines it had.
    received, *routed = receive(intake, placed.routing(), now=dispatched, policy=policy, understood=understood)
    case = fold_onto(new_case(case_id, reported), [received], reported)
    steps = [Step(reported, [received], case)]
    if routed:
        case = fold_onto(case, routed, dispatched)
        steps.append(Step(dispatched, routed, case))

    def take(command: c.Command, at: datetime, field_name: str) -> None:
        nonlocal case
        decided = decide(case, command, IMPORTER, at, policy)
        if isinstance(decided, Refusal):
            raise StepRefused(field_name, decided.reason)
        case = fold_onto(case, decided, at)
        steps.append(Step(at, list(decided), case))

    lead = (case.get("units") or {}).get("lead") or {}
    if outcome.unit is not None and outcome.returned_at is None and lead.get("code") != outcome.unit:
        take(c.Dispatch(unit=outcome.unit, unit_name=outcome.unit_name, area=_deepest(case)), dispatched,
             "outcome.unit")
    if outcome.returned_at is not None:
        take(c.Return(reason=outcome.return_reason, note=RETURN_NOTE), outcome.returned_at, "outcome.returned_at")
        take(c.ReviewReturn(approve=True, unit=outcome.unit, unit_name=outcome.unit_name), outcome.returned_at,
             "outcome.unit")
    signed = outcome.signed_at or outcome.resolved_at
    if signed is not None and case["state"] == "triage":
        # Handled in the old system, unclear here (its category is not one of ours) and no unit named: the
        # place's own government had it (属地兜底), as the fallback rule says.
        area = _home(case)
        if area is None:
            raise StepRefused("outcome.unit", f"the ticket is not placed here ({case.get('triage_reason')}): "
                                              "name the unit that handled it, with its area in location/address")
        take(c.Dispatch(unit=f"{area}-gov", area=area), dispatched, "outcome.unit")
    if signed is not None:
        take(c.Accept(), signed, "outcome.signed_at")
    if outcome.resolved_at is not None:
        take(c.Resolve(note=RESOLVED_NOTE), outcome.resolved_at, "outcome.resolved_at")
    if outcome.closed_at is not None and outcome.satisfaction is not None:
        satisfaction = outcome.satisfaction
        take(c.Callback(contacted=satisfaction != "unreachable", solved=satisfaction != "dissatisfied",
                        satisfaction=satisfaction), outcome.closed_at, "outcome.closed_at")
        if case["state"] != "closed":
            # The old system closed it at closed_at even so: a dissatisfied callback there ended with a redo
            # (recorded above), an unreachable one before the window's end. Live, the SLA timer would close the
            # latter at the window's end; imported history has no timers, so the close is recorded here.
            closed = [DomainEvent("case.closed", {"outcome": satisfaction})]
            case = fold_onto(case, closed, outcome.closed_at)
            steps.append(Step(outcome.closed_at, closed, case))
    return steps


def _deepest(case: Case) -> str | None:
    codes = area_codes(case)
    return codes[-1] if codes else None


def _home(case: Case) -> str | None:
    """The township (else county) the case is in: whose government the fallback rule names."""
    areas = case.get("areas") or {}
    return next((areas[level]["code"] for level in ("township", "county") if level in areas), None)


def requests_of(case_id: uuid.UUID, key: str, steps: Sequence[Step]) -> list[AppendRequest]:
    """One append per step, in order, with the expected versions the steps follow on; the idempotency key on
    the first, so that a ticket already in the store stops its whole history."""
    out = []
    version = 0
    for i, step in enumerate(steps):
        first = i == 0
        metadata = {"actor": IMPORTER.name, "source": "hotline", "imported": True, "scope": area_codes(step.case),
                    **({"idempotency_key": key} if first else {})}
        out.append(AppendRequest(stream_id=case_id, expected_version=version, events=step.events,
                                 occurred_at=step.at, metadata=metadata, idempotency_key=key if first else None,
                                 projection=step.case))
        version += len(step.events)
    return out


@dataclass(slots=True)
class _Parsed:
    line: int
    ticket: HistoricalTicket


class HistoryImporter:
    """Reads lines, records what they say; `run` returns the summary. Not thread-safe; one run at a time."""

    def __init__(self, pool: asyncpg.Pool, locator: Locator, policy: Policy, understander: Understander | None,
                 learned: Learned | None = None, *, batch: int = 500,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._pool = pool
        self._locator = locator
        self._policy = policy
        self._understander = understander
        self._learned = learned
        self._batch = batch
        self._now = now
        sla = policy.sla
        cases = CaseProjection((lambda case: next_due_at(case, sla)) if sla else None)
        kpis = KpiProjection()

        async def project(conn: Connection, accepted: Accepted) -> None:  # as the hub's committer does
            await cases(conn, accepted)
            await kpis(conn, accepted)

        self._project = project

    @classmethod
    async def open(cls, pool: asyncpg.Pool, policy: Policy, near_boundary_m: float, *,
                   batch: int = 500) -> HistoryImporter:
        """With the hub's own routing (the active boundaries, the gazetteer), understanding and learning."""
        boundaries = Boundaries(pool, near_boundary_m)
        await boundaries.refresh()
        gazetteer, understander = await asyncio.gather(asyncio.to_thread(Gazetteer.from_data_dir),
                                                       asyncio.to_thread(build_understander, policy))
        learned = LearnedCategories(pool, policy.matrix, policy.intake.generic_categories)
        await learned.refresh()
        return cls(pool, Locator(boundaries, gazetteer), policy, understander, learned.lookup, batch=batch)

    async def run(self, lines: Iterable[str | bytes], progress: Callable[[int], None] | None = None) -> ImportSummary:
        """Import every line; `progress(n)` after each batch is committed, with the lines it took. A bad line is
        rejected with its number and field and never stops the others.

        A pipeline of two: while one batch commits, the next is read, routed and decided (in a thread, so that
        the commit's round trips go on meanwhile) — the work is mostly CPU, the commit mostly waiting."""
        summary = ImportSummary()
        started = time.perf_counter()
        seen: set[str] = set()
        committing: asyncio.Task[None] | None = None
        try:
            for chunk, count in self._chunks(lines, summary):
                stored = await self._stored([p.ticket.idempotency_key() for p in chunk])
                prepared, already, rejected = await asyncio.to_thread(self._prepare, chunk, stored, seen)
                summary.already_there += already  # counted here, in the loop's thread, as the commits are
                summary.rejected += rejected
                if committing is not None:
                    await committing
                committing = asyncio.create_task(self._commit(prepared, count, summary, progress))
            if committing is not None:
                await committing
        finally:  # stopped (the demo shutting down): no commit left running on its own
            if committing is not None and not committing.done():
                committing.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await committing
        summary.seconds = time.perf_counter() - started
        return summary

    def _chunks(self, lines: Iterable[str | bytes], summary: ImportSummary) -> Iterator[tuple[list[_Parsed], int]]:
        """Batches of valid tickets, each with the number of lines it took (the rejected and blank ones too)."""
        chunk: list[_Parsed] = []
        read = 0
        for number, line in enumerate(lines, 1):
            read += 1
            parsed = self._parse(number, line, summary)
            if parsed is not None:
                chunk.append(parsed)
            if len(chunk) >= self._batch:
                yield chunk, read
                chunk, read = [], 0
        if chunk or read:
            yield chunk, read

    def _parse(self, number: int, line: str | bytes, summary: ImportSummary) -> _Parsed | None:
        if not line.strip():
            return None  # a blank line (a trailing newline) is nothing, not an error
        try:
            raw = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            summary.rejected.append(Rejected(number, "(line)", f"not JSON: {exc}"))
            return None
        if not isinstance(raw, dict):
            summary.rejected.append(Rejected(number, "(line)", "not a JSON object"))
            return None
        try:
            ticket = HistoricalTicket.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors()[0]
            name = ".".join(str(part) for part in first["loc"]) or "(line)"
            more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
            summary.rejected.append(Rejected(number, name, first["msg"] + more))
            return None
        problem = order_problem(ticket, self._now())
        if problem is not None:
            summary.rejected.append(Rejected(number, *problem))
            return None
        return _Parsed(number, ticket)

    async def _stored(self, keys: list[str]) -> set[str]:
        if not keys:
            return set()
        rows = await self._pool.fetch("SELECT key FROM idempotency_keys WHERE key = ANY($1::text[])", keys)
        return {r["key"] for r in rows}

    def _prepare(self, chunk: list[_Parsed], stored: set[str],
                 seen: set[str]) -> tuple[list[list[AppendRequest]], int, list[Rejected]]:
        """Each new ticket's appends (routed, understood and replayed through the domain), how many were there
        already, and the rejected ones. Runs in a thread: it touches no state the event loop does but `seen`,
        which only it uses."""
        fresh: list[_Parsed] = []
        already = 0
        rejected: list[Rejected] = []
        for parsed in chunk:
            key = parsed.ticket.idempotency_key()
            if key in stored or key in seen:  # in the store already, or earlier in this file
                already += 1
            else:
                seen.add(key)
                fresh.append(parsed)
        submissions = [p.ticket.submission() for p in fresh]
        places = place_all(self._locator, submissions)
        understood = understand_all(self._understander, [s.report for s in submissions], self._learned)
        out: list[list[AppendRequest]] = []
        for parsed, submission, placed, read in zip(fresh, submissions, places, understood, strict=True):
            if isinstance(placed, Exception):
                rejected.append(Rejected(parsed.line, "location", str(placed)))
                continue
            case_id = uuid.uuid4()
            try:
                steps = replay(str(case_id), parsed.ticket, submission, placed, read, self._policy)
            except StepRefused as exc:
                rejected.append(Rejected(parsed.line, exc.field, str(exc)))
                continue
            out.append(requests_of(case_id, submission.idempotency_key, steps))
        return out, already, rejected

    async def _commit(self, tickets: list[list[AppendRequest]], lines: int, summary: ImportSummary,
                      progress: Callable[[int], None] | None) -> None:
        requests = [request for mine in tickets for request in mine]
        if requests:
            async with self._pool.acquire() as conn, conn.transaction():
                answers = await append_batch(conn, requests, self._project)
            first = 0
            for mine in tickets:
                answer = answers[first]
                # A ticket pushed live meanwhile: its first append answers `duplicate`, the rest conflict.
                if isinstance(answer, AppendResult) and not answer.duplicate:
                    summary.imported += 1
                else:
                    summary.already_there += 1
                first += len(mine)
        if progress is not None:
            progress(lines)


def read_lines(path: Path) -> Iterator[bytes]:
    """The lines of a file, read lazily (an import file may be larger than memory)."""
    with path.open("rb") as f:
        yield from f
