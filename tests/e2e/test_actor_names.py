"""Who did it, as people read it (issue 15, item 8): a case's timeline names each actor by display name and
unit: the name and unit at the time of the action for actions recorded with them, the users table's for older
events; the system and the channels by kind. The console config names the user's unit and every category in
Chinese and English."""

from __future__ import annotations

from typing import Any

from hub.identity.auth import add_user
from hub.keys import LOCATOR, POLICY, POOL
from hub.services.actors import describe_actors
from tests.conftest import Hub
from tests.e2e.test_grid_reports import post_report, report_fields
from tests.e2e.test_hotline_to_console import QINGXIU_SEAT, push, ticket

PASSWORD = "correct horse battery"


async def api_token(hub: Hub, username: str) -> str:
    async with hub.http.post(f"{hub.base}/api/v1/auth/login", json={"username": username, "password": PASSWORD}) as r:
        assert r.status == 200, await r.text()
        return str((await r.json())["token"])


async def api_get(hub: Hub, token: str, path: str) -> dict[str, Any]:
    async with hub.http.get(f"{hub.base}{path}", headers={"Authorization": f"Bearer {token}"}) as resp:
        assert resp.status == 200, await resp.text()
        return dict(await resp.json())


async def api_act(hub: Hub, token: str, case_id: str, action: str, version: int, **fields: Any) -> dict[str, Any]:
    async with hub.http.post(f"{hub.base}/api/v1/cases/{case_id}/actions", headers={"Authorization": f"Bearer {token}"},
                             json={"action": action, "expected_version": version, **fields}) as resp:
        body = await resp.json()
        assert resp.status == 200, body
        return dict(body["case"])


async def user(hub: Hub, username: str, role: str, area: str | None, **profile: Any) -> str:
    await add_user(hub.app[POOL], username, PASSWORD, role, area, **profile)
    return await api_token(hub, username)


async def test_the_timeline_names_people_by_the_name_and_unit_they_had_when_they_acted(hub: Hub) -> None:
    operator = await user(hub, "op-zhou", "city_operator", None, display_name="周晓梅", unit="450100-zhzx")
    status, answer = await push(hub, await hub.hotline_key(), ticket(QINGXIU_SEAT, category="streetlight"))
    assert status == 202, answer
    case = await api_act(hub, operator, answer["case_id"], "comment", 2, note="已联系")
    # Renamed and moved afterwards: the audit trail keeps who they were when they acted.
    await hub.app[POOL].execute(
        "UPDATE users SET display_name = '周小梅', unit = '450103-zhzx' WHERE username = 'op-zhou'")
    timeline = (await api_get(hub, operator, f"/api/v1/cases/{case['case_id']}"))["timeline"]
    by = {e["type"]: e["by"] for e in timeline}
    assert by["case.commented"] == {"kind": "user", "role": "city_operator", "name": "周晓梅",
                                    "unit": {"code": "450100-zhzx", "name": "南宁市城市运行管理指挥中心"}}
    assert by["case.received"] == {"kind": "hotline", "name": timeline[0]["actor"].split(":", 1)[1]}
    assert timeline[-1]["actor"] == "city_operator:op-zhou", "the recorded actor stays as it was"


async def test_events_without_a_recorded_name_are_described_from_the_users_table(hub: Hub) -> None:
    await add_user(hub.app[POOL], "hd-lu", PASSWORD, "township_handler", "450103001", display_name="陆海燕")
    await add_user(hub.app[POOL], "cd-plain", PASSWORD, "county_dispatcher", "450103")
    described = await describe_actors(hub.app[POOL], hub.app[POLICY].matrix, hub.app[LOCATOR].area_chain, [
        {"actor": "township_handler:hd-lu"}, {"actor": "county_dispatcher:cd-plain"},
        {"actor": "county_dispatcher:gone"}, {"actor": "system"}, {"actor": "system:system"},
        {"actor": "iot:dev-7"}, {"actor": "open311:app"}, {}, {"actor": "robot:x"}])
    assert described == [
        {"kind": "user", "role": "township_handler", "name": "陆海燕",
         "unit": {"code": "450103001-gov", "name": "新竹街道人民政府"}},  # the township handler's default unit
        {"kind": "user", "role": "county_dispatcher", "name": "cd-plain"},  # no display name, no unit
        {"kind": "user", "role": "county_dispatcher", "name": "gone"},  # no longer a user
        {"kind": "system"}, {"kind": "system"},
        {"kind": "iot", "name": "dev-7"}, {"kind": "open311", "name": "app"}, None,
        {"kind": "other", "name": "robot:x"}]


async def test_the_console_config_names_the_users_unit_and_categories_in_both_languages(hub: Hub) -> None:
    token = await user(hub, "cd-huang", "county_dispatcher", "450103", display_name="黄志强", unit="450103-zhzx")
    config = await api_get(hub, token, "/api/v1/console/config")
    assert (config["user"]["display_name"], config["user"]["unit_name"]) == ("黄志强", "青秀区城市运行管理中心")
    names = config["category_names"]
    assert names["exposed_rubbish"] == names["030101"] == {"zh": ["市容环境", "环卫设施", "暴露垃圾"],
                                                           "en": ["City appearance", "Sanitation facilities",
                                                                  "Exposed rubbish"]}
    assert names["03"] == {"zh": ["市容环境"], "en": ["City appearance"]}, "classes too: a case may sit on one"
    streetlight = next(c for c in config["categories"] if c["category"] == "streetlight")
    assert (streetlight["name_en"], streetlight["group_en"]) == ("Streetlight", "Public utilities")


async def test_a_grid_workers_report_records_their_name_and_unit_at_the_time(hub: Hub) -> None:
    worker = await user(hub, "grid-meng", "grid_worker", "450103", display_name="蒙小军", unit="450103-cgj")
    status, answer = await post_report(hub, worker, report_fields())
    assert status == 202, answer
    await hub.app[POOL].execute("UPDATE users SET display_name = '蒙大军' WHERE username = 'grid-meng'")
    timeline = (await api_get(hub, worker, f"/api/v1/cases/{answer['case_id']}"))["timeline"]
    assert timeline[0]["actor"] == "grid_worker:grid-meng"
    assert timeline[0]["by"] == {"kind": "user", "role": "grid_worker", "name": "蒙小军",
                                 "unit": {"code": "450103-cgj", "name": "青秀区城市管理局"}}
