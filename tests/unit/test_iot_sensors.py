"""Machine-detected cases: the pure rules (dispatch.sensors) and the MQTT payload parser (connectors.iot)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connectors.iot import BadMessage, alarm_payload, case_report, parse_alarm
from dispatch.case import Case, Intake, Routing, fold, receive
from dispatch.commands import Resolve
from dispatch.fold import fold_onto
from dispatch.lifecycle import decide
from dispatch.permissions import Actor
from dispatch.policy import Policy
from dispatch.sensors import Ignore, OpenCase, Reading, on_reading
from tools.demo_matrix import demo_matrix

T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
AREAS = {"county": {"code": "450103", "name": "青秀区"}, "township": {"code": "450103001", "name": "新竹街道"}}
POLICY = Policy(matrix=demo_matrix())
DEVICE = {"device_id": "WL-1", "kind": "water_level", "name": "民族大道积水监测点", "location": {"lng": 108.37,
                                                                                              "lat": 22.82}}


def reading(seq: int, state: str = "alarm", value: float = 0.4) -> Reading:
    return Reading("WL-1", seq, state, value, 0.2, T0 + timedelta(seconds=seq))  # type: ignore[arg-type]


def opened_case() -> Case:
    message = parse_alarm("cityloop/iot/WL-1/alarm", alarm_payload("WL-1", 1, "water_level", "alarm", 0.4, 0.2, T0))
    events = receive(Intake("iot", case_report(message, DEVICE), {"lng": 108.37, "lat": 22.82}),
                     Routing(inside=True, areas=AREAS), now=T0, policy=POLICY)
    case = fold("c1", [(e.type, e.data, i + 1, T0) for i, e in enumerate(events)])
    assert case is not None
    return case


def sensor(case: Case) -> dict[str, Any]:
    """The sensor part of a machine-detected case (every case here is one)."""
    assert case["sensor"] is not None
    return case["sensor"]


def test_first_alarm_opens_a_case_that_knows_its_device_and_category() -> None:
    assert isinstance(on_reading(None, reading(1)), OpenCase)
    case = opened_case()
    assert case["state"] == "dispatched"
    assert case["category"] is not None and case["category"]["path"][-1] == "道路积水"
    assert case["report"]["device_id"] == "WL-1"
    assert sensor(case)["state"] == "alarm" and sensor(case)["alarms"] == 1


def test_a_storm_joins_the_open_case_and_counts() -> None:
    case = opened_case()
    for seq in range(2, 30):
        decision = on_reading(case, reading(seq))
        assert isinstance(decision, list) and [e.type for e in decision] == ["case.alarm_repeated"]
        case = fold_onto(case, decision, T0)
    assert sensor(case)["alarms"] == 29 and sensor(case)["last_seq"] == 29
    assert case["state"] == "dispatched"


def test_recovery_is_recorded_for_the_handler_and_closes_on_resolve() -> None:
    case = opened_case()
    decision = on_reading(case, reading(2, "clear", 0.05))
    assert isinstance(decision, list) and [e.type for e in decision] == ["case.sensor_recovered"]
    case = fold_onto(case, decision, T0)
    assert case["state"] == "dispatched" and "sensor_recovered" in case["flags"]
    assert isinstance(on_reading(case, reading(3, "clear")), Ignore)  # a second clear changes nothing
    case = {**case, "state": "accepted"}
    resolved = decide(case, Resolve(note="已疏通"), Actor("h", "county_dispatcher", "450103"), T0, POLICY, {})
    assert isinstance(resolved, list)
    assert [e.type for e in resolved] == ["case.resolved", "case.closed"]
    assert resolved[1].data["outcome"] == "sensor_recovered"


def test_recovery_after_the_handler_resolved_closes_the_case() -> None:
    case: Case = {**opened_case(), "state": "resolved"}
    decision = on_reading(case, reading(5, "clear"))
    assert isinstance(decision, list)
    assert [e.type for e in decision] == ["case.sensor_recovered", "case.closed"]


def test_resolving_without_recovery_waits_for_the_callback() -> None:
    case: Case = {**opened_case(), "state": "accepted"}
    resolved = decide(case, Resolve(note="处理中"), Actor("h", "county_dispatcher", "450103"), T0, POLICY, {})
    assert isinstance(resolved, list) and [e.type for e in resolved] == ["case.resolved"]


def test_alarm_after_recovery_puts_the_sensor_back_in_alarm() -> None:
    case = fold_onto(opened_case(), [*on_reading(opened_case(), reading(2, "clear"))], T0)  # type: ignore[misc]
    case = fold_onto(case, on_reading(case, reading(3)), T0)  # type: ignore[arg-type]
    assert sensor(case)["state"] == "alarm" and "sensor_recovered" not in case["flags"]


def test_closed_case_takes_no_more_readings_and_merged_ones_follow_their_parent() -> None:
    case = opened_case()
    assert isinstance(on_reading({**case, "state": "closed"}, reading(2)), OpenCase)
    assert isinstance(on_reading({**case, "state": "closed"}, reading(2, "clear")), Ignore)
    merged_open: Case = {**case, "state": "merged", "parent_state": "accepted"}
    assert isinstance(on_reading(merged_open, reading(2)), list)
    assert isinstance(on_reading({**merged_open, "parent_state": "closed"}, reading(2)), OpenCase)


@pytest.mark.parametrize(("topic", "payload", "reason"), [
    ("cityloop/iot/WL-1/alarm", b"{not json", "not JSON"),
    ("cityloop/iot/WL-1/alarm", b"[1, 2]", "JSON object"),
    ("cityloop/iot/WL-1/alarm", b'{"device_id": "WL-1", "seq": -1, "kind": "water_level", "state": "alarm",'
                                b' "at": "2026-06-01T09:00:00+08:00"}', "seq"),
    ("cityloop/iot/WL-1/alarm", b'{"device_id": "WL-1", "seq": 1, "kind": "water_level", "state": "on",'
                                b' "at": "2026-06-01T09:00:00+08:00"}', "state"),
    ("cityloop/iot/WL-1/alarm", b'{"device_id": "WL-1", "seq": 1, "kind": "water_level", "state": "alarm",'
                                b' "at": "2026-06-01T09:00:00"}', "at"),
    ("cityloop/iot/WL-2/alarm", alarm_payload("WL-1", 1, "water_level", "alarm", 1.0, 0.2, T0), "topic"),
])
def test_malformed_messages_say_what_is_wrong(topic: str, payload: bytes, reason: str) -> None:
    with pytest.raises(BadMessage, match=reason):
        parse_alarm(topic, payload)


def test_duplicates_are_keyed_by_device_and_sequence() -> None:
    a = parse_alarm("cityloop/iot/WL-1/alarm", alarm_payload("WL-1", 7, "water_level", "alarm", 1.0, 0.2, T0))
    b = parse_alarm(None, alarm_payload("WL-1", 7, "water_level", "clear", 0.0, 0.2, T0))
    assert a.idempotency_key() == b.idempotency_key() == "iot:WL-1:7"
    assert case_report(a, DEVICE)["content"] == "设备 民族大道积水监测点 报警：积水深度 1m（阈值 0.2m）"
