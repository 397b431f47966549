"""Early warning records a round's decisions once per alert: every raise, and an alert's last update only, after
its raise — the alert ends exactly as if every update had been recorded (an update replaces the evidence). Across
rounds an alert's growth is paced (UpdatePacing): recorded at most once an interval, the latest held update as soon
as the interval has passed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dispatch.warning import Decision, Raise, Update, apply_alert, new_alert
from hub.services.surge import UpdatePacing, latest_updates

T0 = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


def evidence(observed: int) -> dict[str, object]:
    return {"kind": "surge", "observed": observed, "case_ids": [f"c{i}" for i in range(observed)],
            "at": f"2026-12-06T10:00:{observed:02d}+00:00"}


def test_a_round_records_each_raise_and_the_last_update_of_each_alert_after_its_raise() -> None:
    decisions: list[Decision] = [Raise("a", evidence(3)), Update("a", evidence(4)), Update("b", evidence(7)),
                                 Update("a", evidence(5)), Raise("c", evidence(3)), Update("b", evidence(8))]
    assert latest_updates(decisions) == [Raise("a", evidence(3)), Update("a", evidence(5)), Raise("c", evidence(3)),
                                         Update("b", evidence(8))]


def test_the_alert_ends_as_if_every_update_had_been_recorded() -> None:
    decisions: list[Decision] = [Raise("a", evidence(3)), *(Update("a", evidence(n)) for n in range(4, 9))]

    assert fold(latest_updates(decisions)) == fold(decisions)


def fold(recorded: list[Decision]) -> dict[str, object]:
    doc = new_alert("a")
    for version, d in enumerate(recorded, start=1):
        doc = apply_alert(doc, "alert.raised" if isinstance(d, Raise) else "alert.updated", d.evidence, version)
    return {k: v for k, v in doc.items() if k != "version"}


def test_a_raise_is_recorded_at_once_and_growth_within_the_interval_is_held_until_it_has_passed() -> None:
    pacing = UpdatePacing(timedelta(seconds=5))
    assert pacing.admit([Raise("a", evidence(3))], T0) == [Raise("a", evidence(3))]
    assert pacing.admit([Update("a", evidence(4))], T0 + timedelta(seconds=1)) == []
    assert pacing.admit([Update("a", evidence(6))], T0 + timedelta(seconds=2)) == []
    assert pacing.due(T0 + timedelta(seconds=4.9)) == []
    assert pacing.due(T0 + timedelta(seconds=5)) == [Update("a", evidence(6))], "the latest held update only"
    assert pacing.due(T0 + timedelta(seconds=20)) == [], "recorded once"


def test_growth_after_the_interval_is_recorded_at_once_and_each_alert_is_paced_on_its_own() -> None:
    pacing = UpdatePacing(timedelta(seconds=5))
    pacing.admit([Raise("a", evidence(3)), Raise("b", evidence(3))], T0)
    round_two: list[Decision] = [Update("a", evidence(4)), Raise("c", evidence(3))]
    assert pacing.admit(round_two, T0 + timedelta(seconds=6)) == round_two
    assert pacing.admit([Update("b", evidence(5)), Update("a", evidence(5))], T0 + timedelta(seconds=7)) == \
        [Update("b", evidence(5))]
    assert pacing.due(T0 + timedelta(seconds=11)) == [Update("a", evidence(5))]


def test_an_update_of_an_alert_the_pacing_never_saw_raised_is_recorded_at_once() -> None:
    """After a restart the open alerts were raised by another process: their first growth is not held."""
    pacing = UpdatePacing(timedelta(seconds=5))
    assert pacing.admit([Update("a", evidence(9))], T0) == [Update("a", evidence(9))]


def test_paced_the_alert_ends_as_if_every_update_had_been_recorded_and_nothing_is_kept_after() -> None:
    pacing = UpdatePacing(timedelta(seconds=5))
    decisions: list[Decision] = [Raise("a", evidence(3)), *(Update("a", evidence(n)) for n in range(4, 30))]
    recorded: list[Decision] = []
    for second, decision in enumerate(decisions):
        now = T0 + timedelta(seconds=second / 2)
        recorded += pacing.due(now) + pacing.admit([decision], now)
    recorded += pacing.due(T0 + timedelta(minutes=1))
    assert len(recorded) < len(decisions) / 3
    assert fold(recorded) == fold(decisions)
    assert pacing.due(T0 + timedelta(minutes=2)) == [] and len(pacing) == 0
