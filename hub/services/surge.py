"""The early-warning follower: reads each new report once from the store and runs it through the detector.

Derive once: it runs in the leader only (hub.infra.leader), follows `case.received` events by position from where
it stopped (`store_followers`), and evaluates only the cells the new reports touch. The baseline is one grouped
query over the `cases` projection (imported history included), recomputed every `baseline_refresh_s`. A restart
re-reads the last day's reports to fill the windows and restores the episodes of the alerts already raised, so it
neither misses a surge in progress nor raises it again (an episode's alert id is fixed by its evidence too, and a
second `alert.raised` on the same stream is refused by its expected version). A round takes the commits of
`coalesce_s` together and records an alert's growth once per round (`latest_updates`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from dispatch.matrix import Matrix
from dispatch.warning import (
    HOURS_PER_WEEK,
    Baseline,
    Decision,
    Detector,
    Episode,
    HistoryRow,
    Place,
    Raise,
    Report,
    Update,
    WarningPolicy,
    category_paths,
    cell_of,
)
from hub.infra.clock import Clock
from hub.infra.loops import TRANSIENT, StoreNews
from hub.services.alerts import Alerts
from hub.store.events import head_position

log = logging.getLogger(__name__)
FOLLOWER = "early-warning"

# The baseline's history in two sums from one scan, per cell and per local hour of the week (GROUPING SETS): grouped
# by both at once it was one row per (category, county, township, hour) — some 400,000 rows for eight weeks of a
# busy city, decoded into the hub's heap at start-up for a baseline that keeps a few thousand counts.
_BASELINE = """
SELECT category_code, county_code, township_code, how, count(*)::int AS n, GROUPING(how) = 1 AS per_cell
FROM (SELECT category_code, county_code, township_code,
             ((extract(isodow FROM local) - 1) * 24 + extract(hour FROM local))::int AS how
      FROM (SELECT category_code, county_code, township_code,
                   (reported_at AT TIME ZONE 'UTC') + make_interval(mins => $3) AS local
            FROM cases WHERE reported_at >= $1 AND reported_at < $2 AND NOT (source = ANY($4::text[]))) h) r
GROUP BY GROUPING SETS ((category_code, county_code, township_code), (how))
"""
_FIRST_REPORT = "SELECT min(reported_at) FROM cases WHERE reported_at >= $1 AND reported_at < $2"

# Everything but the areas' names and a sensor's kind comes from the projection's columns. Each `#>>` on the case
# document would detoast (decompress) the whole document again: the areas are taken from it once, in a lateral
# that is not flattened (OFFSET 0), and the kind is read only for a device's report.
_REPORT_COLUMNS = """c.case_id, c.reported_at, c.category_code, c.county_code, c.township_code, c.source,
       c.device_id, a.areas #>> '{county,name}' AS county_name, a.areas #>> '{township,name}' AS township_name,
       CASE WHEN c.device_id IS NOT NULL THEN c.doc #>> '{report,kind}' END AS sensor_kind"""
_AREAS = "CROSS JOIN LATERAL (SELECT c.doc -> 'areas' AS areas OFFSET 0) a"
# New reports: each `case.received` once, with the case as the projection has it now (its category and areas).
_FOLLOW = f"""
SELECT e.position, {_REPORT_COLUMNS}
FROM events e JOIN cases c ON c.case_id = e.stream_id {_AREAS}
WHERE e.position > $1 AND e.position <= $2 AND e.type = 'case.received' AND NOT c.imported
ORDER BY e.position
"""
# The windows' reports at start: recent reports whose case began at or before the follower's position.
_WARM = f"""
SELECT {_REPORT_COLUMNS}
FROM cases c JOIN events e ON e.stream_id = c.case_id AND e.version = 1 {_AREAS}
WHERE c.reported_at > $1 AND e.position <= $2 AND NOT c.imported ORDER BY c.reported_at
"""


def _report(row: Any) -> Report:
    county = Place("county", row["county_code"], row["county_name"] or row["county_code"]) \
        if row["county_code"] else None
    township = Place("township", row["township_code"], row["township_name"] or row["township_code"]) \
        if row["township_code"] else None
    return Report(str(row["case_id"]), row["reported_at"], row["category_code"], county, township,
                  row["source"] or "", row["device_id"], row["sensor_kind"])


async def load_baseline(conn: asyncpg.Pool | asyncpg.Connection, policy: WarningPolicy, now: datetime) -> Baseline:
    """The baseline from the history before the longest window (so that a surge does not raise its own
    expectation): one scan, summed per cell and per hour of the week."""
    end = now - timedelta(hours=max(policy.windows_h))
    start = end - timedelta(days=policy.history_days)
    first = await conn.fetchval(_FIRST_REPORT, start, end)
    hours = (end - max(first, start)).total_seconds() / 3600 if first is not None else 24.0
    rows = await conn.fetch(_BASELINE, start, end, policy.utc_offset_minutes, list(policy.excluded_sources))
    per_hour = [0] * HOURS_PER_WEEK
    for row in rows:
        if not row["per_cell"]:
            per_hour[row["how"]] = row["n"]
    return Baseline((HistoryRow(r["category_code"], r["county_code"], r["township_code"], 0, r["n"])
                     for r in rows if r["per_cell"]), max(hours, 24.0), policy, per_hour)


class SurgeWatch:
    def __init__(self, pool: asyncpg.Pool, alerts: Alerts, policy: WarningPolicy, matrix: Matrix | None,
                 clock: Clock, *, poll_s: float = 1.0, page: int = 2_000, coalesce_s: float = 0.0,
                 update_interval_s: float = 0.0) -> None:
        self._pool = pool
        self._alerts = alerts
        self._policy = policy
        self._paths = category_paths(matrix)
        self._clock = clock
        self._poll_s = poll_s
        self._page = page
        self._coalesce_s = coalesce_s
        self._news = StoreNews()
        self._pacing = UpdatePacing(timedelta(seconds=update_interval_s))
        self.detector: Detector | None = None
        self._baseline_at: datetime | None = None
        self.position = 0
        self.raised = 0
        self.updated = 0
        self.empty_steps = 0  # steps that found no new event (a wake-up for nothing)

    def wake(self, position: int = 0) -> None:
        """New events up to `position` (0: unknown); see hub.infra.loops.StoreNews."""
        self._news.wake(position)

    async def run(self) -> None:
        """The leader's loop: start (windows, episodes, position), then follow the store."""
        while True:
            try:
                await self._start()
                break
            except TRANSIENT as exc:
                log.warning("early warning cannot start; retrying", extra={"error": repr(exc)})
                await asyncio.sleep(self._poll_s)
        while True:
            # One round for the commits of the next moment: each costs a head read, a page read and a checkpoint.
            await self._news.next_round(lambda: self.position, self._poll_s, self._coalesce_s)
            try:
                await self.step()
            except TRANSIENT as exc:
                log.warning("early warning cannot read the store; retrying", extra={"error": repr(exc)})

    async def _start(self) -> None:
        now = self._clock.now()
        detector = Detector(self._policy, await load_baseline(self._pool, self._policy, now), self._paths)
        self._baseline_at = now
        stored = await self._pool.fetchval("SELECT position FROM store_followers WHERE name = $1", FOLLOWER)
        self.position = stored if stored is not None else await head_position(self._pool)
        since = now - timedelta(hours=max(self._policy.windows_h))
        for row in await self._pool.fetch(_WARM, since, self.position):
            detector.remember(_report(row), now)
        for doc in await self._alerts.reads.recent(since):
            cell = cell_of(doc["cell"])
            expires = datetime.fromisoformat(doc["window"]["end"]) + timedelta(hours=cell.window_h)
            detector.restore(Episode(doc["alert_id"], cell, expires, doc["observed"], list(doc["case_ids"])))
        self.detector = detector

    async def refresh(self) -> None:
        """Learn the baseline again from the `cases` projection (every `baseline_refresh_s`, or after an import)."""
        now = self._clock.now()
        baseline = await load_baseline(self._pool, self._policy, now)
        if self.detector is not None:
            self.detector.with_baseline(baseline)
        self._baseline_at = now

    async def step(self) -> int:
        """Evaluate the reports committed since the last step; return how many were read."""
        assert self.detector is not None
        now = self._clock.now()
        if self._baseline_at is None or (now - self._baseline_at).total_seconds() >= self._policy.baseline_refresh_s:
            await self.refresh()
        for update in self._pacing.due(now):  # growth held back by the pacing, now that its interval has passed
            await self._record(update, now)
        read = 0
        while True:
            head = await head_position(self._pool)
            if head <= self.position:
                if read == 0:
                    self.empty_steps += 1
                return read
            upto = min(head, self.position + self._page)
            rows = await self._pool.fetch(_FOLLOW, self.position, upto)
            decisions: list[Decision] = []
            evaluated_at = self._clock.now()  # the page's reports at one instant (Detector._windows)
            for row in rows:
                decisions += self.detector.observe(_report(row), evaluated_at)
            for decision in self._pacing.admit(latest_updates(decisions), now):
                await self._record(decision, now)
            read += len(rows)
            self.position = upto
            await self._pool.execute(
                "INSERT INTO store_followers (name, position) VALUES ($1, $2) "
                "ON CONFLICT (name) DO UPDATE SET position = excluded.position", FOLLOWER, upto)
            if upto == head:  # the head as read: later commits wake the next step
                return read

    async def _record(self, decision: Decision, now: datetime) -> None:
        if isinstance(decision, Raise):
            if await self._alerts.raise_alert(decision.alert_id, decision.evidence, now) is not None:
                self.raised += 1
                log.info("alert raised", extra={"alert_id": decision.alert_id, "cell": decision.evidence["cell"],
                                                "observed": decision.evidence["observed"]})
        elif await self._alerts.update_alert(decision.alert_id, decision.evidence, now) is not None:
            self.updated += 1


def latest_updates(decisions: Sequence[Decision]) -> list[Decision]:
    """The decisions of one round to record: every raise, and of an alert's updates only its last, where it came
    (after its raise). An update carries the whole evidence and replaces the alert's (dispatch.warning.apply_alert),
    so the alert ends the same; during a surge a round sees one update per report, and each recorded one is a
    commit, a read and a frame to every console watching the area."""
    last = {d.alert_id: i for i, d in enumerate(decisions) if isinstance(d, Update)}
    return [d for i, d in enumerate(decisions) if not isinstance(d, Update) or last[d.alert_id] == i]


class UpdatePacing:
    """An alert's growth recorded at most once every `interval`; its raise at once, always.

    During a surge every round has an update for each growing alert, and each recorded update is a read of the
    alert, a commit of its whole evidence (up to 200 case ids, ~9 KB), and a frame of it to every console watching
    the area: at 300 tickets/s the bench's surges made ~14 updates a second, a tenth of the bytes sent to 1,000
    consoles (2,080 → 1,860 MB in 30 s with the pacing; 2026-12-07). A console showing the count a few seconds
    late loses nothing: the raise is never held, and a held update is recorded, the latest one only (an update
    replaces the evidence: `latest_updates`), as soon as its interval has passed — the alert ends as if every
    update had been recorded. What a hub that stops holds is not recorded; the alert then grows again with the
    next report in its cell."""

    def __init__(self, interval: timedelta) -> None:
        self._interval = interval
        self._recorded: dict[str, datetime] = {}  # alert id → when its raise or last update was recorded
        self._held: dict[str, Update] = {}  # alert id → its latest update not recorded yet

    def __len__(self) -> int:
        """How many alerts the pacing keeps a time or a held update for."""
        return len(self._recorded.keys() | self._held.keys())

    def admit(self, decisions: Sequence[Decision], now: datetime) -> list[Decision]:
        """Of a round's decisions, those to record now (in their order); the other updates are held."""
        out: list[Decision] = []
        for decision in decisions:
            last = self._recorded.get(decision.alert_id)
            if isinstance(decision, Update) and last is not None and now - last < self._interval:
                self._held[decision.alert_id] = decision
                continue
            self._held.pop(decision.alert_id, None)
            self._recorded[decision.alert_id] = now
            out.append(decision)
        return out

    def due(self, now: datetime) -> list[Update]:
        """The held updates whose interval has passed, to record now. Alerts whose interval has passed with
        nothing held are forgotten (their next update is recorded at once anyway): what is kept stays small."""
        out = [update for alert_id, update in self._held.items() if now - self._recorded[alert_id] >= self._interval]
        for update in out:
            del self._held[update.alert_id]
            self._recorded[update.alert_id] = now
        for alert_id in [a for a, at in self._recorded.items() if now - at >= self._interval and a not in self._held]:
            del self._recorded[alert_id]
        return out
