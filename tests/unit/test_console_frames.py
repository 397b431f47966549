"""Console frames without a database: a patch never shows what the masked view hides, frames say each case once
whole, and the area index sends every row to exactly the subscriptions `case_in_scopes` would."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from dispatch.case import new_case
from dispatch.changes import DETAIL_FIELDS, feed_form
from hub.identity.access import case_in_scopes, redact_case, redact_case_fields
from hub.live.frames import FeedRow, Form, ScopeIndex, batch_frame

T = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
PHONE, NAME, CONTENT = "13812341234", "张三", "小区门口路灯不亮"


def case_doc(confidential: Any, reporter: dict[str, Any] | None) -> dict[str, Any]:
    return {**new_case("c", T), "version": 3, "state": "accepted",
            "report": {"ticket_no": "T1", "title": "路灯", "content": CONTENT, "address": "民族大道100号",
                       "reporter": reporter, "confidential": confidential},
            "location": {"lng": 108.37, "lat": 22.82}}


@given(confidential=st.sampled_from([True, False, None, 1, 0, "yes", ""]),
       reporter=st.one_of(st.none(), st.fixed_dictionaries({"name": st.sampled_from([NAME, "", None]),
                                                            "phone": st.sampled_from([PHONE, "12", None])})),
       view=st.sampled_from(["full", "masked"]), data=st.data())
def test_a_patch_shows_its_fields_exactly_as_the_whole_case_shows_them(
        confidential: Any, reporter: dict[str, Any] | None, view: str, data: st.DataObject) -> None:
    doc = case_doc(confidential, reporter)
    keys = data.draw(st.sets(st.sampled_from(sorted(doc))))
    whole = dict(redact_case(doc, view))  # type: ignore[arg-type]  # a plain dict stands for the Case
    patch = redact_case_fields({k: doc[k] for k in keys}, view, confidential=bool(confidential))
    assert patch == {k: whole[k] for k in keys}
    if view == "masked":
        assert PHONE not in str(patch) and NAME not in str(patch)
        assert not confidential or (CONTENT not in str(patch) and "108.37" not in str(patch))


def record(position: int, case_id: str, *, type_: str = "case.accepted", version: int = 2, whole: bool = False,
           doc: dict[str, Any] | None = None, patch: dict[str, Any] | None = None, confidential: Any = None,
           scope: list[str] | None = None, units: dict[str, Any] | None = None,
           imported: bool = False) -> dict[str, Any]:
    """A row as hub.live.frames reads it from the store."""
    return {"position": position, "stream_id": uuid.UUID(case_id), "version": version, "type": type_, "data": {},
            "actor": "system", "scope": scope if scope is not None else ["450100", "450103"], "occurred_at": T,
            "recorded_at": T, "case_version": (doc or {}).get("version", 3), "whole": whole, "imported": imported,
            "doc": orjson.dumps(doc).decode() if doc is not None else None, "patch": patch,
            "confidential": confidential, "units": units}


def cases_of(frame: bytes) -> list[dict[str, Any]]:
    decoded = orjson.loads(frame)
    assert decoded["type"] == "batch"
    return [e["case"] for e in decoded["events"]]


def test_patches_in_frames_are_redacted_by_the_cases_own_flag() -> None:
    """A patch that carries the place (but not the report) of a confidential case shows no place; one that
    carries the report shows it masked; the same rows in the full view show everything."""
    case_id = str(uuid.uuid4())
    doc = case_doc(True, {"name": NAME, "phone": PHONE})
    rows = [FeedRow(record(5, case_id, patch={"location": doc["location"], "version": 3}, confidential=True)),
            FeedRow(record(6, case_id, patch={"report": doc["report"], "version": 3}, confidential=True))]
    place, report = cases_of(batch_frame(rows, "masked"))
    assert place == {"case_id": case_id, "version": 3, "patch": True, "location": None}
    assert report["report"]["reporter"] == {"name": "张*", "phone": "138****1234"}
    assert report["report"]["content"] == "【保密】" and "address" not in report["report"]
    assert CONTENT not in str(batch_frame(rows, "masked")) and PHONE not in str(batch_frame(rows, "masked"))
    full = cases_of(batch_frame(rows, "full"))
    assert full[0]["location"] == doc["location"] and full[1]["report"] == doc["report"]


def test_a_units_staff_get_its_confidential_cases_content_and_share_every_other_encoding() -> None:
    """A unit's view (list_view) resolves per row: its own confidential case shows its content (never the
    caller); another unit's confidential case and every other case are the masked encoding, the same bytes."""
    ours, theirs, plain = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    units = {"lead": {"code": "450103001-gov", "name": "新竹街道"}, "assist": [{"code": "450103-cgj", "name": "城管"}]}
    secret = {**case_doc(True, {"name": NAME, "phone": PHONE}), "units": units}
    rows = [FeedRow(record(5, ours, version=1, whole=True, doc={**secret, "case_id": ours})),
            FeedRow(record(6, ours, patch={"report": secret["report"], "version": 3}, confidential=True,
                           units=units)),
            FeedRow(record(7, theirs, patch={"report": secret["report"], "version": 3}, confidential=True,
                           units={"lead": {"code": "450103002-gov", "name": "别的街道"}, "assist": []})),
            FeedRow(record(8, plain, patch={"report": case_doc(False, None)["report"], "version": 3},
                           confidential=False))]
    for view in ("unit:450103001-gov", "unit:450103-cgj"):
        whole, covered, other, normal = cases_of(batch_frame(rows, view))
        assert whole["report"]["content"] == CONTENT and whole["location"] == secret["location"]
        assert covered == {"case_id": ours, "version": 3, "patch": True}
        assert other["report"]["content"] == "【保密】" and normal["report"]["content"] == CONTENT
        assert PHONE not in str(batch_frame(rows, view)) and NAME not in str(batch_frame(rows, view))
        for row in rows[2:]:
            assert row.encoded(view, Form.PATCH) is row.encoded("masked", Form.PATCH), "one shared encoding"
    stranger = cases_of(batch_frame(rows, "unit:450103-zjj"))
    assert CONTENT not in str(stranger[:3]) and stranger[0]["report"]["content_hidden"] is True
    assert batch_frame(rows, "unit:450103-zjj") == batch_frame(rows, "masked")


def test_a_frame_carries_each_case_whole_once_and_later_events_as_empty_patches() -> None:
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    doc = {**case_doc(False, {"name": NAME, "phone": PHONE}), "explanation": "R1: 路灯 → 新竹街道",
           "understanding": {"code": "010101", "evidence": [CONTENT]}}
    rows = [FeedRow(record(1, first, type_="case.received", version=1, whole=True, doc=doc)),
            FeedRow(record(2, first, type_="case.dispatched", version=2, whole=True, doc=doc)),
            FeedRow(record(3, second, patch={"state": "accepted", "version": 7})),
            FeedRow(record(4, first, patch={"state": "accepted", "version": 3}))]
    frame = batch_frame(rows, "masked")
    whole, covered, patch, covered_too = cases_of(frame)
    # Whole in its feed form: what only the case's own screen shows (read by REST) stays out of the feed.
    assert whole == redact_case(feed_form(doc), "masked")  # type: ignore[arg-type]
    assert not DETAIL_FIELDS & set(whole) and "新竹街道" not in frame.decode()
    assert covered == covered_too == {"case_id": first, "version": 3, "patch": True}
    assert patch == {"case_id": second, "version": 3, "patch": True, "state": "accepted"}
    # An event says what happened; what it did is the case's part, its data the timeline's (REST).
    assert [e["event"] for e in orjson.loads(frame)["events"]][0] == {
        "type": "case.received", "version": 1, "actor": "system", "occurred_at": T.isoformat(),
        "recorded_at": T.isoformat()}
    # Without the first row (a client that had it already) the second goes whole.
    assert cases_of(batch_frame(rows[1:], "masked"))[0] == whole


def test_a_patch_goes_in_its_feed_form() -> None:
    case_id = str(uuid.uuid4())
    sla: dict[str, Any] = {
        "class": "normal", "clock": "working", "done": [], "paused_at": None, "resolve_limit_s": 14400,
        "sign": {"start": "s", "limit_s": 7200, "paused_s": 0, "due": "d1",
                 "steps": {"warning": "w1", "reminder": "d1"}},
        "resolve": None}
    row = FeedRow(record(9, case_id, type_="case.accepted", patch={"sla": sla, "state": "accepted", "version": 3}))
    (fed,) = cases_of(batch_frame([row], "masked"))
    assert fed == {"case_id": case_id, "version": 3, "patch": True, "state": "accepted",
                   "sla": {"class": "normal", "paused_at": None, "sign": {"due": "d1", "steps": {"warning": "w1"}},
                           "resolve": None}}


def test_imported_history_reaches_no_console() -> None:
    """Imported events (hub.services.history_import) are read for their position only: no subscription sees them,
    not even the city-wide one, so a large import never floods a console."""
    live, old = str(uuid.uuid4()), str(uuid.uuid4())
    rows = [FeedRow(record(1, old, scope=["450100", "450103"], imported=True)),
            FeedRow(record(2, live, scope=["450100", "450103"])),
            FeedRow(record(3, old, scope=["450100", "450103"], imported=True))]
    city, township = frozenset({"450100"}), frozenset({"450103"})
    seen = ScopeIndex([city, township]).split(rows)
    assert [r.position for r in seen[city]] == [r.position for r in seen[township]] == [2]


CODES = ["450100", "450102", "450103", "450105", "450102001", "450103001", "450103002", "450105002",
         "450102001002", "450103001001", "450103001005", "450103001001001", "450103002003004"]


@given(rows=st.lists(st.lists(st.sampled_from(CODES), max_size=5), max_size=30),
       subscriptions=st.lists(st.frozensets(st.sampled_from(CODES), min_size=1, max_size=3), max_size=8))
def test_the_area_index_sends_each_row_to_exactly_the_subscriptions_that_see_it(
        rows: list[list[str]], subscriptions: list[frozenset[str]]) -> None:
    feed = [FeedRow(record(i + 1, str(uuid.uuid4()), scope=codes)) for i, codes in enumerate(rows)]
    split = ScopeIndex(subscriptions).split(feed)
    for scopes in subscriptions:
        expected = [r for r in feed if case_in_scopes(list(r.codes), scopes)]
        assert split.get(scopes, []) == expected
    assert set(split) <= set(subscriptions)


def test_other_streams_rows_carry_the_document_read_beside_the_page_and_case_rows_need_none() -> None:
    """The feed reads alert, directive and incident documents in a second statement (hub.live.frames._OTHERS):
    each such row's frame carries that document as the consoles show it, and is sent where its scope says."""
    alert_id, incident_id, case_id = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    alert = {"alert_id": alert_id, "cell": "surge|01|township|450103001|1", "observed": 5}
    incident = {"incident_id": incident_id, "version": 4, "linked": 2}
    rows = [FeedRow(record(1, alert_id, type_="alert.updated", scope=["450100", "450103"]),
                    orjson.dumps(alert).decode()),
            FeedRow(record(2, incident_id, type_="incident.case_linked", scope=[]), orjson.dumps(incident).decode()),
            FeedRow(record(3, case_id, patch={"state": "accepted", "version": 3}))]
    events = orjson.loads(batch_frame(rows, "masked"))["events"]
    assert events[0] == {"type": "alert", "position": 1, "alert": {"alert_id": alert_id, "observed": 5}}
    assert events[1] == {"type": "incident", "position": 2, "event": "incident.case_linked", "incident": incident}
    assert events[2]["case"] == {"state": "accepted", "case_id": case_id, "version": 3, "patch": True}
    assert rows[0].codes == ("450100", "450103") and rows[1].codes == ("450100",)  # an incident without scope: city
    # An event of another stream whose document is gone (or of a kind the feed does not show) goes to nobody.
    assert FeedRow(record(4, alert_id, type_="alert.updated")).codes == ()
