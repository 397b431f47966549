"""The intake stage (hub.services.intake): submissions are routed, decided and searched for duplicates a batch
at a time, against a real store, and every submission still gets its own answer."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any, cast

import pytest

from connectors.submission import Submission
from dispatch.events import Case, DomainEvent
from geo.crs import Crs, from_wgs84
from hub.infra.settings import Settings
from hub.keys import ACTIONS, INTAKE, LOCATOR, READS
from hub.services.intake import IntakeOutcome
from hub.store.events import StoreUnavailable
from tests.conftest import Hub, commits_held, running_hub
from tests.e2e.test_case_lifecycle import Console
from tests.e2e.test_hotline_to_console import QINGXIU_SEAT, XINGNING_SEAT, push, ticket


def _submission(point: tuple[float, float, Crs] | None = None, address: str | None = None, **report: Any
                ) -> Submission:
    key = f"T{uuid.uuid4().hex[:12]}"
    return Submission(source="hotline", report={"ticket_no": key, "category": "streetlight", "content": "路灯不亮",
                                                **report},
                      idempotency_key=key, point=point, address=address)


def _spread(n: int) -> list[tuple[float, float, Crs]]:
    """`n` points about 1 km apart in Qingxiu, so that none is a duplicate of another."""
    lng, lat = QINGXIU_SEAT
    return [(lng + 0.01 * (i % 10), lat + 0.01 * (i // 10), Crs.WGS84) for i in range(n)]


async def test_a_batch_is_placed_as_each_submission_would_be_alone(hub: Hub) -> None:
    locator = hub.app[LOCATOR]
    gcj = from_wgs84(*XINGNING_SEAT, Crs.GCJ02)
    items: list[tuple[tuple[float, float, Crs] | None, str | None]] = [
        ((*QINGXIU_SEAT, Crs.WGS84), None),
        ((gcj[0], gcj[1], Crs.GCJ02), None),
        ((100.0, 30.0, Crs.WGS84), None),  # far outside the city
        ((100.0, 30.0, Crs.WGS84), "南宁市青秀区新竹街道"),  # outside, but the address places it
        (None, "南宁市兴宁区"),
        (None, None),
    ]
    together = locator.place_many(items)
    assert together == [locator.place(point, address) for point, address in items]
    assert together[0].inside and together[1].inside and not together[2].inside and together[3].inside


async def test_a_batch_places_contents_as_each_would_be_placed_alone(hub: Hub) -> None:
    """With neither point nor address the complaint's content is read for a place; never otherwise."""
    locator = hub.app[LOCATOR]
    items: list[tuple[tuple[float, float, Crs] | None, str | None]] = [
        (None, None), (None, None), (None, None), ((*QINGXIU_SEAT, Crs.WGS84), None), (None, "南宁市兴宁区"),
    ]
    contents = ["我在双义村这边，道路积水", "路灯不亮", "新华村那边路灯坏了", "我在双义村这边", "我在双义村这边"]
    together = locator.place_many(items, contents)
    assert together == [locator.place(point, address, content)
                        for (point, address), content in zip(items, contents, strict=True)]
    by_text, nothing, ambiguous, by_point, by_address = together
    assert (by_text.inside, by_text.method, by_text.areas["community"]["code"]) == (True, "text", "450107100207")
    assert by_text.routing().details["located_from_text"] is True
    assert by_text.routing().details["evidence"] == {"community": "双义村"}
    assert (nothing.inside, nothing.method, nothing.reason) == (False, "text", "no_location")
    assert (ambiguous.inside, ambiguous.reason, len(ambiguous.ambiguous)) == (False, "no_location", 2)
    assert "located_from_text" not in ambiguous.routing().details
    assert (by_point.method, by_address.method) == ("point", "address")
    assert by_address.areas["county"]["code"] == "450102"


async def test_concurrent_submissions_share_one_duplicate_search_per_batch(hub: Hub) -> None:
    reads = hub.app[READS]
    searches: list[int] = []
    real = reads.duplicate_candidates

    async def counted(near: Any, at_address: Any, since: Any, states: Any) -> Any:
        searches.append(len(near) + len(at_address))
        return await real(near, at_address, since, states)

    reads.duplicate_candidates = counted  # type: ignore[method-assign]  # a spy: the real query still runs
    intake = hub.app[INTAKE]
    outcomes = await asyncio.gather(*(intake.submit(_submission(point), "hotline:test") for point in _spread(40)))
    assert len({o.case_id for o in outcomes}) == 40 and not any(o.result.duplicate for o in outcomes)
    assert sum(searches) == 40, "every dispatched case was searched for duplicates"
    assert len(searches) < 40, f"searched one by one: {searches}"


async def test_one_bad_submission_fails_alone_in_its_batch(hub: Hub) -> None:
    intake = hub.app[INTAKE]
    good = [_submission(point) for point in _spread(10)]
    bad = _submission((500.0, 95.0, Crs.WGS84))  # the channels refuse this; the stage must not trust them
    answers = await asyncio.gather(*(intake.submit(s, "hotline:test") for s in [*good[:5], bad, *good[5:]]),
                                   return_exceptions=True)
    assert isinstance(answers[5], ValueError)
    stored = [a for a in answers if isinstance(a, IntakeOutcome)]
    assert len(stored) == 10
    for outcome in stored:
        assert await hub.app[READS].get(outcome.case_id) is not None


@pytest.mark.parametrize("same_batch", [False, True])
async def test_a_repeated_idempotency_key_answers_the_first_case(hub: Hub, same_batch: bool) -> None:
    intake = hub.app[INTAKE]
    first = _submission(_spread(1)[0])
    if same_batch:
        a, b = await asyncio.gather(intake.submit(first, "hotline:test"), intake.submit(first, "hotline:test"))
    else:
        a = await intake.submit(first, "hotline:test")
        b = await intake.submit(first, "hotline:test")
    assert a.case_id == b.case_id and not a.result.duplicate and b.result.duplicate


async def test_reports_without_a_location_at_the_same_address_are_merged(hub: Hub) -> None:
    key = await hub.hotline_key()
    address = "南宁市青秀区新竹街道古城路12号"
    status, first = await push(hub, key, ticket(address=address))
    assert status == 202
    status, second = await push(hub, key, ticket(address=address))
    assert status == 202
    child = await hub.app[READS].get(uuid.UUID(second["case_id"]))
    assert child is not None
    merged_or_suggested = child["parent_id"] or (child["merge_suggestion"] or {}).get("into")
    assert merged_or_suggested == first["case_id"]
    elsewhere = await hub.app[READS].get(uuid.UUID((await push(hub, key, ticket(address="南宁市兴宁区民生路5号")))[1]
                                                   ["case_id"]))
    assert elsewhere is not None and elsewhere["parent_id"] is None and elsewhere["merge_suggestion"] is None


async def test_an_automatic_merge_attaches_the_child_to_the_parent_it_has_just_read(
        hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    """The duplicate search reads an automatic merge's parent to decide the merge; the parent's side (the child
    attached) is decided from that read, not from a second one."""
    key = await hub.hotline_key()
    _, first = await push(hub, key, ticket(QINGXIU_SEAT, category="manhole_cover"))
    actions = hub.app[ACTIONS]
    loaded: list[str] = []
    load = actions.load

    async def counted(case_id: uuid.UUID) -> Any:
        loaded.append(str(case_id))
        return await load(case_id)

    monkeypatch.setattr(actions, "load", counted)
    _, again = await push(hub, key, ticket(QINGXIU_SEAT, category="manhole_cover", content="井盖又被人报了一次"))
    parent = await hub.app[READS].get(uuid.UUID(first["case_id"]))
    child = await hub.app[READS].get(uuid.UUID(again["case_id"]))
    assert child is not None and child["state"] == "merged" and child["parent_id"] == first["case_id"]
    assert parent is not None and parent["children"] == [again["case_id"]]
    assert first["case_id"] not in loaded


async def test_every_duplicate_of_a_batch_joins_the_one_parent(hub: Hub) -> None:
    """Seven repeats of one open case arrive together (one intake batch): each is merged into it, and the parent
    lists all seven. Their attaches are appends to the same stream; run at once, all but one met a version
    conflict in each round, and after five rounds the last two were left out, answered as merged all the same."""
    key = await hub.hotline_key()
    _, first = await push(hub, key, ticket(QINGXIU_SEAT, category="manhole_cover"))
    intake = hub.app[INTAKE]
    repeats = [_submission((*QINGXIU_SEAT, Crs.WGS84), category="manhole_cover", content="井盖不见了")
               for _ in range(7)]
    outcomes = await asyncio.gather(*(intake.submit(s, "hotline:test") for s in repeats))
    children = [str(o.case_id) for o in outcomes]
    parent = await hub.app[READS].get(uuid.UUID(first["case_id"]))
    assert parent is not None and sorted(parent["children"]) == sorted(children)
    for child_id in children:
        child = await hub.app[READS].get(uuid.UUID(child_id))
        assert child is not None and child["parent_id"] == first["case_id"]


async def test_a_follow_up_from_a_parent_that_moved_on_reads_it_again_and_still_attaches(hub: Hub) -> None:
    """What intake read may be stale by the time the child is committed (the parent was accepted meanwhile, or
    another child attached first): the follow-up's append meets a version conflict, reads the parent afresh and
    attaches the child to it."""
    key = await hub.hotline_key()
    _, first = await push(hub, key, ticket(QINGXIU_SEAT, category="manhole_cover"))
    reads = hub.app[READS]
    stale = await reads.get(uuid.UUID(first["case_id"]))
    assert stale is not None
    county = Console(hub, await hub.login("county_dispatcher", "450103"))
    await county.ok(first["case_id"], "accept", stale["version"])
    child_id = str(uuid.uuid4())
    merged = [DomainEvent("case.merged", {"into": first["case_id"], "previous_state": "dispatched"})]
    child = cast(Case, {"case_id": child_id, "state": "merged"})  # what `follow_ups` reads of the merged child
    await hub.app[ACTIONS].follow_up(child, merged, {first["case_id"]: stale})
    parent = await reads.get(uuid.UUID(first["case_id"]))
    assert parent is not None and parent["state"] == "accepted" and parent["children"] == [child_id]
    assert parent["version"] == stale["version"] + 2  # accepted, then the child attached


async def test_a_submission_whose_commit_is_under_way_is_answered_when_the_hub_stops(
        settings: Settings, database_url: str) -> None:
    """Shutdown while the committer waits on the store: the caller is told the outcome is unknown (a retry with
    its idempotency key is safe) rather than left waiting for an answer that never comes."""
    async with commits_held(database_url) as a_commit_waits:
        async with running_hub(settings) as hub:
            held = asyncio.create_task(hub.app[INTAKE].submit(_submission((*QINGXIU_SEAT, Crs.WGS84)),
                                                              "hotline:test"))
            await a_commit_waits()
        with pytest.raises(StoreUnavailable, match="outcome is unknown"):
            await asyncio.wait_for(held, timeout=10)
