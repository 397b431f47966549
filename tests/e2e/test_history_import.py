"""`cityloop import tickets PATH`: history recorded at its original times, marked imported, idempotent by
ticket_no; it feeds the KPIs and never the live clocks, callbacks or consoles."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest

from dispatch.sla import next_due_at
from hub.infra.settings import Settings
from hub.keys import OUTBOX, POLICY, POOL, SURGE
from hub.store.kpi_projection import rebuild_kpis
from hub.store.projection import rebuild_cases
from tests.conftest import Hub
from tests.e2e.test_hotline_to_console import QINGXIU_SEAT, XINGNING_SEAT, ticket
from tests.integration.test_callbacks import eventually

CST = timezone(timedelta(hours=8))
UNSET = ("DATABASE_URL", "REDIS_URL", "MQTT_URL", "CITYLOOP_POLICY_FILE")


def import_tickets(path: Path, settings: Settings) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in UNSET}
    return subprocess.run([sys.executable, "-m", "hub.cli", "import", "tickets", str(path)], capture_output=True,
                          text=True, timeout=180, env={**environ, "DATABASE_URL": str(settings.database_url),
                                                       "CITYLOOP_DATA_DIR": str(settings.data_dir),
                                                       "CITYLOOP_LOG_LEVEL": "WARNING"})


def iso(at: datetime) -> str:
    return at.isoformat()


def history(day: datetime) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """Lines of an import file (three good, three bad, a blank one) and the good tickets by ticket_no."""
    t0 = day.replace(hour=9, minute=12, second=0, microsecond=0)
    closed = ticket(QINGXIU_SEAT, reported_at=iso(t0), callback_url="http://127.0.0.1:9/cb", outcome={
        "dispatched_at": iso(t0 + timedelta(minutes=10)), "signed_at": iso(t0 + timedelta(hours=1)),
        "resolved_at": iso(t0 + timedelta(hours=20)), "closed_at": iso(t0 + timedelta(hours=30)),
        "satisfaction": "basically_satisfied"})
    returned = ticket(XINGNING_SEAT, category="road_damage", reported_at=iso(t0 + timedelta(hours=2)), outcome={
        "dispatched_at": iso(t0 + timedelta(hours=2, minutes=5)), "returned_at": iso(t0 + timedelta(hours=5)),
        "return_reason": "wrong_area", "signed_at": iso(t0 + timedelta(hours=6)),
        "resolved_at": iso(t0 + timedelta(days=2)), "closed_at": iso(t0 + timedelta(days=3)),
        "satisfaction": "unreachable"})
    still_open = ticket(XINGNING_SEAT, reported_at=iso(t0 + timedelta(hours=3)), callback_url="http://127.0.0.1:9/cb",
                        outcome={"dispatched_at": iso(t0 + timedelta(hours=3, minutes=4))})
    missing = ticket(QINGXIU_SEAT, reported_at=iso(t0))
    del missing["content"]
    backwards = ticket(QINGXIU_SEAT, reported_at=iso(t0), outcome={"resolved_at": iso(t0 - timedelta(hours=1))})
    lines = [orjson.dumps(closed).decode(), '{"ticket_no": "broken", ', orjson.dumps(missing).decode(),
             orjson.dumps(backwards).decode(), orjson.dumps(returned).decode(), orjson.dumps(still_open).decode(), ""]
    return lines, {t["ticket_no"]: t for t in (closed, returned, still_open)}


async def test_a_history_file_is_imported_once_at_its_original_times_and_counts_in_the_kpis(
        hub: Hub, settings: Settings, tmp_path: Path) -> None:
    day = (datetime.now(CST) - timedelta(days=10)).replace(hour=0, minute=0)
    lines, good = history(day)
    path = tmp_path / "history.jsonl"
    path.write_text("\n".join(lines), encoding="utf-8")

    done = import_tickets(path, settings)
    assert done.returncode == 1, done.stderr  # some lines were rejected
    assert "imported: 3  already there: 0  rejected: 3" in done.stdout, done.stdout
    assert "line 2: (line): not JSON" in done.stdout
    assert "line 3: content: Field required" in done.stdout
    assert "line 4: outcome.resolved_at: " in done.stdout and "is before reported_at" in done.stdout
    # The planner learns the imported shape at once (stale statistics made the analysis queries 2-10x slower).
    analysed = await hub.app[POOL].fetchval(
        "SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables WHERE relname = 'cases'")
    assert analysed

    async with hub.app[POOL].acquire() as conn:
        rows = {r["ticket_no"]: r for r in await conn.fetch(
            "SELECT case_id, ticket_no, state, imported, next_due_at, reported_at, created_at, township_code, "
            "category_code, doc FROM cases WHERE ticket_no = ANY($1::text[])", list(good))}
        assert set(rows) == set(good)
        for number, t in good.items():
            row = rows[number]
            assert row["imported"] is True and row["doc"]["imported"] is True
            assert row["next_due_at"] is None  # no live SLA clock
            assert row["reported_at"] == row["created_at"] == datetime.fromisoformat(t["reported_at"])
            assert row["township_code"] is not None and row["category_code"] is not None
        closed_no, returned_no, open_no = list(good)
        assert rows[closed_no]["state"] == "closed" and rows[returned_no]["state"] == "closed"
        assert rows[open_no]["state"] == "dispatched"

        # Every event at the time the old system recorded it, marked imported.
        events = await conn.fetch(
            "SELECT type, occurred_at, metadata FROM events WHERE stream_id = $1 ORDER BY version",
            rows[closed_no]["case_id"])
        outcome = good[closed_no]["outcome"]
        at = {e["type"]: e["occurred_at"] for e in events}
        assert at["case.received"] == datetime.fromisoformat(good[closed_no]["reported_at"])
        assert at["case.dispatched"] == datetime.fromisoformat(outcome["dispatched_at"])
        assert at["case.accepted"] == datetime.fromisoformat(outcome["signed_at"])
        assert at["case.resolved"] == datetime.fromisoformat(outcome["resolved_at"])
        assert at["case.callback_recorded"] == at["case.closed"] == datetime.fromisoformat(outcome["closed_at"])
        assert all(e["metadata"]["imported"] is True for e in events)
        returned_types = [e["type"] for e in await conn.fetch(
            "SELECT type FROM events WHERE stream_id = $1 ORDER BY version", rows[returned_no]["case_id"])]
        assert "case.return_requested" in returned_types and returned_types[-1] == "case.closed"

        # No callbacks for history, though two tickets name a callback URL (a live one would get a row, even
        # a refused one: see tests/e2e for the outbox).
        while await hub.app[OUTBOX].write_pending():
            pass
        ids = [r["case_id"] for r in rows.values()]
        assert await conn.fetchval("SELECT count(*) FROM outbox WHERE case_id = ANY($1::uuid[])", ids) == 0
        assert await conn.fetchval("SELECT count(*) FROM kpi_assignments WHERE case_id = ANY($1::uuid[])", ids) >= 3

    # The KPIs of that day count them (dispatched then, resolved then).
    officer = await hub.login("city_operator", "450100")
    query = f"period=day&level=city&from={day.date().isoformat()}&to={day.date().isoformat()}"
    async with hub.http.get(f"{hub.base}/api/v1/kpis?{query}", headers={"Authorization": f"Bearer {officer}"}) as resp:
        assert resp.status == 200, await resp.text()
        kpis = (await resp.json())["rows"]
    city = [r for r in kpis if r["level"] == "city"]
    assert len(city) == 1 and city[0]["period"] == day.date().isoformat()
    assert city[0]["dispatched"] >= 3  # the returned ticket's second unit counts too

    # Again: nothing new, every good line already there.
    again = import_tickets(path, settings)
    assert "imported: 0  already there: 3  rejected: 3" in again.stdout, again.stdout

    # The read models rebuilt from the events equal what the import wrote (no clock appears on rebuild either).
    pool = hub.app[POOL]
    cases_sql = ("SELECT case_id, version, state, next_due_at, reported_at, imported, township_code FROM cases "
                 "WHERE imported ORDER BY case_id")
    kpis_sql = "SELECT * FROM kpi_assignments ORDER BY position"
    before = (await pool.fetch(cases_sql), await pool.fetch(kpis_sql))
    await rebuild_cases(pool, next_due=lambda case: next_due_at(case, hub.app[POLICY].sla))  # type: ignore[arg-type]
    await rebuild_kpis(pool)
    assert (await pool.fetch(cases_sql), await pool.fetch(kpis_sql)) == before


async def test_live_tickets_never_merge_into_imported_history(hub: Hub, settings: Settings, tmp_path: Path) -> None:
    """An imported ticket still open an hour ago at the very spot: a live report of the same problem there is
    a case of its own, not merged (nor suggested) into the old system's ticket."""
    earlier = datetime.now(CST) - timedelta(hours=1)
    old = ticket(QINGXIU_SEAT, reported_at=iso(earlier), outcome={"dispatched_at": iso(earlier)})
    path = tmp_path / "recent.jsonl"
    path.write_text(orjson.dumps(old).decode() + "\n", encoding="utf-8")
    assert "imported: 1" in import_tickets(path, settings).stdout
    key = await hub.hotline_key()
    async with hub.http.post(f"{hub.base}/api/v1/hotline/tickets", json=ticket(QINGXIU_SEAT),
                             headers={"X-API-Key": key}) as resp:
        assert resp.status == 202, await resp.text()
        case_id = uuid.UUID((await resp.json())["case_id"])
    doc = await hub.app[POOL].fetchval("SELECT doc FROM cases WHERE case_id = $1", case_id)
    assert doc["state"] == "dispatched" and doc["parent_id"] is None and doc["merge_suggestion"] is None


async def test_a_live_ticket_with_a_past_reported_at_counts_then(hub: Hub, settings: Settings) -> None:
    key = await hub.hotline_key()
    past = (datetime.now(CST) - timedelta(days=3)).replace(microsecond=0)
    body = ticket(QINGXIU_SEAT, reported_at=iso(past))
    async with hub.http.post(f"{hub.base}/api/v1/hotline/tickets", json=body, headers={"X-API-Key": key}) as resp:
        assert resp.status == 202, await resp.text()
        case_id = uuid.UUID((await resp.json())["case_id"])
    row = await hub.app[POOL].fetchrow(
        "SELECT reported_at, created_at, imported, next_due_at FROM cases WHERE case_id = $1", case_id)
    assert row is not None
    assert row["reported_at"] == past and row["created_at"] > past  # counted when reported, received now
    assert row["imported"] is False and row["next_due_at"] is not None  # a live case: its clocks run


async def test_an_imported_cluster_is_baseline_not_a_live_alert(hub: Hub, settings: Settings, tmp_path: Path) -> None:
    """Twelve imported reports of one problem in one township within the last hour are history: they feed
    the baseline, but early warning alerts on live reports only (the old system already handled them)."""
    start = datetime.now(CST) - timedelta(minutes=50)
    lines = [orjson.dumps(ticket(QINGXIU_SEAT, reported_at=iso(start + timedelta(minutes=3 * i)))).decode()
             for i in range(12)]
    path = tmp_path / "cluster.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    watch = hub.app[SURGE]
    await eventually(lambda: watch.detector is not None)  # the leader's follower runs before the import
    assert "imported: 12" in import_tickets(path, settings).stdout
    head = await hub.app[POOL].fetchval("SELECT max(position) FROM events")
    await eventually(lambda: watch.position >= head)  # and reads past the imported reports
    assert await hub.app[POOL].fetchval("SELECT count(*) FROM alerts") == 0


async def test_the_baseline_read_as_two_sums_is_the_one_grouped_by_hour(hub: Hub, settings: Settings,
                                                                       tmp_path: Path) -> None:
    """The hub reads the early-warning history as two sums — per cell, per local hour of the week — not one row
    per cell and hour (400,000 rows for eight weeks of a busy city, +89 MB at start-up): the same baseline from the
    same cases, on PostgreSQL's own clock arithmetic."""
    from dispatch.warning import Baseline, HistoryRow
    from hub.services.surge import load_baseline

    now = datetime.now(CST)
    kinds = [(QINGXIU_SEAT, "streetlight"), (XINGNING_SEAT, "road_damage"), (QINGXIU_SEAT, "road_damage")] * 8
    lines = [orjson.dumps(ticket(seat, category=category, reported_at=iso(
        now - timedelta(days=2 + i % 9, hours=7 * i % 23, minutes=i)))).decode()
        for i, (seat, category) in enumerate(kinds)]
    path = tmp_path / "history.jsonl"
    path.write_text("\n".join(lines), encoding="utf-8")
    assert "imported: 24" in import_tickets(path, settings).stdout
    policy = hub.app[POLICY].warning
    pool = hub.app[POOL]
    end = now - timedelta(hours=max(policy.windows_h))
    rows = await pool.fetch(
        """SELECT category_code, county_code, township_code,
                  ((extract(isodow FROM local) - 1) * 24 + extract(hour FROM local))::int AS how, count(*)::int AS n
           FROM (SELECT category_code, county_code, township_code,
                        (reported_at AT TIME ZONE 'UTC') + make_interval(mins => $3) AS local
                 FROM cases WHERE reported_at >= $1 AND reported_at < $2) r
           GROUP BY 1, 2, 3, 4""", end - timedelta(days=policy.history_days), end, policy.utc_offset_minutes)
    assert sum(r["n"] for r in rows) == 24 and len({r["how"] for r in rows}) > 10
    summed = await load_baseline(pool, policy, now)
    by_hour = Baseline((HistoryRow(r["category_code"], r["county_code"], r["township_code"], r["how"], r["n"])
                        for r in rows), summed.hours, policy)
    assert summed.total == by_hour.total == 24
    for category in ("010101", "020101", "01", "02"):
        for level, area in (("county", "450103"), ("county", "450102")):
            for window in (1.0, 24.0):
                for at in (now, now + timedelta(hours=5), now + timedelta(days=3, hours=13)):
                    assert summed.expected(category, level, area, at, window) == \
                        pytest.approx(by_hour.expected(category, level, area, at, window), rel=1e-12)
