"""Application service for IoT readings: a device's alarm opens a case, joins its open case, or records
its recovery — each reading committed once, whatever the channel (MQTT or the HTTP twin) and however
often it is delivered."""

from __future__ import annotations

import asyncio
import uuid
import weakref
from dataclasses import dataclass
from typing import Literal

import asyncpg

from connectors.iot import AlarmMessage, BadMessage, parse_alarm, submission
from dispatch.case import Case, area_codes
from dispatch.fold import fold_onto
from dispatch.sensors import CANDIDATE_STATES, Ignore, OpenCase, on_reading
from hub.infra.clock import Clock
from hub.infra.metrics import Metrics
from hub.services.intake import IntakeService
from hub.services.iot.devices import DeviceRegistry
from hub.services.quarantine import Quarantine, ReplayFailed
from hub.store.committer import GroupCommitter
from hub.store.events import AppendRequest, VersionConflict
from hub.store.reads import CaseReads


class UnknownDevice(BadMessage):
    """A reading from a device the registry does not know: quarantined until someone registers it."""


@dataclass(frozen=True, slots=True)
class IotOutcome:
    action: Literal["opened", "attached", "recovered", "ignored"]
    case_id: str | None
    duplicate: bool = False  # this device + seq was recorded before: nothing was written again
    detail: str | None = None

    def as_json(self) -> dict[str, object]:
        return {"action": self.action, "case_id": self.case_id, "duplicate": self.duplicate, "detail": self.detail}


class DeviceLocks:
    """One asyncio.Lock per device, made on first use and forgotten once nobody holds or waits on it (a weak
    map: a fleet of a million devices keeps only the locks in use)."""

    def __init__(self) -> None:
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    def __call__(self, device_id: str) -> asyncio.Lock:
        lock = self._locks.get(device_id)
        if lock is None:
            lock = self._locks[device_id] = asyncio.Lock()
        return lock


class IotService:
    def __init__(self, reads: CaseReads, devices: DeviceRegistry, intake: IntakeService,
                 committer: GroupCommitter, clock: Clock, quarantine: Quarantine, *,
                 metrics: Metrics | None = None) -> None:
        self._reads = reads
        self._metrics = metrics or Metrics()
        self._quarantine = quarantine
        self._devices = devices
        self._intake = intake
        self._committer = committer
        self._clock = clock
        # One reading per device at a time in this process, in arrival order, so that a storm cannot open
        # two cases. (Across processes: one hub subscribes, or with a shared subscription hub.services.iot.order
        # serialises each device's readings under a PostgreSQL lock; see hub.services.iot.mqtt.)
        self._lock = DeviceLocks()

    async def take(self, topic: str, payload: bytes) -> IotOutcome | int:
        """One MQTT message: its outcome, or the quarantine id when it cannot be processed. Raises only
        when nothing could be recorded (the store is down): the message is then not acknowledged."""
        try:
            message = parse_alarm(topic, payload)
            outcome = await self.handle(message, actor=f"iot:{message.device_id}")
        except BadMessage as exc:
            held = await self._quarantine.hold("mqtt", str(exc), payload, {"topic": topic})
            self._metrics.mqtt_quarantined.inc()
            return held
        self._metrics.ingested("iot", duplicate=outcome.duplicate)
        return outcome

    async def replay(self, item: asyncpg.Record) -> dict[str, object]:
        """The quarantine's replayer for MQTT messages (after the device was registered, say)."""
        try:
            message = parse_alarm(item["meta"].get("topic"), item["payload"])
            outcome = await self.handle(message, actor=f"iot:{message.device_id}")
        except BadMessage as exc:
            raise ReplayFailed(str(exc)) from None
        return outcome.as_json()

    async def handle(self, message: AlarmMessage, actor: str) -> IotOutcome:
        async with self._lock(message.device_id):  # taken before any await: arrival order is kept
            device = await self._devices.get(message.device_id)
            if device is None:
                raise UnknownDevice(f"device {message.device_id!r} is not registered")
            if device["kind"] != message.kind:
                raise BadMessage(f"kind {message.kind!r} differs from the registered kind {device['kind']!r}")
            for _attempt in range(10):
                outcome = await self._apply(message, device, actor)
                if outcome is not None:
                    return outcome
            raise RuntimeError(f"device {message.device_id}: the case kept changing; will be redelivered")

    async def _apply(self, message: AlarmMessage, device: dict[str, object], actor: str) -> IotOutcome | None:
        """One attempt; None when the case changed meanwhile (a handler acted) and it must be re-read."""
        case = await self._open_case(message.device_id)
        decision = on_reading(case, message.reading())
        key = message.idempotency_key()
        if isinstance(decision, Ignore):
            return IotOutcome("ignored", case["case_id"] if case else None, detail=decision.why)
        if isinstance(decision, OpenCase):
            outcome = await self._intake.submit(submission(message, dict(device)), actor)
            return IotOutcome("opened", str(outcome.case_id), duplicate=outcome.result.duplicate)
        assert case is not None
        now = self._clock.now()
        new_case = fold_onto(case, decision, now)
        try:
            result = await self._committer.append(AppendRequest(
                uuid.UUID(case["case_id"]), case["version"], decision, now,
                metadata={"actor": actor, "source": "iot", "idempotency_key": key,
                          "scope": area_codes(new_case)},
                idempotency_key=key, projection=new_case))
        except VersionConflict:
            return None
        action: Literal["attached", "recovered"] = "attached" if message.state == "alarm" else "recovered"
        return IotOutcome(action, case["case_id"], duplicate=result.duplicate)

    async def _open_case(self, device_id: str) -> Case | None:
        return await self._reads.latest_of_device(device_id, sorted(CANDIDATE_STATES))
