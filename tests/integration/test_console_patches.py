"""Console frames against a real store: patches carry only what changed and rebuild the case exactly, frames and
snapshots are encoded once per subscription and shared."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from dispatch.changes import feed_fields, feed_form
from hub.identity.access import LIST_VIEW
from hub.keys import GATEWAY
from hub.live.gateway import ConsoleClient
from tests.conftest import Hub
from tests.e2e.test_access_audit import call
from tests.e2e.test_hotline_to_console import QINGXIU_SEAT, XINGNING_SEAT, case_after, push, ticket

QINGXIU = frozenset({"450103"})


async def frames_until(client: ConsoleClient, done: Any, timeout: float = 10.0) -> list[bytes]:
    """Raw frames from a client's queue until `done(events so far)`."""
    frames: list[bytes] = []
    events: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while not done(events):
            frame = await client.queue.get()
            assert frame is not None, "the client was dropped"
            frames.append(frame)
            decoded = orjson.loads(frame)
            events += decoded.get("events", [])
    return frames


def events_of(frames: list[bytes]) -> list[dict[str, Any]]:
    return [e for f in frames for e in orjson.loads(f).get("events", [])]


def has(case_id: str, event_type: str) -> Any:
    return lambda evs: any(e["case_id"] == case_id and e["event"]["type"] == event_type for e in evs)


async def test_later_events_carry_only_their_fields_and_rebuild_the_case_exactly(hub: Hub) -> None:
    gateway = hub.app[GATEWAY]
    client = ConsoleClient(QINGXIU, LIST_VIEW, max_frames=100)
    await gateway.attach(client, None)
    snapshot = orjson.loads(await client.queue.get())  # type: ignore[arg-type]
    assert snapshot["type"] == "snapshot" and snapshot["cases"] == []
    dispatcher = await hub.login("county_dispatcher", "450103")
    _, answer = await push(hub, await hub.hotline_key(), ticket(QINGXIU_SEAT))
    case_id = answer["case_id"]
    intake = events_of(await frames_until(client, has(case_id, "case.dispatched")))
    assert [e["event"]["type"] for e in intake] == ["case.received", "case.dispatched"]
    received, dispatched = intake
    assert not received["case"].get("patch") and received["case"]["report"]["reporter"]["phone"] == "138****1234"
    # Both events were read together: the case went whole once, its later event adds nothing.
    assert dispatched["case"] == {"case_id": case_id, "version": 2, "patch": True}

    status, acted = await call(hub, dispatcher, "POST", f"/api/v1/cases/{case_id}/actions",
                               json={"action": "accept", "expected_version": 2})
    assert status == 200, acted
    status, _ = await call(hub, dispatcher, "POST", f"/api/v1/cases/{case_id}/actions",
                           json={"action": "comment", "expected_version": 3, "note": "已到现场"})
    assert status == 200
    later = events_of(await frames_until(client, has(case_id, "case.commented")))
    assert [e["event"]["type"] for e in later] == ["case.accepted", "case.commented"]
    accepted, commented = (e["case"] for e in later)
    assert accepted["patch"] is True and set(accepted) == {"case_id", "version", "patch"} | feed_fields(
        "case.accepted")
    assert set(commented) == {"case_id", "version", "patch", "comment_count", "updated_at"}
    assert accepted["state"] == "accepted" and commented["comment_count"] == 1
    # Applied as the consoles do, the frames give exactly the case the API shows (masked, as the feed is), in the
    # feed's form (dispatch.changes.feed_form: the panel reads the rest by REST).
    status, shown = await call(hub, dispatcher, "GET", f"/api/v1/cases/{case_id}")
    assert status == 200
    # The read adds what is not the case document: its timeline, the caller's actions, the duty officer now.
    shown = {k: v for k, v in shown.items() if k not in ("timeline", "allowed_actions", "duty_officer")}
    assert case_after([*intake, *later], case_id) == feed_form(shown)


async def test_consoles_of_one_subscription_share_one_snapshot_and_one_frame(hub: Hub) -> None:
    gateway = hub.app[GATEWAY]
    key = await hub.hotline_key()
    _, before = await push(hub, key, ticket(QINGXIU_SEAT))
    await push(hub, key, ticket(XINGNING_SEAT))
    built = gateway.snapshots_built
    first = ConsoleClient(QINGXIU, LIST_VIEW, max_frames=100)
    second = ConsoleClient(QINGXIU, LIST_VIEW, max_frames=100)
    await gateway.attach(first, None)
    await gateway.attach(second, None)
    one, other = first.queue.get_nowait(), second.queue.get_nowait()
    assert one is other, "the same encoded snapshot, not a copy"
    assert one is not None and [c["case_id"] for c in orjson.loads(one)["cases"]] == [before["case_id"]]
    assert gateway.snapshots_built == built + 1

    # A thousand consoles reconnecting at once: here twenty, in another subscription, build one snapshot.
    crowd = [ConsoleClient(frozenset({"450102"}), LIST_VIEW, max_frames=100) for _ in range(20)]
    await asyncio.gather(*(gateway.attach(c, None) for c in crowd))
    assert gateway.snapshots_built == built + 2
    snapshots = [c.queue.get_nowait() for c in crowd]
    assert all(s is snapshots[0] for s in snapshots)

    # Live frames are shared the same way; after them the old snapshot is stale and a new one is built.
    _, after = await push(hub, key, ticket(QINGXIU_SEAT, category="noise"))
    frames = await frames_until(first, has(after["case_id"], "case.dispatched"))
    theirs = [second.queue.get_nowait() for _ in frames]
    assert all(mine is same for mine, same in zip(frames, theirs, strict=True)), "one encoding, handed to both"
    late = ConsoleClient(QINGXIU, LIST_VIEW, max_frames=100)
    await gateway.attach(late, None)
    fresh = orjson.loads(late.queue.get_nowait())  # type: ignore[arg-type]
    assert {c["case_id"] for c in fresh["cases"]} == {before["case_id"], after["case_id"]}
    assert fresh["position"] >= after["position"] + 1 and gateway.snapshots_built == built + 3


async def test_the_console_websocket_declines_per_message_deflate(hub: Hub) -> None:
    """Frames are encoded once per subscription and shared; deflating them per connection would cost CPU per
    console, so the hub declines the compression browsers ask for."""
    token = await hub.login("city_operator", None)
    ws = await hub.http.ws_connect(f"{hub.ws_base}/ws/console?token={token}", compress=15)
    try:
        assert ws.compress == 0
    finally:
        await ws.close()
