"""The API fuzzes itself: schemathesis generates requests from the running hub's own /openapi.json — valid
ones, boundary values and deliberately wrong ones — and every answer must be below 500 and match the
schema the spec declares for it.

Deterministic (derandomised generation, no example database) and bounded by examples per operation, so a
failure reproduces on the next run and the runs take about a minute together. Whatever
/openapi.json lists is fuzzed, new endpoints included; only what is not request/response JSON is left out
by path. Path ids come from real records most of the time (a case with a photo, a device, a quarantine
item, an Open311 request), so the fuzzer gets past "404 no such case" into the handlers.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp

from hub.infra.embedded import ServiceUrls
from hub.keys import ALERTS, CLOCK, POOL, QUARANTINE
from tests.conftest import Hub, fresh_database, hub_settings, running_hub
from tests.e2e.test_hotline_to_console import QINGXIU_SEAT
from tests.unit.test_grid_report import png

# Not request/response JSON APIs: the console websocket, static pages and the Prometheus text.
NOT_JSON = r"^/(ws/|static/|console/|m/|metrics$)"
# Signing out ends the session every other request is made with: fuzzed among them, it left two thirds of the
# operations answering only 401 for the rest of the run. It is fuzzed on its own, after the others.
SIGN_OUT = r"^/api/v1/auth/logout$"
EXCLUDED_PATHS = f"{NOT_JSON}|{SIGN_OUT}"
# The city operator's operations in the first of the two halves fuzzed at once (about half of them).
FIRST_HALF = r"^/api/v1/(a|c|de|du)"
# What a fuzzed answer must satisfy: never a server error, and a declared response schema holds.
CHECKS = "not_a_server_error,response_schema_conformance"
# Per operation and phase. The coverage phase adds its own boundary and wrong-type cases on top.
MAX_EXAMPLES = 100
# How often a path id is a real one (the rest of the time it is generated).
REAL_ID_PROBABILITY = 0.7


async def seed(hub: Hub, operator: str) -> dict[str, list[Any]]:
    """Records for the path parameters to name, by parameter."""
    auth = {"Authorization": f"Bearer {operator}"}
    form = aiohttp.FormData(default_to_multipart=True)
    for name, value in (("category", "exposed_rubbish"), ("content", "巡查发现路边垃圾堆积"),
                        ("lng", str(QINGXIU_SEAT[0])), ("lat", str(QINGXIU_SEAT[1]))):
        form.add_field(name, value)
    form.add_field("photo", png(seed=7), filename="p.png", content_type="image/png")
    async with hub.http.post(f"{hub.base}/api/v1/grid/reports", data=form, headers=auth) as resp:
        assert resp.status == 202, await resp.text()
        report = await resp.json()
    device = {"device_id": "FUZZ-WL-1", "kind": "water_level", "location": {"lng": 108.37, "lat": 22.82}}
    async with hub.http.post(f"{hub.base}/api/v1/devices", json=device, headers=auth) as resp:
        assert resp.status == 201, await resp.text()
    item = await hub.app[QUARANTINE].hold("mqtt", "seeded for the fuzz test", b"{}")
    open311 = {"api_key": await hub.api_key("open311"), "service_code": "010101", "attribute[urgency]": "normal",
               "long": "108.37", "lat": "22.82"}
    async with hub.http.post(f"{hub.base}/open311/v2/requests.json", data=open311) as resp:
        assert resp.status == 201, await resp.text()
        [created] = await resp.json()
    alert_id = "0b9a3a5e-2f1d-4a3c-9a4e-5d6f7a8b9c0d"  # recorded through the hub's own append path
    now = hub.app[CLOCK].now()
    await hub.app[ALERTS].raise_alert(alert_id, {
        "kind": "surge", "cell": "surge|010101|township|450103001|1", "category": {"code": "010101", "path": ["x"]},
        "area": {"level": "township", "code": "450103001", "name": "新竹街道"}, "county_code": "450103",
        "observed": 5, "expected": 0.1, "statistic": {"method": "poisson_upper_tail", "p_value": 1e-7,
                                                      "threshold": 1e-3},
        "window": {"hours": 1.0, "start": now.isoformat(), "end": now.isoformat(), "first_report_at": now.isoformat()},
        "at": now.isoformat(), "case_ids": [report["case_id"]]}, now)
    directive = {"title": "台风", "content": "排查排水设施", "recipients": {"units": ["450103001-gov", "450103-cgj"]},
                 "due": (now + timedelta(days=1)).isoformat(), "reply": "report", "attachments": report["photos"]}
    async with hub.http.post(f"{hub.base}/api/v1/directives", json=directive, headers=auth) as resp:
        assert resp.status == 201, await resp.text()
        directive_id = (await resp.json())["directive_id"]
    incident = {"kind": "flood", "level": "III", "title": "fuzz", "areas": ["450103"], "categories": ["0103"]}
    async with hub.http.post(f"{hub.base}/api/v1/incidents", json=incident, headers=auth) as resp:
        assert resp.status == 201, await resp.text()
        incident_id = (await resp.json())["incident_id"]
    return {"case_id": [report["case_id"]], "photo_id": report["photos"], "device_id": ["FUZZ-WL-1"],
            "alert_id": [alert_id], "directive_id": [directive_id], "incident_id": [incident_id],
            "item_id": [item], "service_request_id": [created["service_request_id"]], "token": [created["token"]],
            "code": ["450103", "450103001"], "service_code": ["010101"],
            "unit": ["450103001-gov", "450103-cgj", "450100-zhzx"]}


def config(ids: dict[str, list[Any]]) -> str:
    """A schemathesis configuration (TOML). Every request names the seeded case (a random UUID only ever
    meets "no such case"); the other path parameters name real records most of the time, and an action's
    `expected_version` is often one the case passes through (else nearly every action is a 409)."""
    dictionaries = {name: values for name, values in ids.items() if name != "case_id"}
    lines = ["[parameters]"]
    if "case_id" in ids:
        lines.append(f'"path.case_id" = "{ids["case_id"][0]}"')
        lines.append(f'"body.expected_version" = {{ dictionary = "version", probability = {REAL_ID_PROBABILITY} }}')
        dictionaries["version"] = list(range(2, 12))
    lines += [f'"path.{name}" = {{ dictionary = "{name}", probability = {REAL_ID_PROBABILITY} }}'
              for name in dictionaries if name != "version"]
    for name, values in dictionaries.items():
        rendered = ", ".join(str(v) if isinstance(v, int) else f'"{v}"' for v in values)
        lines += ["", f"[dictionaries.{name}]", f"values = [{rendered}]"]
    return "\n".join(lines) + "\n"


async def run_schemathesis(hub: Hub, header: str, ids: dict[str, list[Any]], directory: Path,
                           *extra: str, exclude: str = EXCLUDED_PATHS) -> tuple[int, str]:
    (directory / "schemathesis.toml").write_text(config(ids), encoding="utf-8")
    args = [
        "-m", "schemathesis.cli", "--config-file", str(directory / "schemathesis.toml"),
        "run", f"{hub.base}/openapi.json",
        "--checks", CHECKS, "--exclude-path-regex", exclude, "-H", header,
        "--generation-deterministic", "--max-examples", str(MAX_EXAMPLES), "--phases", "examples,coverage,fuzzing",
        "--workers", "1", "--request-timeout", "20", "--no-color",
        *extra,
    ]
    # In the test's own directory: schemathesis keeps a cache folder in its working directory.
    proc = await asyncio.create_subprocess_exec(sys.executable, *args, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT, cwd=directory)
    out, _ = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(errors="replace")


async def fuzz_as_city_operator(hub: Hub, directory: Path, *extra: str,
                                exclude: str = EXCLUDED_PATHS) -> tuple[str, dict[str, list[Any]]]:
    """A city operator's run against this hub, with records of its own seeded first; the operator's token and
    the seeded ids for what follows. `directory`: an existing one of its own."""
    token = await hub.login("city_operator", "450100")
    ids = await seed(hub, token)
    code, output = await run_schemathesis(hub, f"Authorization: Bearer {token}", ids, directory, *extra,
                                          exclude=exclude)
    assert code == 0, output[-20_000:]
    assert "401 Unauthorized (" not in output, "operations met only 401: the session ended\n" + output[-20_000:]
    return token, ids


async def test_no_request_makes_the_hub_fail_as_a_city_operator(
        hub: Hub, tmp_path: Path, service_urls: ServiceUrls, template_database: str, work_dir: Path) -> None:
    """The longest run, so in two halves at once (a test machine has two cores; schemathesis uses one): each half
    against a hub and a database of its own, seeded alike, so that each stays as deterministic as the whole was.
    The second half is exactly what the first leaves out."""
    first, second, sign_out = tmp_path / "first", tmp_path / "second", tmp_path / "sign-out"
    for directory in (first, second, sign_out):
        directory.mkdir()
    async with (fresh_database(service_urls, template_database) as url,
                running_hub(hub_settings(url, service_urls, work_dir)) as other):
        halves = await asyncio.gather(
            fuzz_as_city_operator(hub, first, "--include-path-regex", FIRST_HALF),
            fuzz_as_city_operator(other, second, exclude=f"{EXCLUDED_PATHS}|{FIRST_HALF}"))
    token, ids = halves[0]  # the first hub's operator signs out
    code, output = await run_schemathesis(hub, f"Authorization: Bearer {token}", ids, sign_out,
                                          "--include-path-regex", SIGN_OUT, exclude=NOT_JSON)
    assert code == 0, output[-20_000:]


async def test_no_request_makes_the_hub_fail_as_the_machine_clients(hub: Hub, tmp_path: Path) -> None:
    """The hotline's and the IoT devices' own endpoints, each with its key (a key of one machine role is
    refused on the other's paths, so each run is limited to its own)."""
    hotline = tmp_path / "hotline"
    hotline.mkdir()
    code, output = await run_schemathesis(hub, f"X-API-Key: {await hub.hotline_key()}", {}, hotline,
                                          "--include-path-regex", r"^/api/v1/hotline/")
    assert code == 0, output[-20_000:]
    iot = tmp_path / "iot"
    iot.mkdir()
    operator = await hub.login("city_operator", "450100")
    ids = await seed(hub, operator)
    code, output = await run_schemathesis(hub, f"X-API-Key: {await hub.api_key('iot')}", ids, iot,
                                          "--include-path-regex", r"^/api/v1/iot/")
    assert code == 0, output[-20_000:]


async def test_no_request_makes_the_hub_fail_as_an_admin_on_the_admin_paths(hub: Hub, tmp_path: Path) -> None:
    """The admin-only paths (what the hub learned from 研判), as the admin who may use them, with a learned entry
    for the revoke to find."""
    await hub.app[POOL].execute(
        "INSERT INTO learned_categories (key, original, code, case_id, learned_by, learned_at) "
        "VALUES ('zx-0931', 'ZX-0931', '010101', gen_random_uuid(), 'county_dispatcher:d', now())")
    token = await hub.login("admin", None)
    code, output = await run_schemathesis(hub, f"Authorization: Bearer {token}", {"key": ["zx-0931"]}, tmp_path,
                                          "--include-path-regex", r"^/api/v1/admin/")
    assert code == 0, output[-20_000:]
