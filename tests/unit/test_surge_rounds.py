"""Early warning records a round's decisions once per alert: every raise, and an alert's last update only, after
its raise — the alert ends exactly as if every update had been recorded (an update replaces the evidence)."""

from __future__ import annotations

from dispatch.warning import Decision, Raise, Update, apply_alert, new_alert
from hub.services.surge import latest_updates


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

    def fold(recorded: list[Decision]) -> dict[str, object]:
        doc = new_alert("a")
        for version, d in enumerate(recorded, start=1):
            doc = apply_alert(doc, "alert.raised" if isinstance(d, Raise) else "alert.updated", d.evidence, version)
        return {k: v for k, v in doc.items() if k != "version"}

    assert fold(latest_updates(decisions)) == fold(decisions)
