"""The duty roster (值班): who is on duty in a unit on a day, and `duty_officer` — the one question other features
(urgent cases, directives, incidents) ask: whom do I phone in this unit now?

Stored as an administrative record (migration 0021: `duty_roster`, with every change appended to the append-only
`duty_roster_changes` in the same transaction), like users and unlike cases: see the migration for why.

A day may have one officer for the whole day (shift "") and/or one per named shift with local times; a shift
whose end is not after its start runs past midnight into the next day and belongs to the day it starts. At a
moment, the officer of a timed shift covering it wins over the whole day's (the more precise answer).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Final

import asyncpg
from pydantic import ConfigDict, Field, field_validator, model_validator

from dispatch.codes import level_of
from dispatch.inputs import HubDate, InputModel
from dispatch.matrix import Matrix
from geo.areas import code_pattern, code_within
from hub.infra.db import Connection
from hub.services.actors import AreaChain
from hub.services.kpis import CHINA

NAME_MAX: Final = 32
SHIFT_MAX: Final = 16
NOTE_MAX: Final = 200
# Mainland numbers a duty phone may be: a mobile (13x–19x, 11 digits) or a landline with its area code
# (0771-1234567, 0771-12345678, an extension after a dash), each optionally after +86 / 86.
# ASCII digits only ([0-9]: a regex \d also matches full-width digits, which nobody can dial).
PHONE_PATTERN: Final = r"^(?:\+?86[ -]?)?(?:1[3-9][0-9]{9}|0[0-9]{2,3}-?[0-9]{7,8}(?:-[0-9]{1,6})?)$"
_PHONE = re.compile(PHONE_PATTERN)
# A unit code: a division code of 6, 9, 12 or 15 digits (geo.areas), a dash, a kind.
_UNIT_CODE = re.compile(code_pattern().removesuffix("$") + r"-[a-z0-9_]{1,32}$")


class DutyAssignment(InputModel):
    """One officer on duty (the body of PUT /api/v1/duty/{unit}; `cityloop duty set`)."""

    model_config = ConfigDict(extra="forbid")
    date: HubDate = Field(description="the local (Asia/Shanghai) day the shift starts")
    name: str = Field(min_length=1, max_length=NAME_MAX)
    phone: str = Field(min_length=5, max_length=32, pattern=PHONE_PATTERN,
                       description="a mainland mobile (13812345678) or landline (0771-1234567) number")
    shift: str = Field(default="", max_length=SHIFT_MAX,
                       description="'' for the whole day, else a label such as 白班 or 夜班")
    starts: time | None = Field(default=None, description="the shift's local start, HH:MM (with `ends`)")
    ends: time | None = Field(default=None, description="the shift's local end; not after `starts`: the next day")
    note: str | None = Field(default=None, max_length=NOTE_MAX)

    @field_validator("name")
    @classmethod
    def _named(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must name someone")
        return value.strip()

    @field_validator("starts", "ends")
    @classmethod
    def _local(cls, value: time | None) -> time | None:
        if value is not None and value.tzinfo is not None:
            raise ValueError("a local time without a zone (Asia/Shanghai)")
        return value

    @model_validator(mode="after")
    def _times_together(self) -> DutyAssignment:
        if (self.starts is None) != (self.ends is None):
            raise ValueError("give `starts` and `ends` together, or neither (the whole day)")
        if self.starts is not None and not self.shift:
            raise ValueError("a shift with times needs a `shift` label (e.g. 白班, 夜班)")
        return self


def valid_phone(phone: str) -> bool:
    return _PHONE.match(phone) is not None


def unit_area(code: str) -> str:
    """The area code a unit belongs to: 450103-cgj → 450103, 450103001-gov → 450103001."""
    return code.partition("-")[0]


@dataclass(frozen=True, slots=True)
class UnitInfo:
    code: str
    name: str
    level: str
    area: str  # the unit's area code


_COLUMNS = "unit, day, shift, starts, ends, name, phone, note, set_by, set_at"


def _entry(row: asyncpg.Record | dict[str, Any]) -> dict[str, Any]:
    return {"unit": row["unit"], "date": row["day"].isoformat(), "shift": row["shift"],
            "starts": row["starts"].strftime("%H:%M") if row["starts"] is not None else None,
            "ends": row["ends"].strftime("%H:%M") if row["ends"] is not None else None,
            "name": row["name"], "phone": row["phone"], "note": row["note"], "set_by": row["set_by"],
            "set_at": row["set_at"].isoformat()}


def _covers(row: dict[str, Any], day: date, moment: time) -> bool:
    """Whether the timed shift `row` covers local `day` at `moment`."""
    starts: time = row["starts"]
    ends: time = row["ends"]
    on: date = row["day"]
    overnight = ends <= starts
    if on == day:
        return starts <= moment and (overnight or moment < ends)
    return overnight and on == day - timedelta(days=1) and moment < ends


def officer_at(rows: Iterable[dict[str, Any]], at: datetime) -> dict[str, Any] | None:
    """Of one unit's entries for the local day of `at` and the day before, the one on duty at `at`: a timed
    shift covering it, else the whole day's, else None (pure: the rule, apart from the query)."""
    local = at.astimezone(CHINA)
    day, moment = local.date(), local.time().replace(tzinfo=None)
    rows = list(rows)
    timed = [r for r in rows if r["starts"] is not None and _covers(r, day, moment)]
    if timed:
        return min(timed, key=lambda r: (r["day"] != day, r["shift"]))
    return next((r for r in rows if r["day"] == day and r["starts"] is None), None)


class DutyRoster:
    """The roster of every unit: set, clear, read by day, and who is on duty at a moment."""

    def __init__(self, pool: asyncpg.Pool, matrix: Matrix | None, area_chain: AreaChain) -> None:
        self._pool = pool
        self._matrix = matrix
        self._area_chain = area_chain

    def unit(self, code: str) -> UnitInfo | None:
        """A unit the responsibility matrix knows by this code (hub.services.actors' lookup: the configured
        units and each area's own government, named from the active boundaries), or None."""
        if not _UNIT_CODE.match(code):
            return None
        area = unit_area(code)
        chain = self._area_chain(area)
        if self._matrix is not None:
            found = self._matrix.unit(code, chain)
            return None if found is None else UnitInfo(found.code, found.name, found.level or level_of(area), area)
        # No matrix (属地兜底 only): the areas' own governments are the only units.
        own = chain.get(level_of(area))
        if code.endswith("-gov") and own is not None and own["code"] == area:
            return UnitInfo(code, f"{own['name']}人民政府", level_of(area), area)
        return None

    async def set(self, unit: str, entry: DutyAssignment, by: str) -> dict[str, Any]:
        """Put `entry` on the roster of `unit` (a known unit: check with `unit` first), replacing the same
        day's same shift; the change is logged with who made it."""
        async with self._pool.acquire() as conn, conn.transaction():
            before = await conn.fetchrow(
                f"SELECT {_COLUMNS} FROM duty_roster WHERE unit = $1 AND day = $2 AND shift = $3 FOR UPDATE",
                unit, entry.date, entry.shift)
            row = await conn.fetchrow(
                "INSERT INTO duty_roster (unit, day, shift, starts, ends, name, phone, note, set_by, set_at) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now()) ON CONFLICT (unit, day, shift) DO UPDATE SET "
                "starts = excluded.starts, ends = excluded.ends, name = excluded.name, phone = excluded.phone, "
                f"note = excluded.note, set_by = excluded.set_by, set_at = excluded.set_at RETURNING {_COLUMNS}",
                unit, entry.date, entry.shift, entry.starts, entry.ends, entry.name, entry.phone, entry.note, by)
            assert row is not None  # INSERT … RETURNING returns the row
            after = _entry(row)
            await self._log(conn, by, "set", unit, entry.date, entry.shift, before, after)
        return after

    async def clear(self, unit: str, day: date, shift: str | None, by: str) -> int:
        """Take `unit`'s officers of `day` off the roster (one shift, or all of them); how many were."""
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                f"DELETE FROM duty_roster WHERE unit = $1 AND day = $2 AND ($3::text IS NULL OR shift = $3) "
                f"RETURNING {_COLUMNS}", unit, day, shift)
            for row in rows:
                await self._log(conn, by, "clear", unit, day, row["shift"], row, None)
        return len(rows)

    @staticmethod
    async def _log(conn: Connection, by: str, action: str, unit: str, day: date, shift: str,
                   before: asyncpg.Record | None, after: dict[str, Any] | None) -> None:
        await conn.execute(
            "INSERT INTO duty_roster_changes (by, action, unit, day, shift, before, after) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7)",
            by, action, unit, day, shift, _entry(before) if before is not None else None, after)

    async def on_day(self, day: date, within: Iterable[str] = ()) -> list[dict[str, Any]]:
        """Every entry of `day`, by unit and shift; only units inside one of the areas `within` when given."""
        rows = await self._pool.fetch(f"SELECT {_COLUMNS} FROM duty_roster WHERE day = $1 ORDER BY unit, shift",
                                      day)
        scopes = list(within)
        return [_entry(r) for r in rows
                if not scopes or any(code_within(unit_area(r["unit"]), s) for s in scopes)]

    async def changes(self, unit: str, limit: int = 50) -> list[dict[str, Any]]:
        """The latest changes to `unit`'s roster, newest first (who set or cleared what, when)."""
        rows = await self._pool.fetch(
            "SELECT id, at, by, action, day, shift, before, after FROM duty_roster_changes WHERE unit = $1 "
            "ORDER BY id DESC LIMIT $2", unit, limit)
        return [{"id": r["id"], "at": r["at"].isoformat(), "by": r["by"], "action": r["action"],
                 "date": r["day"].isoformat(), "shift": r["shift"], "before": r["before"], "after": r["after"]}
                for r in rows]

    async def duty_officer(self, unit_code: str, at: datetime) -> dict[str, Any] | None:
        """Who is on duty in `unit_code` at `at`: {name, phone, shift, starts, ends, date, note} or None.
        The phone is as stored: whoever shows it to a person masks it by `hub.identity.access.sees_duty_phone`."""
        found = await self.duty_officers([unit_code], at)
        return found.get(unit_code)

    async def duty_officers(self, unit_codes: Iterable[str], at: datetime) -> dict[str, dict[str, Any]]:
        """`duty_officer` for several units in one query (a list of urgent cases, a directive's recipients)."""
        codes = sorted(set(unit_codes))
        if not codes:
            return {}
        day = at.astimezone(CHINA).date()
        rows = await self._pool.fetch(
            f"SELECT {_COLUMNS} FROM duty_roster WHERE unit = ANY($1::text[]) AND day BETWEEN $2 AND $3",
            codes, day - timedelta(days=1), day)
        by_unit: dict[str, list[dict[str, Any]]] = {}
        for r in rows:
            by_unit.setdefault(r["unit"], []).append(dict(r))
        out: dict[str, dict[str, Any]] = {}
        for code, entries in by_unit.items():
            row = officer_at(entries, at)
            if row is not None:
                entry = _entry(row)
                out[code] = {k: entry[k] for k in ("name", "phone", "shift", "starts", "ends", "date", "note")}
        return out


def today(at: datetime) -> date:
    """The local (Asia/Shanghai) date of `at`: a roster's day is China's day."""
    return at.astimezone(CHINA).date()
