"""Grid worker patrol reports over real HTTP: photos checked by content, stored, served only within the
case's jurisdiction, and kept across a restart."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from multidict import CIMultiDictProxy

from hub.infra.settings import Settings
from hub.services.photos import LocalPhotoStore
from tests.conftest import Hub, running_hub
from tests.unit.test_grid_report import encode, jpeg, noise, png, truncated

POINT = (108.37, 22.82)  # inside 青秀区 (450103); the township is asked of the router, not assumed
RUBBISH = "exposed_rubbish"  # the demo matrix gives it to the township government, so a handler can act


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def multipart(fields: dict[str, str], photos: Sequence[tuple[str, bytes]]) -> aiohttp.FormData:
    form = aiohttp.FormData(default_to_multipart=True)
    for name, value in fields.items():
        form.add_field(name, value)
    for filename, data in photos:
        # The declared type is a lie on purpose in some tests: the hub must judge the bytes.
        form.add_field("photo", data, filename=filename, content_type="image/jpeg")
    return form


def report_fields(**extra: str) -> dict[str, str]:
    fields = {"category": RUBBISH, "content": "巡查发现路边垃圾堆积", "lng": str(POINT[0]), "lat": str(POINT[1])}
    fields.update(extra)
    return {k: v for k, v in fields.items() if v != "-"}  # "-" drops a default field


async def post_report(hub: Hub, token: str, fields: dict[str, str], photos: Sequence[tuple[str, bytes]] = ()
                      ) -> tuple[int, dict[str, Any]]:
    async with hub.http.post(f"{hub.base}/api/v1/grid/reports", data=multipart(fields, photos),
                             headers=bearer(token)) as resp:
        return resp.status, dict(await resp.json())


async def fetch_photo(hub: Hub, token: str, case_id: str, photo_id: str
                      ) -> tuple[int, bytes, CIMultiDictProxy[str]]:
    async with hub.http.get(f"{hub.base}/api/v1/cases/{case_id}/photos/{photo_id}", headers=bearer(token)) as resp:
        return resp.status, await resp.read(), resp.headers


async def get_json(hub: Hub, token: str, path: str, **params: Any) -> dict[str, Any]:
    async with hub.http.get(f"{hub.base}{path}", params=params, headers=bearer(token)) as resp:
        assert resp.status == 200, await resp.text()
        return dict(await resp.json())


async def act(hub: Hub, token: str, case_id: str, action: str, **fields: Any) -> dict[str, Any]:
    case = await get_json(hub, token, f"/api/v1/cases/{case_id}")
    body = {"action": action, "expected_version": case["version"], **fields}
    async with hub.http.post(f"{hub.base}/api/v1/cases/{case_id}/actions", json=body, headers=bearer(token)) as resp:
        assert resp.status == 200, await resp.text()
        return dict((await resp.json())["case"])


async def upload(hub: Hub, token: str, filename: str, data: bytes) -> tuple[int, dict[str, Any]]:
    async with hub.http.post(f"{hub.base}/api/v1/photos", data=multipart({}, [(filename, data)]),
                             headers=bearer(token)) as resp:
        return resp.status, dict(await resp.json())


def field_messages(body: dict[str, Any]) -> dict[str, str]:
    return {f["field"]: f["message"] for f in body["error"]["fields"]}


async def test_a_report_with_two_photos_becomes_a_case_at_the_right_township_and_the_photos_are_served_within_it(
        hub: Hub) -> None:
    worker = await hub.login("grid_worker", "450103")
    operator = await hub.login("city_operator", None)
    routed = await get_json(hub, operator, "/api/v1/route", lng=POINT[0], lat=POINT[1])
    assert routed["areas"]["county"]["code"] == "450103"
    township = routed["areas"]["township"]["code"]
    photo_a, photo_b = jpeg(), png()

    status, answer = await post_report(hub, worker, report_fields(title="垃圾堆积"),
                                       [("a.jpg", photo_a), ("b.png", photo_b)])
    assert status == 202, answer
    assert answer["duplicate"] is False and len(answer["photos"]) == 2

    case = await get_json(hub, operator, f"/api/v1/cases/{answer['case_id']}")
    assert case["areas"]["township"]["code"] == township
    assert case["state"] == "dispatched" and case["source"] == "grid"
    assert case["report"]["photos"] == answer["photos"]
    assert case["report"]["channel"] == "grid" and case["report"]["location_source"] == "form"
    assert case["location"] == pytest.approx({"lng": POINT[0], "lat": POINT[1]})

    handler = await hub.login("township_handler", township)
    for token in (handler, operator):
        for photo_id, data, content_type in zip(answer["photos"], (photo_a, photo_b), ("image/jpeg", "image/png"),
                                                strict=True):
            status, body, headers = await fetch_photo(hub, token, answer["case_id"], photo_id)
            assert status == 200 and body == data
            assert headers["Content-Type"] == content_type
            assert headers["Cache-Control"] == "private, max-age=86400"
            assert headers["X-Content-Type-Options"] == "nosniff"

    # Outside the jurisdiction: 404, the same as for a case that does not exist (existence is not revealed).
    for role, area in (("township_handler", "450102001"), ("county_dispatcher", "450102")):
        stranger = await hub.login(role, area)
        status, _, _ = await fetch_photo(hub, stranger, answer["case_id"], answer["photos"][0])
        assert status == 404, (role, area)
    assert (await fetch_photo(hub, operator, str(uuid.uuid4()), answer["photos"][0]))[0] == 404
    async with hub.http.get(f"{hub.base}/api/v1/cases/{answer['case_id']}/photos/{answer['photos'][0]}") as resp:
        assert resp.status == 401


async def test_exif_gps_places_the_report_when_the_form_has_no_coordinates(hub: Hub) -> None:
    worker = await hub.login("grid_worker", "450103")
    operator = await hub.login("city_operator", None)
    status, answer = await post_report(hub, worker, report_fields(lng="-", lat="-"),
                                       [("no-gps.png", png()), ("gps.jpg", jpeg(gps=POINT))])
    assert status == 202, answer
    case = await get_json(hub, operator, f"/api/v1/cases/{answer['case_id']}")
    assert case["report"]["location_source"] == "exif"
    assert case["location"] == pytest.approx({"lng": POINT[0], "lat": POINT[1]}, abs=1e-6)
    routed = await get_json(hub, operator, "/api/v1/route", lng=POINT[0], lat=POINT[1])
    assert case["areas"]["township"] == routed["areas"]["township"]


async def test_photos_that_are_not_images_are_refused_by_content_and_named(hub: Hub) -> None:
    worker = await hub.login("grid_worker", "450103")
    operator = await hub.login("city_operator", None)
    status, body = await post_report(hub, worker, report_fields(),
                                     [("good.jpg", jpeg()), ("photo.jpg", b"just some text, not a picture\n")])
    assert status == 415, body
    message = field_messages(body)["photo"]
    assert "photo 2" in message and "photo.jpg" in message and "text" in message

    status, body = await post_report(hub, worker, report_fields(), [("cut.jpg", truncated(jpeg()))])
    assert status == 415 and "cut.jpg" in field_messages(body)["photo"]
    assert "truncated JPEG" in field_messages(body)["photo"]

    status, body = await post_report(hub, worker, report_fields(), [("anim.jpg", encode(noise((16, 16)), "GIF"))])
    assert status == 415 and "GIF" in field_messages(body)["photo"]
    listed = await get_json(hub, operator, "/api/v1/cases")
    assert listed["cases"] == [], "a refused report records nothing"


async def test_missing_category_content_too_long_and_no_location_are_422_naming_the_field(hub: Hub) -> None:
    worker = await hub.login("grid_worker", "450103")
    status, body = await post_report(hub, worker, report_fields(category="-"), [("a.jpg", jpeg())])
    assert status == 422 and "category" in field_messages(body)

    status, body = await post_report(hub, worker, report_fields(content="字" * 2001))
    assert status == 422 and "content" in field_messages(body)

    status, body = await post_report(hub, worker, report_fields(lat="-"))
    assert status == 422 and set(field_messages(body)) == {"lat"}

    status, body = await post_report(hub, worker, report_fields(lng="-", lat="-"), [("a.png", png())])
    assert status == 422 and set(field_messages(body)) == {"lng", "lat"}

    # An address alone is enough: the gazetteer places it, or the case goes to triage — never lost.
    status, body = await post_report(hub, worker, report_fields(lng="-", lat="-", address="青秀区民族大道"))
    assert status == 202, body


async def test_only_reporting_roles_may_report_and_only_as_multipart(hub: Hub) -> None:
    auditor = await hub.login("auditor", None)
    status, body = await post_report(hub, auditor, report_fields())
    assert status == 403 and body["error"]["code"] == "forbidden"
    async with hub.http.post(f"{hub.base}/api/v1/grid/reports", data=multipart(report_fields(), [])) as resp:
        assert resp.status == 401
    worker = await hub.login("grid_worker", "450103")
    async with hub.http.post(f"{hub.base}/api/v1/grid/reports", json=report_fields(), headers=bearer(worker)) as resp:
        assert resp.status == 415 and "multipart/form-data" in (await resp.json())["error"]["message"]


async def test_a_retry_with_the_same_report_id_returns_the_same_case(hub: Hub) -> None:
    worker = await hub.login("grid_worker", "450103")
    photo = jpeg()
    fields = report_fields(report_id=f"phone-{uuid.uuid4().hex[:8]}")
    status, first = await post_report(hub, worker, fields, [("a.jpg", photo)])
    assert status == 202 and first["duplicate"] is False
    status, again = await post_report(hub, worker, fields, [("a.jpg", photo)])
    assert status == 200, again
    assert again["duplicate"] is True and again["case_id"] == first["case_id"]
    assert again["photos"] == first["photos"]

    # The key is the reporter's: another worker's report with the same report_id is its own case.
    other = await hub.login("grid_worker", "450103")
    status, theirs = await post_report(hub, other, {**fields, "category": "streetlight"})
    assert status == 202 and theirs["case_id"] != first["case_id"]


async def test_an_oversize_photo_is_413_naming_it(settings: Settings) -> None:
    small = settings.model_copy(update={"photo_max_bytes": 4096})
    async with running_hub(small) as hub:
        worker = await hub.login("grid_worker", "450103")
        big = jpeg()
        assert len(big) > 4096
        status, body = await post_report(hub, worker, report_fields(), [("small.png", encode(noise((8, 8)), "PNG")),
                                                                       ("big.jpg", big)])
        assert status == 413, body
        message = field_messages(body)["photo"]
        assert "photo 2" in message and "big.jpg" in message and "4,096" in message
        operator = await hub.login("city_operator", None)
        assert (await get_json(hub, operator, "/api/v1/cases"))["cases"] == []


async def test_too_many_photos_is_refused(settings: Settings) -> None:
    async with running_hub(settings.model_copy(update={"photos_per_report": 2})) as hub:
        worker = await hub.login("grid_worker", "450103")
        status, body = await post_report(hub, worker, report_fields(), [(f"{i}.png", png()) for i in range(3)])
        assert status == 422 and "photo 3" in field_messages(body)["photo"]


async def test_photos_survive_a_restart(settings: Settings) -> None:
    photo = jpeg()
    async with running_hub(settings) as hub:
        worker = await hub.login("grid_worker", "450103")
        status, answer = await post_report(hub, worker, report_fields(), [("a.jpg", photo)])
        assert status == 202, answer
    photo_id = answer["photos"][0]
    root = settings.data_dir / "photos"
    assert (root / photo_id[:2] / photo_id[2:4] / f"{photo_id}.jpg").read_bytes() == photo

    async with running_hub(settings) as again:
        assert await LocalPhotoStore(root).get(photo_id) == (photo, "image/jpeg")
        operator = await again.login("city_operator", None)
        status, body, _ = await fetch_photo(again, operator, answer["case_id"], photo_id)
        assert status == 200 and body == photo


async def test_an_uploaded_photo_is_served_once_a_progress_action_names_it(hub: Hub) -> None:
    worker = await hub.login("grid_worker", "450103")
    operator = await hub.login("city_operator", None)
    status, answer = await post_report(hub, worker, report_fields())
    assert status == 202, answer
    case_id = answer["case_id"]
    township = (await get_json(hub, operator, f"/api/v1/cases/{case_id}"))["areas"]["township"]["code"]
    handler = await hub.login("township_handler", township)

    status, body = await upload(hub, handler, "photo.jpg", b"GIF89a not really")
    assert status == 415 and "photo.jpg" in field_messages(body)["photo"]
    auditor = await hub.login("auditor", None)
    assert (await upload(hub, auditor, "a.jpg", jpeg()))[0] == 403

    first, second = jpeg(), jpeg()
    status, stored = await upload(hub, handler, "before.jpg", first)
    assert status == 201, stored
    first_id = stored["photo_id"]
    assert (await fetch_photo(hub, operator, case_id, first_id))[0] == 404, "stored, but no case names it yet"

    await act(hub, handler, case_id, "accept")
    never_uploaded = "0" * 64
    case = await get_json(hub, handler, f"/api/v1/cases/{case_id}")
    async with hub.http.post(f"{hub.base}/api/v1/cases/{case_id}/actions", headers=bearer(handler),
                             json={"action": "progress", "expected_version": case["version"], "note": "x",
                                   "photos": [first_id, never_uploaded]}) as resp:
        assert resp.status == 422
        assert [f["field"] for f in (await resp.json())["error"]["fields"]] == ["photos.1"]
    await act(hub, handler, case_id, "progress", note="已安排清运", photos=[first_id])
    status, content, _ = await fetch_photo(hub, handler, case_id, first_id)
    assert status == 200 and content == first

    status, stored = await upload(hub, handler, "after.jpg", second)
    case = await act(hub, handler, case_id, "progress", note="清运完毕", photos=[stored["photo_id"]])
    assert case["last_progress"]["photos"] == [stored["photo_id"]]
    assert (await fetch_photo(hub, operator, case_id, stored["photo_id"]))[1] == second
    # The first progress's photo is no longer on the case document, but the case's events still name it.
    assert (await fetch_photo(hub, operator, case_id, first_id))[1] == first


async def test_the_routes_are_in_openapi(hub: Hub) -> None:
    async with hub.http.get(f"{hub.base}/openapi.json") as resp:
        spec = await resp.json()
    report = spec["paths"]["/api/v1/grid/reports"]["post"]
    schema = report["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert {"category", "content", "lng", "lat", "crs", "report_id", "photo"} <= set(schema["properties"])
    assert set(schema["required"]) == {"category", "content"}
    assert "post" in spec["paths"]["/api/v1/photos"]
    assert "get" in spec["paths"]["/api/v1/cases/{case_id}/photos/{photo_id}"]


# --- the local store itself -------------------------------------------------------------------------------


def files_under(root: Path) -> list[Path]:
    return [p.relative_to(root) for p in root.rglob("*") if p.is_file()]


async def test_the_local_store_is_content_addressed_fanned_out_and_leaves_no_temporary_files(tmp_path: Path
                                                                                            ) -> None:
    store = LocalPhotoStore(tmp_path)
    data = png()
    photo_id = hashlib.sha256(data).hexdigest()
    await store.put(photo_id, data, "image/png")
    await store.put(photo_id, data, "image/png")  # a retry: harmless
    assert await store.get(photo_id) == (data, "image/png")
    assert files_under(tmp_path) == [Path(photo_id[:2]) / photo_id[2:4] / f"{photo_id}.png"]
    assert await store.get("0" * 64) is None


async def test_the_local_store_refuses_ids_that_are_not_hashes(tmp_path: Path) -> None:
    store = LocalPhotoStore(tmp_path / "photos")
    assert await store.get("../../etc/passwd") is None
    with pytest.raises(ValueError, match="not a photo id"):
        await store.put("../escape", b"x", "image/png")
    with pytest.raises(ValueError, match="image/gif"):
        await store.put("a" * 64, b"x", "image/gif")
    assert not (tmp_path / "photos").exists()
