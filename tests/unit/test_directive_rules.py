"""Directives' domain rules (dispatch.directives): states, once per unit, reminders and overdue, superiors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from dispatch import directives as rules
from dispatch.events import DomainEvent

T0 = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)
DUE = T0 + timedelta(hours=10)
POLICY = rules.DirectivePolicy(reminder_shares=(0.5, 0.8), city_superior="450100-zhzx")
UNITS = [{"code": "450103001-gov", "name": "新竹街道人民政府", "area": "450103001"},
         {"code": "450103002-gov", "name": "中山街道人民政府", "area": "450103002"},
         {"code": "450103-cgj", "name": "青秀区城市管理局", "area": "450103"}]
BY = {"username": "a", "role": "township_handler", "name": "甲"}
ISSUER = {"username": "op", "role": "city_operator", "name": "值班员"}


def directive(reply: str = "ack") -> dict[str, Any]:
    event = rules.issued(title="台风", content="检查排水", attachments=[], recipients=[*UNITS, UNITS[0]],
                         recipients_spec={"units": [u["code"] for u in UNITS]}, due=DUE, reply=reply,  # type: ignore[arg-type]
                         issued_by=ISSUER, issuer_area="450100", incident_id=None, now=T0)
    return rules.apply_directive(rules.new_directive("d1"), event.type, event.data, 1)


def then(doc: dict[str, Any], events: list[DomainEvent] | DomainEvent | rules.Refusal) -> dict[str, Any]:
    assert not isinstance(events, rules.Refusal), events
    for event in events if isinstance(events, list) else [events]:
        doc = rules.apply_directive(doc, event.type, event.data, doc["version"] + 1)
    return doc


def test_issue_names_each_unit_once_and_starts_pending() -> None:
    doc = directive()
    assert doc["total"] == 3 and doc["state"] == "open" and doc["pending"] == 3
    assert [r["state"] for r in doc["recipients"]] == ["pending"] * 3
    assert rules.scope_of(doc) == ["450100", "450103001", "450103002", "450103"]


def test_ack_once_per_unit_and_only_for_recipients() -> None:
    doc = directive()
    doc = then(doc, rules.acknowledge(doc, "450103001-gov", BY, T0 + timedelta(hours=1)))
    assert doc["acknowledged"] == 1 and doc["recipients"][0]["state"] == "acknowledged"
    assert doc["recipients"][0]["by"] == BY
    assert rules.acknowledge(doc, "450103001-gov", BY, T0 + timedelta(hours=2)) == [], "a second 签收 is a no-op"
    refused = rules.acknowledge(doc, "450102001-gov", BY, T0)
    assert isinstance(refused, rules.Refusal) and refused.status == 404


def test_reply_needs_report_mode_and_is_made_once() -> None:
    refused = rules.reply(directive("ack"), "450103001-gov", BY, T0, "ok", [])
    assert isinstance(refused, rules.Refusal) and refused.code == "reply_not_required"
    doc = directive("report")
    doc = then(doc, rules.acknowledge(doc, "450103002-gov", BY, T0))
    assert doc["state"] == "open" and doc["pending"] == 3, "in report mode a 签收 is not the answer"
    doc = then(doc, rules.reply(doc, "450103001-gov", BY, T0, "已排查 12 处", ["a" * 64]))
    first = doc["recipients"][0]
    assert first["state"] == "replied" and first["acknowledged_at"] is not None, "a reply is a receipt too"
    assert doc["acknowledged"] == 2 and doc["replied"] == 1
    again = rules.reply(doc, "450103001-gov", BY, T0, "again", [])
    assert isinstance(again, rules.Refusal) and again.status == 409


def test_reminders_at_shares_then_overdue_escalated_to_superiors() -> None:
    doc = directive()
    superiors = {"450103001-gov": {"code": "450103-gov", "name": "青秀区人民政府"},
                 "450103002-gov": {"code": "450103-gov", "name": "青秀区人民政府"},
                 "450103-cgj": {"code": "450100-zhzx", "name": "指挥中心"}}
    assert rules.next_due_at(doc, POLICY) == T0 + timedelta(hours=5)
    assert rules.due_events(doc, T0 + timedelta(hours=4), POLICY, superiors) == []
    doc = then(doc, rules.acknowledge(doc, "450103001-gov", BY, T0 + timedelta(hours=1)))
    [reminder] = rules.due_events(doc, T0 + timedelta(hours=5), POLICY, superiors)
    assert reminder.type == "directive.reminded" and reminder.data["units"] == ["450103002-gov", "450103-cgj"]
    doc = then(doc, [reminder])
    assert rules.due_events(doc, T0 + timedelta(hours=6), POLICY, superiors) == [], "a share is reminded once"
    assert rules.next_due_at(doc, POLICY) == T0 + timedelta(hours=8)
    # A hub that was down past both the 80 % share and the deadline: only the overdue step.
    [overdue] = rules.due_events(doc, DUE + timedelta(minutes=1), POLICY, superiors)
    assert overdue.type == "directive.overdue"
    doc = then(doc, [overdue])
    assert doc["state"] == "overdue" and doc["overdue"] == 2
    assert [r["state"] for r in doc["recipients"]] == ["acknowledged", "overdue", "overdue"]
    assert doc["recipients"][2]["escalated_to"] == {"code": "450100-zhzx", "name": "指挥中心"}
    assert rules.next_due_at(doc, POLICY) is None
    assert rules.due_events(doc, DUE + timedelta(days=1), POLICY, superiors) == [], "overdue fires once"
    # A late answer is taken and marked late.
    doc = then(doc, rules.acknowledge(doc, "450103002-gov", BY, DUE + timedelta(hours=1)))
    assert doc["recipients"][1]["state"] == "acknowledged" and doc["recipients"][1]["late"] is True
    assert doc["overdue"] == 1


def test_completed_when_every_unit_answered_and_no_timer_left() -> None:
    doc = directive()
    for unit in UNITS:
        doc = then(doc, rules.acknowledge(doc, unit["code"], BY, T0 + timedelta(minutes=5)))
    assert doc["state"] == "completed" and doc["acknowledged"] == 3 and doc["pending"] == 0
    assert rules.next_due_at(doc, POLICY) is None
    refused = rules.remind(doc, None, ISSUER, T0)
    assert isinstance(refused, rules.Refusal) and refused.code == "nothing_to_remind"


def test_manual_remind_names_only_missing_units() -> None:
    doc = directive()
    doc = then(doc, rules.acknowledge(doc, "450103001-gov", BY, T0))
    refused = rules.remind(doc, ["450103001-gov"], ISSUER, T0)
    assert isinstance(refused, rules.Refusal) and refused.field == "units"
    event = rules.remind(doc, None, ISSUER, T0)
    assert isinstance(event, DomainEvent) and event.data["units"] == ["450103002-gov", "450103-cgj"]
    doc = then(doc, event)
    assert doc["recipients"][1]["reminded"] == 1 and doc["auto_shares"] == [], "a manual reminder is no share"


def test_superior_units() -> None:
    assert rules.superior_unit("450103001-gov", "450100-zhzx") == "450103-gov"
    assert rules.superior_unit("450103-cgj", "450100-zhzx") == "450100-zhzx"
    assert rules.superior_unit("450100-water", "450100-zhzx") is None


def test_fold_equals_applying_one_by_one() -> None:
    doc = directive()
    ack = rules.acknowledge(doc, "450103-cgj", BY, T0)
    assert isinstance(ack, list)
    issued = rules.issued(title="台风", content="检查排水", attachments=[], recipients=UNITS,
                          recipients_spec={}, due=DUE, reply="ack", issued_by=ISSUER, issuer_area="450100",
                          incident_id=None, now=T0)
    folded = rules.fold_directive("d1", [(issued.type, issued.data), (ack[0].type, ack[0].data)])
    assert folded["recipients"] == then(doc, ack)["recipients"]
