"""Application service for new cases: an intake stage that routes, decides and looks for duplicates a batch
at a time, appends through the group committer, and answers every caller after its commit.

Why a stage (issue 14, "derive once"): done per ticket, each new case cost a pool checkout and a round trip
for its duplicate search, which decoded up to 50 whole case documents. The stage takes every submission
waiting when it wakes and does the work once for them all: one vectorised routing call, the domain's
decision for each, one duplicate query on slim columns (`CaseReads.duplicate_candidates`), and one hand-over
to the committer. While the committer writes one batch, the stage prepares the next. Under light load a
batch is one submission and adds no delay; when several callers' tickets are in progress together, a ticket
that finds the stage idle waits a moment for the ones right behind it (`_gather`).

What a caller sees is unchanged: one outcome per submission (a repeated idempotency key answers the first
result), errors per submission (one bad item never fails its batch), and StoreOverloaded / StoreUnavailable
when nothing was written.
"""

from __future__ import annotations

import asyncio
import logging
import math
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from connectors.submission import Submission
from dispatch.case import Intake, area_codes, fold, receive
from dispatch.commands import Merge
from dispatch.events import Case, DomainEvent, JsonDict
from dispatch.fold import fold_onto
from dispatch.incidents import Incident
from dispatch.lifecycle import decide
from dispatch.linking import follow_ups
from dispatch.merge import Candidate, best_match
from dispatch.permissions import SYSTEM, Refusal
from dispatch.policy import Policy
from dispatch.states import UNRESOLVED_STATES
from dispatch.understanding import Learned, Understander, Understanding
from hub.infra.clock import Clock
from hub.infra.db import describe, is_unavailable
from hub.services.case_actions import CaseActions
from hub.services.incidents import link_request
from hub.services.locator import Locator, Placed
from hub.store.committer import GroupCommitter
from hub.store.events import AppendRequest, AppendResult, StoreOverloaded, StoreUnavailable
from hub.store.reads import AtAddress, CaseReads, NearBox

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class IntakeOutcome:
    case_id: uuid.UUID
    result: AppendResult


@dataclass(frozen=True, slots=True)
class _Waiting:
    submission: Submission
    actor: str
    future: asyncio.Future[IntakeOutcome]
    recorded: Mapping[str, Any]  # a person's name and unit at the time (hub.services.actors.recorded_actor)
    crowded: bool = False  # another submission was still unanswered when this one arrived


@dataclass(frozen=True, slots=True)
class _Decided:
    waiting: _Waiting
    case: Case  # as it will be once its events are committed
    events: list[DomainEvent]
    parent: Case | None = None  # an automatic merge's parent as the duplicate search read it


class IntakeService:
    def __init__(self, locator: Locator, committer: GroupCommitter, policy: Policy, clock: Clock,
                 reads: CaseReads, actions: CaseActions, *, queue_size: int = 20_000, batch_max: int = 500,
                 understander: Understander | None = None, learned: Learned | None = None,
                 incidents: Callable[[], Sequence[Incident]] = tuple, gather_s: float = 0.0) -> None:
        self._locator = locator
        self._committer = committer
        self._policy = policy
        self._clock = clock
        self._reads = reads
        self._actions = actions
        self._queue: asyncio.Queue[_Waiting] = asyncio.Queue(maxsize=queue_size)
        self._batch_max = batch_max
        self._answering: set[asyncio.Task[None]] = set()
        # Reads each report's words (category, urgency); `learned`: what dispatchers taught (hotline category
        # string → leaf), consulted after our own codes and names.
        self._understander = understander
        self.learned = learned
        # The active emergency incidents (hub.services.incidents): a new case in one's areas and categories
        # links to it, decided with the rest of the intake decision.
        self._incidents = incidents
        # Gathering (see `_gather`): how long a ticket that finds the stage idle waits for others while other
        # callers' tickets are in progress; how many submissions are unanswered now; batches taken, and how
        # many of them waited.
        self._gather_s = gather_s
        self._unanswered = 0
        self.batches = 0
        self.gathered = 0

    async def submit(self, submission: Submission, actor: str,
                     recorded: Mapping[str, Any] | None = None) -> IntakeOutcome:
        """Route, decide and record a new problem from any channel; answered after the commit. `recorded`:
        what the event's metadata keeps about a person who reported it (name and unit)."""
        future: asyncio.Future[IntakeOutcome] = asyncio.get_running_loop().create_future()
        future.add_done_callback(lambda f: f.cancelled() or f.exception())  # a caller that left reads nothing
        try:
            self._queue.put_nowait(_Waiting(submission, actor, future, recorded or {}, self._unanswered > 0))
        except asyncio.QueueFull:
            raise StoreOverloaded("intake queue full") from None
        self._unanswered += 1
        future.add_done_callback(self._answered)
        # A caller that goes away (client disconnect) does not stop its submission being recorded.
        return await asyncio.shield(future)

    async def run(self) -> None:
        """The stage's loop: a background job of the composition root, cancelled at shutdown."""
        try:
            while True:
                idle = self._queue.empty()
                batch = [await self._queue.get()]
                try:
                    if idle:
                        await self._gather(batch)
                    while len(batch) < self._batch_max and not self._queue.empty():
                        batch.append(self._queue.get_nowait())
                    self.batches += 1
                    await self._take(batch)
                except asyncio.CancelledError:  # shutdown: what was taken is answered, like what still queues
                    _fail(batch, StoreUnavailable(_STOPPING))
                    raise
                except Exception as exc:  # noqa: BLE001 — the stage must outlive any one bad batch
                    failure: Exception = exc
                    if is_unavailable(exc):  # a stalled or lost database: each caller gets its 503
                        log.warning("intake batch failed: PostgreSQL is unavailable",
                                    extra={"error": describe(exc), "items": len(batch)})
                        failure = StoreUnavailable(describe(exc))
                    else:
                        log.exception("intake batch failed", extra={"items": len(batch)})
                    _fail([w for w in batch if not w.future.done()], failure)
        finally:
            for task in self._answering:
                task.cancel()
            waiting = [self._queue.get_nowait() for _ in range(self._queue.qsize())]
            _fail(waiting, StoreUnavailable("the hub is shutting down; nothing was recorded"))
            # Tasks just cancelled above answer their own (`_answer`): they run once more, after this.

    def _answered(self, _future: asyncio.Future[IntakeOutcome]) -> None:
        self._unanswered -= 1

    async def _gather(self, batch: list[_Waiting]) -> None:
        """The stage was idle and has one ticket: when another caller's ticket was still unanswered as it arrived
        (tickets are coming from several callers at once), wait `gather_s` for the ones right behind it, so
        that a batch's duplicate query, commit and followers' rounds are paid once for all of it. At 300 tickets/s
        a stage taking tickets one by one made ~1.4 tickets a commit; waiting 10 ms cut the hub's CPU per ticket
        by a quarter and PostgreSQL's by a third (README, "Performance"). A ticket on a quiet line, or from a
        caller sending one ticket after another's answer, has no one to wait for and does not wait; a busy
        stage never waits (what arrived meanwhile is its next batch)."""
        if not self._gather_s or not batch[0].crowded or not self._queue.empty():
            return
        self.gathered += 1
        await asyncio.sleep(self._gather_s)

    async def _take(self, batch: list[_Waiting]) -> None:
        now = self._clock.now()
        decided: list[_Decided] = []
        understood = self._understand(batch)
        incidents = self._incidents()  # read once for the batch
        for waiting, placed, read in zip(batch, self._place(batch), understood, strict=True):
            if isinstance(placed, Exception):
                waiting.future.set_exception(placed)
                continue
            try:
                decided.append(self._decide(waiting, placed, now, read, incidents))
            except Exception as exc:  # noqa: BLE001 — answered to this submission alone
                waiting.future.set_exception(exc)
        decided = await self._merge_duplicates(decided, now)
        queued: list[tuple[_Decided, asyncio.Future[AppendResult]]] = []
        for item in decided:
            try:
                queued.append((item, self._committer.enqueue(self._request(item, now))))
            except StoreOverloaded as exc:
                item.waiting.future.set_exception(exc)
                continue
            if (incident := item.case.get("incident")) is not None:
                self._link(item, incident, now)
        if queued:
            # Answered in a task of its own, so that the stage prepares the next batch meanwhile.
            task = asyncio.create_task(self._answer(queued))
            self._answering.add(task)
            task.add_done_callback(self._answering.discard)

    def _place(self, batch: Sequence[_Waiting]) -> list[Placed | Exception]:
        return place_all(self._locator, [w.submission for w in batch])

    def _understand(self, batch: Sequence[_Waiting]) -> list[Understanding | None]:
        return understand_all(self._understander, [w.submission.report for w in batch], self.learned)

    def _decide(self, waiting: _Waiting, placed: Placed, now: datetime, understood: Understanding | None,
                incidents: Sequence[Incident] = ()) -> _Decided:
        submission = waiting.submission
        intake = Intake(source=submission.source, report=submission.report, location=placed.wgs84)
        events = receive(intake, placed.routing(), now=now, policy=self._policy, understood=understood,
                         incidents=incidents)
        case = fold(str(uuid.uuid4()), [(e.type, e.data, i + 1, now) for i, e in enumerate(events)])
        assert case is not None
        return _Decided(waiting, case, events)

    def _request(self, item: _Decided, now: datetime) -> AppendRequest:
        submission = item.waiting.submission
        return AppendRequest(
            stream_id=uuid.UUID(item.case["case_id"]), expected_version=0, events=item.events, occurred_at=now,
            # `scope`: where the case is, so consoles are chosen by where it was when this happened.
            metadata={"actor": item.waiting.actor, **item.waiting.recorded, "source": submission.source,
                      "idempotency_key": submission.idempotency_key, "scope": area_codes(item.case)},
            idempotency_key=submission.idempotency_key, projection=item.case,
        )

    def _link(self, item: _Decided, incident: JsonDict, now: datetime) -> None:
        """The incident's side of an automatic link, queued right behind the case. Its idempotency key is the
        report's own, so a retried ticket (a duplicate) links nothing twice and never a case id that was not
        written. Not awaited: the caller's answer is the case's commit."""
        key = f"incident-link:{item.waiting.submission.idempotency_key}"
        try:
            self._committer.enqueue(link_request(
                incident["incident_id"], [item.case["case_id"]], "automatic", now, "system",
                area_codes(item.case), key=key)).add_done_callback(_log_link_failure)
        except StoreOverloaded:
            log.warning("incident link not queued", extra={"case": item.case["case_id"]})

    async def _answer(self, queued: list[tuple[_Decided, asyncio.Future[AppendResult]]]) -> None:
        """Answer each caller after its commit; cancelled (shutdown) while a commit or a parent's join is under
        way, whoever is not answered yet is told that the outcome is unknown."""
        try:
            await self._answer_all(queued)
        except asyncio.CancelledError:
            _fail([item.waiting for item, _ in queued], StoreUnavailable(_STOPPING))
            raise

    async def _answer_all(self, queued: list[tuple[_Decided, asyncio.Future[AppendResult]]]) -> None:
        # One deadline for the batch (its items share one or two commits), not one per item.
        await asyncio.wait([f for _, f in queued], timeout=self._committer.timeout_s)
        merged: list[tuple[_Decided, AppendResult]] = []
        for item, appended in queued:
            future = item.waiting.future
            if not appended.done() or appended.cancelled():
                future.set_exception(StoreUnavailable(
                    "no commit within the time limit; the outcome is unknown — retrying with the same "
                    "idempotency key is safe"))
            elif (exc := appended.exception()) is not None:
                future.set_exception(exc)
            elif not appended.result().duplicate and follow_ups(item.case, item.events):
                merged.append((item, appended.result()))
            else:
                future.set_result(IntakeOutcome(appended.result().stream_id, appended.result()))
        # A merged child is answered once it has joined its parent: after the others, whose answers need not
        # wait for those appends. The children of one parent join it in turn — each attach is an append to the
        # parent's stream, so at once all but one met a version conflict per round, and past the follow-up's
        # retries a child was left out of its parent — the parents concurrently.
        by_parent: dict[str, list[tuple[_Decided, AppendResult]]] = {}
        for item, result in merged:
            by_parent.setdefault(str(item.case.get("parent_id")), []).append((item, result))
        await asyncio.gather(*(self._join_in_turn(children) for children in by_parent.values()))

    async def _join_in_turn(self, children: list[tuple[_Decided, AppendResult]]) -> None:
        # The parent the merges were decided on, read a moment ago: the first child's follow-up starts from it
        # rather than reading it again (and reads it afresh only if it has changed since: a version conflict). The
        # next children find it changed by the first, so they read it.
        for turn, (item, result) in enumerate(children):
            await self._join_parent(item, result, item.parent if turn == 0 else None)

    async def _join_parent(self, item: _Decided, result: AppendResult, parent: Case | None) -> None:
        try:
            await self._actions.follow_up(item.case, item.events,
                                          {parent["case_id"]: parent} if parent is not None else None)
        except Exception as exc:  # noqa: BLE001 — answered to this submission alone
            item.waiting.future.set_exception(exc)
            return
        item.waiting.future.set_result(IntakeOutcome(result.stream_id, result))

    # --- duplicates (合并) -----------------------------------------------------------------------------

    async def _merge_duplicates(self, decided: list[_Decided], now: datetime) -> list[_Decided]:
        """Each new case that most likely repeats an open one (same category, nearby, recent; IoT: same
        device) gets the merge events: merged at once above the policy's auto threshold, else a suggestion
        the operator decides on. One query for the batch; parents' documents only for automatic merges."""
        merge = self._policy.merge
        near: list[NearBox] = []
        at_address: list[AtAddress] = []
        for i, item in enumerate(decided):
            report, location = item.case.get("report") or {}, item.case.get("location")
            category = report.get("category")
            if not category or item.case["state"] != "dispatched":
                continue
            if location is not None:
                # A box a little larger than the merge radius (1° of latitude ≈ 111 km); the score is exact.
                dlat = merge.radius_m / 111_000 * 1.1
                dlng = dlat / max(0.2, math.cos(math.radians(location["lat"])))
                near.append(NearBox(i, category, (location["lat"] - dlat, location["lat"] + dlat),
                                    (location["lng"] - dlng, location["lng"] + dlng)))
            elif report.get("address"):
                at_address.append(AtAddress(i, category, report["address"]))
        if not near and not at_address:
            return decided
        rows = await self._reads.duplicate_candidates(
            near, at_address, now - timedelta(hours=merge.window_hours), sorted(UNRESOLVED_STATES))
        candidates: dict[int, list[Candidate]] = {}
        for row in rows:
            location = {"lng": row["lng"], "lat": row["lat"]} if row["lat"] is not None else None
            candidates.setdefault(row["i"], []).append(Candidate(
                case_id=str(row["case_id"]), state=row["state"], created_at=row["created_at"].isoformat(),
                location=location, report={"device_id": row["device_id"], "address": row["address"]},
                category={"code": row["category_code"]} if row["category_code"] else None))
        matches = {i: match for i, found in candidates.items()
                   if (match := best_match(decided[i].case, found, now, merge)) is not None}
        auto = {parent for parent, _, decision in matches.values() if decision == "auto"}
        parents = await self._reads.get_many(sorted(auto)) if auto else {}
        out = list(decided)
        for i, (parent_id, score, decision) in matches.items():
            item = decided[i]
            parent = parents.get(parent_id)
            more = self._merge_events(item.case, parent, parent_id, score, decision, now)
            merged = any(e.type == "case.merged" for e in more)
            out[i] = _Decided(item.waiting, fold_onto(item.case, more, now), [*item.events, *more],
                              parent if merged else None)
        return out

    def _merge_events(self, case: Case, parent: Case | None, parent_id: str, score: float, decision: str,
                      now: datetime) -> list[DomainEvent]:
        if decision == "auto" and parent is not None:
            merged = decide(case, Merge(into=parent_id), SYSTEM, now, self._policy, {parent_id: parent})
            if not isinstance(merged, Refusal):
                return list(merged)
        return [DomainEvent("case.merge_suggested", {"into": parent_id, "score": score})]


_STOPPING = ("the hub is shutting down; the outcome is unknown — retrying with the same idempotency key is safe")


def _log_link_failure(future: asyncio.Future[AppendResult]) -> None:
    if not future.cancelled() and (exc := future.exception()) is not None:
        log.warning("incident link not recorded", extra={"error": str(exc)})


def _fail(waiting: Sequence[_Waiting], exc: BaseException) -> None:
    for w in waiting:
        if not w.future.done():
            w.future.set_exception(exc)


def place_all(locator: Locator, submissions: Sequence[Submission]) -> list[Placed | Exception]:
    """Where each submission is, placed in one vectorised call; a bad point fails only its own submission."""
    items = [(s.point, s.address) for s in submissions]
    contents = [s.content for s in submissions]
    try:
        return list(locator.place_many(items, contents))
    except ValueError:  # one bad point: place them one by one so that only it fails
        out: list[Placed | Exception] = []
        for (point, address), content in zip(items, contents, strict=True):
            try:
                out.append(locator.place(point, address, content))
            except ValueError as exc:
                out.append(exc)
        return out


def understand_all(understander: Understander | None, reports: Sequence[Mapping[str, Any]],
                   learned: Learned | None) -> list[Understanding | None]:
    """What each report's words say, the whole batch read at once (the model scores it in one call); a report
    the reader chokes on goes on as its channel described it."""
    if understander is None:
        return [None] * len(reports)
    try:
        return list(understander.understand_many(reports, learned=learned))
    except Exception:  # noqa: BLE001 — one report the reader chokes on must not fail its batch
        log.exception("intake understanding failed for a batch; reading its reports one by one")
        out: list[Understanding | None] = []
        for report in reports:
            try:
                out.append(understander.understand(report, learned=learned))
            except Exception:  # noqa: BLE001 — this report goes on as the channel described it
                log.exception("intake understanding failed for a report")
                out.append(None)
        return out
