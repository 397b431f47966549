"""IoT sensors (物联感知): the MQTT alarm payload, the device registration, and what a device kind reports.

Topic `cityloop/iot/{device_id}/alarm`, QoS 1, payload
`{"device_id", "seq", "kind", "state": "alarm|clear", "value", "threshold", "at", "location"?}` (INTERFACES.md).
This module only parses and validates; the hub decides what a reading does (dispatch.sensors).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final, Literal

import orjson
from pydantic import ConfigDict, Field, ValidationError, field_validator

from connectors.hotline import Location
from connectors.submission import Submission
from dispatch.inputs import InputModel, Moment, visible
from dispatch.sensors import Reading
from geo.crs import Crs

DeviceId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][\w\-.:]*$")]

# Where a device publishes, and the filter of every device's topic (what the hub reads).
ALARM_TOPICS: Final = "cityloop/iot/+/alarm"


def alarm_topic(device_id: str) -> str:
    return ALARM_TOPICS.replace("+", device_id)


# What each kind of device watches, as the matrix's channel category and the words of the case text.
DEVICE_KINDS: Final[dict[str, tuple[str, str, str]]] = {
    # kind: (category alias, what it measures, unit)
    "water_level": ("flooding", "积水深度", "m"),
    "manhole_cover": ("manhole_cover", "井盖倾角", "°"),
    "gas": ("gas_leak", "燃气浓度", "%LEL"),
    "noise": ("noise", "噪声", "dB(A)"),
    "drain": ("drain_blocked", "管道液位", "m"),
    "streetlight": ("streetlight", "路灯电流", "A"),
    "tilt": ("fallen_tree", "树木倾角", "°"),
}


class BadMessage(Exception):
    """A message nobody can be answered about: it goes to quarantine with this reason."""


class AlarmMessage(InputModel):
    model_config = ConfigDict(extra="forbid")

    device_id: DeviceId
    seq: int = Field(ge=0, le=2**63 - 1)
    kind: Annotated[str, Field(min_length=1, max_length=32)]
    state: Literal["alarm", "clear"]
    value: float | None = Field(default=None, allow_inf_nan=False)
    threshold: float | None = Field(default=None, allow_inf_nan=False)
    at: Moment
    location: Location | None = None

    def reading(self) -> Reading:
        return Reading(self.device_id, self.seq, self.state, self.value, self.threshold, self.at)

    def idempotency_key(self) -> str:
        """A device numbers its messages: a redelivery or a resend carries the same `seq`."""
        return f"iot:{self.device_id}:{self.seq}"


class DeviceRegistration(InputModel):
    """A device in the registry: where it is (stored in WGS84) and who owns it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    device_id: DeviceId
    kind: Annotated[str, Field(min_length=1, max_length=32)]
    location: Location
    name: Annotated[str, Field(max_length=100)] | None = None
    owner_unit: Annotated[str, Field(max_length=64)] | None = None

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str) -> str:
        if kind not in DEVICE_KINDS:
            raise ValueError(f"unknown device kind {kind!r}; one of {', '.join(sorted(DEVICE_KINDS))}")
        return kind


def parse_alarm(topic: str | None, payload: bytes) -> AlarmMessage:
    """The payload of one message, checked against its topic; BadMessage says what is wrong."""
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise BadMessage(f"payload is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BadMessage("payload must be a JSON object")
    try:
        message = AlarmMessage.model_validate(data)
    except ValidationError as exc:
        # `visible`: a field name is input too, and the reason is stored as text (no NUL).
        problems = "; ".join(f"{visible('.'.join(str(p) for p in e['loc'])) or 'payload'}: {e['msg']}"
                             for e in exc.errors(include_url=False))
        raise BadMessage(f"invalid alarm: {problems}") from None
    if topic is not None:
        parts = topic.split("/")
        if len(parts) != 4 or parts[:2] != ["cityloop", "iot"] or parts[3] != "alarm":
            raise BadMessage(f"unexpected topic {topic!r}")
        if parts[2] != message.device_id:
            raise BadMessage(f"device_id {message.device_id!r} does not match the topic's {parts[2]!r}")
    return message


def submission(message: AlarmMessage, device: dict[str, Any]) -> Submission:
    """The first alarm of a device without an open case: a new machine-detected case at the device's
    registered location (stored in WGS84)."""
    location = device["location"]
    point = (float(location["lng"]), float(location["lat"]), Crs.WGS84)
    return Submission("iot", case_report(message, device), message.idempotency_key(), point)


def case_report(message: AlarmMessage, device: dict[str, Any]) -> dict[str, Any]:
    """The fields a new machine-detected case keeps (the intake's `report`)."""
    category, measure, unit = DEVICE_KINDS.get(device["kind"], (device["kind"], "读数", ""))
    name = device.get("name") or message.device_id
    reading = f"{measure} {message.value:g}{unit}" if message.value is not None else measure + "异常"
    limit = f"（阈值 {message.threshold:g}{unit}）" if message.threshold is not None else ""
    report: dict[str, Any] = {
        "type": "report", "channel": "iot", "category": category, "urgency": "urgent",
        "title": f"{name} 报警", "content": f"设备 {name} 报警：{reading}{limit}",
        "reported_at": message.at.isoformat(), "device_id": message.device_id, "kind": device["kind"],
        "seq": message.seq, "value": message.value, "threshold": message.threshold, "at": message.at.isoformat(),
    }
    if device.get("owner_unit"):
        report["owner_unit"] = device["owner_unit"]
    return report


def alarm_payload(device_id: str, seq: int, kind: str, state: str, value: float | None, threshold: float | None,
                  at: datetime) -> bytes:
    """The payload a device sends (used by the simulator and the tests' devices)."""
    return orjson.dumps({"device_id": device_id, "seq": seq, "kind": kind, "state": state, "value": value,
                         "threshold": threshold, "at": at.isoformat()})
