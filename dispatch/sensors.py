"""Machine-detected cases (IoT): what a device's reading does to the device's open case.

A storm of alarms from one device is one problem: while the device has an open case every further alarm
only joins it (debounce). A recovery (`clear`) is recorded on the case for the handler to confirm; the
case closes without a citizen callback once the sensor has recovered and the handler has resolved it,
in whichever order the two happen (PRODUCT.md section 2).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

from dispatch.events import Case, DomainEvent, Handler, JsonDict
from dispatch.states import OPEN_STATES

# A device's case stays "open" for new alarms until it is closed (or merged away / rejected): an alarm
# while the case awaits its confirmation means the problem is back, and belongs to the same case.
ATTACHABLE_STATES: Final = OPEN_STATES
# A case merged into another incident (a citizen's call about the same flooding) stays the device's case
# while that incident is open, so that the storm keeps joining it instead of opening a case per alarm.
CANDIDATE_STATES: Final = ATTACHABLE_STATES | {"merged"}
SENSOR_CLOSE_OUTCOME: Final = "sensor_recovered"


@dataclass(frozen=True, slots=True)
class Reading:
    """One message from a device, already validated by its connector."""

    device_id: str
    seq: int
    state: Literal["alarm", "clear"]
    value: float | None
    threshold: float | None
    at: datetime

    def as_json(self) -> JsonDict:
        return {"seq": self.seq, "value": self.value, "threshold": self.threshold, "at": self.at.isoformat()}


@dataclass(frozen=True, slots=True)
class OpenCase:
    """No case to join: the caller opens a new one through the normal intake."""


@dataclass(frozen=True, slots=True)
class Ignore:
    """Nothing to record (a recovery with no open case); `why` is for the log and metrics."""

    why: str


SensorDecision = list[DomainEvent] | OpenCase | Ignore


def on_reading(open_case: Case | None, reading: Reading) -> SensorDecision:
    """What a reading does, given the device's current case (None if it has no attachable one)."""
    if open_case is not None and not attachable(open_case):
        open_case = None
    if reading.state == "alarm":
        if open_case is None:
            return OpenCase()
        return [DomainEvent("case.alarm_repeated", reading.as_json())]
    if open_case is None:
        return Ignore("recovery without an open case")
    if (open_case.get("sensor") or {}).get("state") == "recovered":
        return Ignore("already recovered")
    events = [DomainEvent("case.sensor_recovered", reading.as_json())]
    if open_case["state"] == "resolved":  # the handler already confirmed: nothing left to wait for
        events.append(DomainEvent("case.closed", {"outcome": SENSOR_CLOSE_OUTCOME}))
    return events


@dataclass(frozen=True, slots=True)
class DeviceOrder:
    """Where a device's readings stand: the last one applied (its `seq`, and the latest device time seen)."""

    last_seq: int
    last_at: datetime


def in_order(order: DeviceOrder | None, seq: int, at: datetime, waited: bool) -> DeviceOrder | None:
    """Whether a received reading may be applied now, and the device's order once it is; None = not yet.

    Readings must be applied in the device's order: an alarm then its clear is a recovered case, the clear then the
    alarm an open one. When several hubs share the subscription, reading n+1 can reach one hub before reading n
    reaches the other; so a reading that does not follow the last applied one waits — until the one(s) before it
    are applied, or until it has `waited` the reorder window (the missing one is lost, or the device skipped it).
    The first reading ever seen of a device waits too: nothing says which came before it.
    A reading at or below the last applied one (a redelivery, a resend, one later than the window) is applied at
    once — the store records each device + seq once — and the order stays, unless the device's time is later
    than any seen: then the device restarted its count, and the order goes on from this reading."""
    if order is None:
        return DeviceOrder(seq, at) if waited else None
    if seq > order.last_seq:
        if seq == order.last_seq + 1 or waited:
            return DeviceOrder(seq, max(at, order.last_at))
        return None
    if at > order.last_at:
        return DeviceOrder(seq, at)
    return order


def attachable(case: Case) -> bool:
    """Whether the device's latest case still takes its readings."""
    if case.get("state") == "merged":
        return case.get("parent_state") not in ("closed", "rejected")
    return case.get("state") in ATTACHABLE_STATES


def closes_on_resolve(case: Case) -> bool:
    """A machine-detected case whose sensor has recovered closes when the handler resolves it."""
    return case.get("source") == "iot" and (case.get("sensor") or {}).get("state") == "recovered"


def sensor_at_intake(report: JsonDict) -> JsonDict | None:
    """The sensor block a new IoT case starts with (None for other channels)."""
    if "device_id" not in report:
        return None
    return {"state": "alarm", "since": report.get("at"), "alarms": 1, "first_seq": report.get("seq"),
            "last_seq": report.get("seq"), "last_value": report.get("value"), "last_at": report.get("at")}


def _alarm_repeated(case: Case, data: JsonDict, at: datetime) -> None:
    sensor = dict(case.get("sensor") or {"alarms": 0, "first_seq": data["seq"]})
    if sensor.get("state") != "alarm":
        sensor["since"] = data["at"]  # back in alarm after a recovery
    sensor.update(state="alarm", alarms=sensor.get("alarms", 0) + 1, last_seq=data["seq"],
                  last_value=data.get("value"), last_at=data["at"])
    case["sensor"] = sensor
    case["flags"] = sorted(set(case.get("flags", [])) - {"sensor_recovered"})


def _sensor_recovered(case: Case, data: JsonDict, at: datetime) -> None:
    sensor = dict(case.get("sensor") or {})
    sensor.update(state="recovered", recovered_at=data["at"], last_seq=data["seq"], last_value=data.get("value"))
    case["sensor"] = sensor
    case["flags"] = sorted(set(case.get("flags", [])) | {"sensor_recovered"})


HANDLERS: Final[dict[str, Handler]] = {
    "case.alarm_repeated": _alarm_repeated,
    "case.sensor_recovered": _sensor_recovered,
}
