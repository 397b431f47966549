"""The duty roster (值班, issue 18 item 3) end to end on a real hub and PostgreSQL: who may set whose officers, field
errors that name the field, reading clipped to each role's jurisdiction with phones masked for the roles that need
not call (and unmasked reads audited), `duty_officer` across day and night shifts, an urgent case showing its lead
unit's officer, the change log, and `cityloop duty set/list/clear`."""

from __future__ import annotations

import asyncio
import getpass
import os
import subprocess
import sys
from datetime import UTC, datetime, time, timedelta, timezone
from typing import Any

import asyncpg
import pytest

from hub.keys import DUTY, LOCATOR, POOL
from hub.services.duty import today
from tests.conftest import Hub
from tests.e2e.test_hotline_to_console import QINGXIU_SEAT, push, ticket
from tools.demo import DEMO_ROSTER_GAPS, seed_demo_roster

XINZHU = "450103001"  # 新竹街道, 青秀区
CHINA = timedelta(hours=8)


async def call(hub: Hub, token: str, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    async with hub.http.request(method, f"{hub.base}{path}", headers={"Authorization": f"Bearer {token}"},
                                **kwargs) as resp:
        return resp.status, await resp.json()


def officer(day: str, name: str = "黄海峰", phone: str = "13907711234", **extra: Any) -> dict[str, Any]:
    return {"date": day, "name": name, "phone": phone, **extra}


def fields(body: dict[str, Any]) -> set[str]:
    return {f["field"] for f in body["error"]["fields"]}


async def test_the_city_and_a_county_set_officers_within_their_jurisdiction_and_bad_fields_are_named(hub: Hub) -> None:
    day = today(datetime.now(UTC)).isoformat()
    operator = await hub.login("city_operator", None)
    qingxiu = await hub.login("county_dispatcher", "450103")
    handler = await hub.login("township_handler", XINZHU)

    status, body = await call(hub, operator, "PUT", f"/api/v1/duty/{XINZHU}-gov", json=officer(day))
    assert status == 200, body
    assert body["unit"] == {"code": f"{XINZHU}-gov", "name": "新竹街道人民政府", "level": "township"}
    assert body["officer"]["phone"] == "13907711234" and body["officer"]["set_by"].startswith("city_operator:")
    status, body = await call(hub, qingxiu, "PUT", "/api/v1/duty/450103-cgj",
                              json=officer(day, phone="0771-5551234", shift="夜班", starts="18:00", ends="08:00"))
    assert status == 200 and body["officer"]["shift"] == "夜班" and body["officer"]["ends"] == "08:00", body
    # Another county's unit is not the dispatcher's to see; a township handler keeps no roster.
    status, body = await call(hub, qingxiu, "PUT", "/api/v1/duty/450102-gov", json=officer(day))
    assert status == 404, body
    status, body = await call(hub, handler, "PUT", f"/api/v1/duty/{XINZHU}-gov", json=officer(day))
    assert status == 403, body

    for unit in ("450103-nope", "999999-gov", "not-a-unit", "450103001999-gov", "4501031-gov", "４５０１０３-gov"):
        status, body = await call(hub, operator, "PUT", f"/api/v1/duty/{unit}", json=officer(day))
        assert status == 422 and fields(body) == {"unit"}, (unit, body)
    for bad, field in ((officer(day, phone="12345"), "phone"), (officer(day, phone="138123456789"), "phone"),
                       (officer(day, phone="1381234567\x00"), "phone"),
                       (officer(day, phone="１３８１２３４５６７８"), "phone"), (officer(day, name="黄\x00"), "name"),
                       (officer(day, name="黄" * 33), "name"), (officer(day, name="  "), "name"),
                       (officer("2026-13-01"), "date"), (officer(day, shift="班" * 17), "shift"),
                       (officer(day, note="x" * 201), "note"), ({"date": day, "name": "黄"}, "phone")):
        status, body = await call(hub, operator, "PUT", f"/api/v1/duty/{XINZHU}-gov", json=bad)
        assert status == 422 and field in fields(body), (bad, body)
    status, body = await call(hub, operator, "PUT", f"/api/v1/duty/{XINZHU}-gov",
                              json=officer(day, shift="白班", starts="08:00"))
    assert status == 422, body
    status, body = await call(hub, operator, "PUT", f"/api/v1/duty/{XINZHU}-gov", json={**officer(day), "x": 1})
    assert status == 422 and "x" in fields(body), body

    # Every change is logged with who made it, and the log cannot be rewritten.
    pool = hub.app[POOL]
    rows = await pool.fetch("SELECT by, action, unit FROM duty_roster_changes ORDER BY id")
    assert [(r["action"], r["unit"]) for r in rows] == [("set", f"{XINZHU}-gov"), ("set", "450103-cgj")]
    assert rows[1]["by"].startswith("county_dispatcher:")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await pool.execute("UPDATE duty_roster_changes SET by = 'someone else'")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await pool.execute("DELETE FROM duty_roster_changes")

    status, body = await call(hub, qingxiu, "DELETE", "/api/v1/duty/450103-cgj", params={"date": day})
    assert status == 200 and body["cleared"] == 1, body
    status, body = await call(hub, qingxiu, "DELETE", "/api/v1/duty/450103-cgj", params={"date": "yesterday"})
    assert status == 422 and fields(body) == {"date"}, body
    status, body = await call(hub, qingxiu, "GET", "/api/v1/duty/450103-cgj/changes")
    assert status == 200, body
    changes = body["changes"]
    assert [c["action"] for c in changes] == ["clear", "set"] and changes[0]["before"]["name"] == "黄海峰"
    assert changes[0]["by"].startswith("county_dispatcher:") and changes[1]["after"]["phone"] == "0771-5551234"
    auditor = await hub.login("auditor", None)
    status, body = await call(hub, auditor, "GET", "/api/v1/duty/450103-cgj/changes")
    assert status == 200 and body["changes"][1]["after"]["phone"] == "077****1234", body
    assert (await call(hub, qingxiu, "GET", "/api/v1/duty/450102-gov/changes"))[0] == 404
    assert (await call(hub, handler, "GET", f"/api/v1/duty/{XINZHU}-gov/changes"))[0] == 403


async def test_each_role_reads_its_jurisdiction_and_only_the_callers_see_the_numbers(hub: Hub) -> None:
    day = today(datetime.now(UTC))
    operator, auditor = await hub.login("city_operator", None), await hub.login("auditor", None)
    for unit, phone in ((f"{XINZHU}-gov", "13907710001"), ("450103-gov", "13907710002"),
                        ("450102-gov", "13907710003"), ("450100-zhzx", "13907710004")):
        status, body = await call(hub, operator, "PUT", f"/api/v1/duty/{unit}", json=officer(day.isoformat(),
                                                                                             phone=phone))
        assert status == 200, body

    def by_code(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
        return {u["code"]: u for u in body["units"]}

    status, body = await call(hub, operator, "GET", "/api/v1/duty")
    assert status == 200 and body["date"] == day.isoformat(), body
    units = by_code(body)
    counties = [u for u in body["units"] if u["level"] == "county"]
    townships = [u for u in body["units"] if u["level"] == "township"]
    assert len(counties) == 12 and len(townships) > 100, "every county and township, on the roster or not"
    assert units[f"{XINZHU}-gov"]["officers"][0]["phone"] == "13907710001"
    assert units["450100-zhzx"]["officers"][0]["phone"] == "13907710004", "city units with an officer too"
    assert sum(1 for u in townships if not u["officers"]) == len(townships) - 1, "the gaps: 未排班"
    [entry] = (await call(hub, auditor, "GET", "/api/v1/audit", params={"kind": "personal_data_read"}))[1]["entries"]
    assert entry["path"] == "GET /api/v1/duty" and entry["detail"]["data"] == ["duty_phone"]
    assert set(entry["detail"]["units"]) == {f"{XINZHU}-gov", "450103-gov", "450102-gov", "450100-zhzx"}

    # The auditor sees the whole city, masked (nothing more recorded).
    _, body = await call(hub, auditor, "GET", "/api/v1/duty")
    assert by_code(body)[f"{XINZHU}-gov"]["officers"][0]["phone"] == "139****0001"
    _, audited = await call(hub, auditor, "GET", "/api/v1/audit", params={"kind": "personal_data_read"})
    assert len(audited["entries"]) == 1

    # A county dispatcher: its county's units and townships, numbers shown (it must call them).
    qingxiu = await hub.login("county_dispatcher", "450103")
    _, body = await call(hub, qingxiu, "GET", "/api/v1/duty")
    units = by_code(body)
    assert units and all(code.startswith("450103") for code in units), sorted(units)
    assert units["450103-gov"]["officers"][0]["phone"] == "13907710002" and "450102-gov" not in units
    _, body = await call(hub, qingxiu, "GET", "/api/v1/duty", params={"level": "township", "parent": "450102"})
    assert body["units"] == [], "a parent outside the jurisdiction lists nothing"

    # A township: its own government only; its own staff see their colleague's number, a grid worker does not
    # (it is not its unit) — unless given that unit.
    handler = await hub.login("township_handler", XINZHU)
    _, body = await call(hub, handler, "GET", "/api/v1/duty")
    assert list(by_code(body)) == [f"{XINZHU}-gov"]
    assert body["units"][0]["officers"][0]["phone"] == "13907710001"
    grid = await hub.login("grid_worker", XINZHU)
    _, body = await call(hub, grid, "GET", "/api/v1/duty")
    assert body["units"][0]["officers"][0]["phone"] == "139****0001"

    _, body = await call(hub, operator, "GET", "/api/v1/duty", params={"level": "township", "parent": "450103"})
    assert body["units"] and all(u["level"] == "township" and u["code"].startswith("450103") for u in body["units"])
    tomorrow = (day + timedelta(days=1)).isoformat()
    _, body = await call(hub, operator, "GET", "/api/v1/duty", params={"date": tomorrow, "level": "county"})
    assert len(body["units"]) == 12 and not any(u["officers"] for u in body["units"])
    for params, field in (({"level": "planet"}, "level"), ({"parent": "4501"}, "parent"),
                          ({"date": "2026-02-30"}, "date"), ({"date": "1900-01-01"}, "date"), ({"x": "1"}, "x")):
        status, body = await call(hub, operator, "GET", "/api/v1/duty", params=params)
        assert status == 422 and fields(body) == {field}, (params, body)


async def test_duty_officer_knows_day_night_and_whole_day_shifts(hub: Hub) -> None:
    roster = hub.app[DUTY]
    operator = await hub.login("city_operator", None)
    day = datetime(2026, 12, 7)  # a local day
    iso = day.date().isoformat()
    for body in (officer(iso, name="全天", phone="13900000001"),
                 officer(iso, name="白班", phone="13900000002", shift="白班", starts="08:00", ends="18:00"),
                 officer(iso, name="夜班", phone="13900000003", shift="夜班", starts="18:00", ends="08:00")):
        status, answer = await call(hub, operator, "PUT", "/api/v1/duty/450103-gov", json=body)
        assert status == 200, answer

    def local(hours: float) -> datetime:  # hours after local midnight of `day`, as a UTC moment
        return (day + timedelta(hours=hours) - CHINA).replace(tzinfo=UTC)

    async def who(hours: float) -> str | None:
        found = await roster.duty_officer("450103-gov", local(hours))
        return None if found is None else found["name"]

    assert await who(9) == "白班" and await who(17.99) == "白班"
    assert await who(18) == "夜班" and await who(23.5) == "夜班"
    assert await who(24 + 7.5) == "夜班", "the night shift runs into the next morning"
    assert await who(24 + 9) is None, "nobody is on the next day's roster"
    assert await who(7) == "全天", "before the day shift starts, the whole day's officer"
    found = await roster.duty_officer("450103-gov", local(12))
    assert found == {"name": "白班", "phone": "13900000002", "shift": "白班", "starts": "08:00", "ends": "18:00",
                     "date": iso, "note": None}
    assert await roster.duty_officer("450102-gov", local(12)) is None


async def test_an_urgent_case_shows_its_lead_units_duty_officer_masked_for_those_who_need_not_call(hub: Hub) -> None:
    key = await hub.hotline_key()
    operator, auditor = await hub.login("city_operator", None), await hub.login("auditor", None)
    status, placed = await push(hub, key, ticket(QINGXIU_SEAT, urgency="urgent"))
    assert status in (200, 201, 202), placed
    _, case = await call(hub, operator, "GET", f"/api/v1/cases/{placed['case_id']}")
    lead = case["units"]["lead"]
    assert case["duty_officer"] is None, "nobody on the roster yet"
    status, _ = await call(hub, operator, "PUT", f"/api/v1/duty/{lead['code']}",
                           json=officer(today(datetime.now(UTC)).isoformat(), name="梁建国", phone="13877112233"))
    assert status == 200
    _, case = await call(hub, operator, "GET", f"/api/v1/cases/{placed['case_id']}")
    assert case["sla"]["class"] == "urgent"
    assert case["duty_officer"]["name"] == "梁建国" and case["duty_officer"]["phone"] == "13877112233"
    assert case["duty_officer"]["unit"] == {"code": lead["code"], "name": lead["name"]}
    _, audited = await call(hub, auditor, "GET", "/api/v1/audit", params={"case_id": placed["case_id"]})
    assert any(e["detail"] == {"data": ["duty_phone"], "units": [lead["code"]]} for e in audited["entries"])
    grid = await hub.login("grid_worker", case["areas"]["township"]["code"])
    _, seen = await call(hub, grid, "GET", f"/api/v1/cases/{placed['case_id']}")
    assert seen["duty_officer"]["phone"] == "138****2233" and seen["duty_officer"]["name"] == "梁建国"


def cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url, "CITYLOOP_LOG_LEVEL": "WARNING"}
    return subprocess.run([sys.executable, "-m", "hub.cli", "duty", *args], env=env, capture_output=True, text=True,
                          timeout=120)


async def test_the_cli_sets_lists_and_clears_with_field_errors(hub: Hub, database_url: str) -> None:
    day = "2026-12-08"
    done = await asyncio.to_thread(cli, database_url, "set", f"{XINZHU}-gov", "--date", day, "--name", "陆海燕",
                                   "--phone", "13978001122", "--shift", "夜班", "--starts", "18:00", "--ends", "08:00")
    assert done.returncode == 0, done.stderr
    assert "新竹街道人民政府" in done.stdout and "陆海燕" in done.stdout
    bad = await asyncio.to_thread(cli, database_url, "set", f"{XINZHU}-gov", "--date", day, "--name", "陆海燕",
                                  "--phone", "12345")
    assert bad.returncode == 2 and "phone" in bad.stderr, bad
    unknown = await asyncio.to_thread(cli, database_url, "set", "450103-nope", "--date", day, "--name", "陆海燕",
                                      "--phone", "13978001122")
    assert unknown.returncode == 2 and "unit" in unknown.stderr, unknown
    listed = await asyncio.to_thread(cli, database_url, "list", "--date", day)
    assert listed.returncode == 0 and f"{XINZHU}-gov" in listed.stdout and "13978001122" in listed.stdout, listed
    assert "18:00–08:00" in listed.stdout and f"cli:{getpass.getuser()}" in listed.stdout
    found = await hub.app[DUTY].on_day(datetime.fromisoformat(day).date())
    assert [(e["unit"], e["name"], e["set_by"]) for e in found] == [(f"{XINZHU}-gov", "陆海燕",
                                                                     f"cli:{getpass.getuser()}")]
    cleared = await asyncio.to_thread(cli, database_url, "clear", f"{XINZHU}-gov", "--date", day)
    assert cleared.returncode == 0 and "1 duty entry" in cleared.stdout, cleared
    assert await hub.app[DUTY].on_day(datetime.fromisoformat(day).date()) == []
    empty = await asyncio.to_thread(cli, database_url, "list", "--date", day)
    assert "nobody" in empty.stdout


async def test_the_demo_roster_covers_yesterday_today_and_tomorrow_but_its_gaps(hub: Hub) -> None:
    locator, roster = hub.app[LOCATOR], hub.app[DUTY]
    townships = [a["code"] for a in locator.children(None, "township")]
    counties = [a["code"] for a in locator.children(None, "county")]
    now = datetime.now(UTC)
    made = await seed_demo_roster(roster, townships, counties, now)
    assert made == 3 * (2 + 2 * len(counties) + len(townships) - len(DEMO_ROSTER_GAPS))
    assert await seed_demo_roster(roster, townships, counties, now) == 0, "a second start changes nothing"
    operator = await hub.login("city_operator", None)
    for day in (today(now) - timedelta(days=1), today(now), today(now) + timedelta(days=1)):
        _, body = await call(hub, operator, "GET", "/api/v1/duty", params={"date": day.isoformat()})
        gaps = {u["code"] for u in body["units"] if not u["officers"]}
        assert gaps == set(DEMO_ROSTER_GAPS), day
    assert await roster.duty_officer("450100-zhzx", now) is not None
    # Just after local midnight (Beijing, UTC+8) the night shift that began yesterday at 18:00 is on duty.
    after_midnight = datetime.combine(today(now), time(0, 30), tzinfo=timezone(timedelta(hours=8))).astimezone(UTC)
    assert await roster.duty_officer("450100-zhzx", after_midnight) is not None
